"""Items of the chat log: a question, and an answer that streams in as Markdown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from critic.engine.base import TurnRecord
from critic.tui.transcript import PARTIAL_NOTE, printable


class QuestionItem(Static):
    """What was asked."""

    def __init__(self, question: str, **kwargs) -> None:
        super().__init__(printable(question), markup=False, **kwargs)
        self.question = question
        self.border_title = "you"


class AnswerItem(Vertical):
    """One answer: streamed while it is written, then replaced by the final text and its notes.

    Give `text` to show an answer that is already finished (a resumed conversation).
    """

    def __init__(self, title: str = "critic", text: str | None = None, partial: bool = False,
                 notes: list[str] | None = None, record: TurnRecord | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = title
        self.record = record  # the turn this item shows, once there is one
        self.finished = text is not None
        self.text = printable(text or "")
        self.partial = partial
        self._notes = notes or []
        self._stream: MarkdownStream | None = None
        self._reading_since: float | None = None

    def compose(self) -> ComposeResult:
        yield Markdown(self._shown(self.text) if self.finished else "", classes="answer-text")
        yield Static("", classes="answer-note", markup=False)

    def on_mount(self) -> None:
        self._show_notes(None)
        self.set_class(not self.finished, "-streaming")

    @property
    def markdown(self) -> Markdown:
        return self.query_one(Markdown)

    @staticmethod
    def _shown(text: str, error: str | None = None) -> str:
        return text if text.strip() or error else "*(no text)*"

    def _show_notes(self, error: str | None) -> None:
        self.set_class(self.partial, "-partial")
        self.set_class(error is not None, "-error")
        lines = ([error] if error else []) + ([f"■ {PARTIAL_NOTE}"] if self.partial else []) + self._notes
        note = self.query_one(".answer-note", Static)
        note.update("\n".join(lines))
        note.display = bool(lines)

    def reading(self, part: str, done: int, total: int) -> None:
        """Before the first word: which part of reading the prompt runs, how far and for how long."""
        if self.finished or not self.is_attached or self.text:
            return
        import time

        from critic.core.progress import reading_line

        self._reading_since = self._reading_since or time.perf_counter()
        note = self.query_one(".answer-note", Static)
        note.update("⋯ " + reading_line(part, done, total, time.perf_counter() - self._reading_since))
        note.display = True

    async def write(self, piece: str) -> None:
        """Append a piece of the answer as it arrives."""
        if self.finished or not self.is_attached:
            return
        if self._stream is None:
            self._show_notes(None)  # the reading line goes when the answer starts
            self._stream = Markdown.get_stream(self.markdown)
        piece = printable(piece)
        self.text += piece
        await self._stream.write(piece)
        if self.parent is not None:
            self.parent.scroll_end(animate=False)

    async def finish(self, text: str, partial: bool = False, notes: list[str] | None = None,
                     error: str | None = None, record: TurnRecord | None = None) -> None:
        """Show the final text (as recorded by the engine), marked when it was stopped early."""
        self.record = record
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.finished, self.partial, self.text, self._notes = True, partial, printable(text), notes or []
        self.remove_class("-streaming")
        await self.markdown.update(self._shown(self.text, error))
        self._show_notes(error)
