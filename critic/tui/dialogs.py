"""Small modal questions: where to save the conversation, which perspective to ask about."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from critic.core.perspectives import PERSPECTIVES


class SaveScreen(ModalScreen[Path | None]):
    """Ask where to write the Markdown file; dismissed with the path, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: Path) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="save-dialog", classes="dialog"):
            yield Label("Save the conversation to (.md: Markdown, .html: a page with the painting):")
            yield Input(value=str(self.default), id="save-path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        self.dismiss(Path(value).expanduser() if value else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PerspectiveScreen(ModalScreen[str | None]):
    """Pick one of critic's perspectives, by number or with the arrows; dismissed with its key."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")] + [
        Binding(str(n), f"pick({n - 1})", show=False) for n in range(1, len(PERSPECTIVES) + 1)
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="perspective-dialog", classes="dialog"):
            yield Label("Ask about one perspective (1–9, or Enter):")
            yield OptionList(*[Option(f"{n}  {p.name}", id=p.key) for n, p in enumerate(PERSPECTIVES, 1)],
                             id="perspectives")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_pick(self, index: int) -> None:
        self.dismiss(PERSPECTIVES[index].key)

    def action_cancel(self) -> None:
        self.dismiss(None)
