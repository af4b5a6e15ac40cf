"""Open a painting: a path box and a file browser that shows folders and images only."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label

from critic.core.images import IMAGE_SUFFIXES


class ImageTree(DirectoryTree):
    """A directory tree listing sub-folders and the image files critic reads."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".")
                and (p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES)]


class OpenPaintingScreen(ModalScreen[Path | None]):
    """Ask for a painting; dismissed with its path, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, start: Path | None = None) -> None:
        super().__init__()
        start = (start or Path.cwd()).expanduser()
        self.folder = start if start.is_dir() else start.parent

    def compose(self) -> ComposeResult:
        with Vertical(id="open-dialog"):
            yield Label("Open a painting: type a path and press Enter, or pick a file below", id="open-title")
            yield Input(value=str(self.folder) + "/", placeholder="path to an image or a folder", id="open-path")
            yield ImageTree(self.folder, id="open-tree")

    def on_mount(self) -> None:
        self.query_one("#open-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = Path(event.value.strip()).expanduser()
        if path.is_dir():
            self.query_one(ImageTree).path = path
            return
        self.dismiss(path)

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(event.path)

    def action_cancel(self) -> None:
        self.dismiss(None)
