"""Small modal questions: where to save the conversation, which perspective to ask about, how to regenerate."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from critic.core.perspectives import PERSPECTIVES

DIALOG_CSS = """
.dialog > Label {
    width: 100%;
}
"""
"""A dialog's question wraps inside the dialog rather than running past its edge."""


class SaveScreen(ModalScreen[Path | None]):
    """Ask where to write the Markdown file; dismissed with the path, or None."""

    DEFAULT_CSS = DIALOG_CSS
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

    DEFAULT_CSS = DIALOG_CSS
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


class RegenerateScreen(ModalScreen[str | None]):
    """At temperature 0 asking again writes the same answer: say so, and offer to sample one.

    Dismissed with "sample" (a new answer drawn at `temperature`), "again" (greedy again: the
    same answer, which finishes one that was stopped), or None.
    """

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("s", "pick('sample')", show=False),
                Binding("a", "pick('again')", show=False)]

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self.temperature = temperature

    def compose(self) -> ComposeResult:
        with Vertical(id="regenerate-dialog", classes="dialog"):
            yield Label("At temperature 0 the model takes its likeliest word every time, so asking again writes "
                        "the same answer.", id="regenerate-why")
            yield OptionList(
                Option(f"s  Sample a new answer at temperature {self.temperature:g} (recorded with the answer)",
                       id="sample"),
                Option("a  Ask again at temperature 0 (the same answer; one that was stopped is written out)",
                       id="again"),
                id="regenerate-choice",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_pick(self, choice: str) -> None:
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)
