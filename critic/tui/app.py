"""The `critic chat` app: the painting beside a conversation about it.

Threads: the model loads and answers in worker threads, one at a time under
`engine_lock`, so the interface never waits on llama.cpp. An answer streams to the
interface piece by piece through `call_from_thread`; Escape cancels the worker, which closes
the engine's generator at the next piece, and the engine keeps the partial answer. Quitting
cancels the same way and waits for the lock before closing the model, so llama.cpp is never
freed under a running generation.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from critic.core.errors import BadImage, BadRegion, CriticError
from critic.core.images import load_image
from critic.core.names import safe_name
from critic.core.perspectives import BRIEF_SUFFIX, DEFAULT_QUESTION, PERSPECTIVES, perspective
from critic.core.regions import Region, cut_detail, load_whole, region_of_record
from critic.core.store import write_atomic
from critic.engine.base import Settings, TurnRecord
from critic.facts.detail import compare_to_whole
from critic.history import History, SavedConversation
from critic.tui.conversation import Conversation, Painting
from critic.tui.dialogs import PerspectiveScreen, RegenerateScreen, SaveScreen
from critic.tui.messages import AnswerItem, QuestionItem
from critic.tui.open_screen import OpenPaintingScreen
from critic.tui.painting import PaintingPane
from critic.tui.status import StatusBar
from critic.tui.threads import to_ui
from critic.tui.transcript import mark_flags, sampled_note

EngineFactory = Callable[[], Any]
"""Loads the model; returns an engine (`critic.engine.base.Engine`) or raises a CriticError."""

MeasureFunction = Callable[[Any], Any]

ASK_PAINTING = "Ask about the painting (F2 analysis · F3 perspective · F5 detail · ctrl+p commands)"
ASK_DETAIL = "Ask about this detail (F2 analysis · F5 a smaller one · ctrl+b the whole painting)"

SAMPLE_TEMPERATURE = 0.8
"""The temperature ctrl+r offers when the chat is greedy (temperature 0), where asking again would write the
same answer: llama.cpp's own default for sampling."""


def default_measure(image):
    """The painting's measured facts (palette, values) for the pane and the claim checker."""
    from critic.facts.measure import measure

    return measure(image)


class ChatApp(App[int]):
    """Talk with the model about one painting at a time."""

    CSS_PATH = "critic.tcss"
    TITLE = "critic chat"
    BINDINGS = [
        Binding("escape", "stop", "Stop"),
        Binding("f2", "ask_overall", "Analysis"),
        Binding("f3", "perspectives", "Perspective"),
        Binding("f4", "toggle_brief", "Brief"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+o", "open", "Open"),
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("ctrl+y", "copy_answer", "Copy"),
        Binding("ctrl+s", "save", "Save"),
        Binding("f5", "select_detail", "Zoom"),
        Binding("ctrl+b", "back", "Back"),
    ]

    answering: reactive[bool] = reactive(False)
    brief: reactive[bool] = reactive(False)

    def __init__(self, engine_factory: EngineFactory, image: str | Path | None = None, *,
                 settings: Settings | None = None, history: History | None = None, resume: int | None = None,
                 image_widget: type[Widget] | None = None, measure: MeasureFunction | None = default_measure) -> None:
        super().__init__()
        self.engine_factory = engine_factory
        self.initial_image = Path(image) if image else None
        self.settings = settings or Settings()
        self.history = history
        self.resume_id = resume
        self.image_widget = image_widget
        self.measure = measure
        self.engine = None
        self.engine_error: str | None = None
        self.engine_lock = threading.Lock()
        self.conversation: Conversation | None = None
        self.whole: Conversation | None = None
        """While a detail is open: the conversation about the whole painting, kept to go back to (ctrl+b)."""
        self.shown: list[tuple[str, str]] = []  # every notification of this run, oldest first
        self._retired: list[Conversation] = []  # to close under the lock, in the next answer
        self._quitting = False

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield PaintingPane(self.image_widget, id="painting")
            with Vertical(id="conversation"):
                yield VerticalScroll(Static("", id="chat-notice", markup=False), id="chat")
                yield Input(placeholder=ASK_PAINTING, id="question")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#question", Input).focus()
        self.status.state = "loading model…"
        self._load_engine()
        if self.resume_id is not None:
            self._resume(self.resume_id)
        elif self.initial_image is not None:
            self._load_painting(self.initial_image)
        else:
            self.action_open()

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def chat(self) -> VerticalScroll:
        return self.query_one("#chat", VerticalScroll)

    def watch_answering(self, answering: bool) -> None:
        if self.is_mounted:
            self.status.state = "answering… (Escape stops)" if answering else ""

    def watch_brief(self, brief: bool) -> None:
        if self.is_mounted:
            self.status.brief = brief

    def notify(self, message: str, **kwargs) -> None:
        """Show a notification, and keep it in `shown` as (severity, message)."""
        self.shown.append((kwargs.get("severity", "information"), message))
        super().notify(message, **kwargs)

    def notify_error(self, message: str) -> None:
        """Show an error as a notification."""
        self.notify(message, severity="error", timeout=12)

    def _set_notice(self, text: str) -> None:
        notice = self.query_one("#chat-notice", Static)
        notice.update(text)
        notice.display = bool(text)

    _to_ui = to_ui

    # -- the model ------------------------------------------------------------------------------

    @work(thread=True, group="load")
    def _load_engine(self) -> None:
        with self.engine_lock:
            try:
                engine = self.engine_factory()
            except CriticError as err:
                self._to_ui(self._engine_failed, str(err))
                return
            if self._quitting:
                engine.close()
                return
            self.engine = engine
        self._to_ui(self._engine_ready)

    def _engine_ready(self) -> None:
        info = self.engine.info
        self.status.model, self.status.quantization = info.name, info.quantization
        self.status.state = "answering… (Escape stops)" if self.answering else ""

    def _engine_failed(self, message: str) -> None:
        self.engine_error = message
        self.status.state = ""
        self._set_notice(message)
        self.notify_error(message)

    # -- paintings and conversations --------------------------------------------------------------

    @work(thread=True, exclusive=True, group="painting")
    def _load_painting(self, path: Path, saved: SavedConversation | None = None) -> None:
        try:
            image = load_image(path)
        except BadImage as err:
            self._to_ui(self._painting_failed, str(err), saved)
            return
        facts = self.measure(image.image) if self.measure else None
        self._to_ui(self._painting_ready, Painting(image, facts), saved)

    async def _painting_failed(self, message: str, saved: SavedConversation | None) -> None:
        self.notify_error(message)
        if saved is not None:
            # The turns are still worth reading, and asking again needs the painting.
            await self._start_conversation(None, saved)
            self._set_notice(f"{message}\nThe conversation is shown without its painting: ctrl+o, then the "
                             "painting where it is now, brings it back (checked by its sha256).")
        elif self.conversation is None:
            self.action_open()

    async def _painting_ready(self, painting: Painting, saved: SavedConversation | None) -> None:
        if saved is not None and saved.region:
            await self._resume_detail(painting, saved)
            return
        orphan = self.conversation.saved if self.conversation and self.conversation.painting is None else None
        if saved is None and orphan is not None and painting.image.sha256 == orphan.image_sha256:
            saved = orphan  # the painting of a resumed conversation, found where it was moved: re-attach
            if self.history is not None:
                self.history.move_image(saved.id, painting.image.path.resolve())
            saved.image_path = str(painting.image.path.resolve())
            self.notify(f"the conversation continues with {safe_name(painting.image.path)}", timeout=6)
        elif saved is None and orphan is not None:
            self.notify(f"{safe_name(painting.image.path.name)} is not this conversation's painting (its sha256 differs): "
                        "a new conversation starts about it", severity="warning", timeout=12)
        elif saved is not None and painting.image.sha256 != saved.image_sha256:
            self.notify(f"{safe_name(painting.image.path.name)} has changed since this conversation; the earlier answers "
                        "were about the old file", severity="warning", timeout=12)
        await self._start_conversation(painting, saved)

    async def _start_conversation(self, painting: Painting | None, saved: SavedConversation | None = None) -> None:
        """Show `painting` with a fresh conversation (or the saved one), stopping any answer."""
        self.action_stop()
        self._retired += [c for c in (self.conversation, self.whole) if c is not None]
        self.whole = None
        self.conversation = Conversation(painting, self.settings, self.history, saved)
        await self._show_conversation()

    async def _show_conversation(self) -> None:
        """Show the current conversation: its painting (or detail) and its turns."""
        conversation = self.conversation
        painting = conversation.painting
        self.query_one(PaintingPane).show(painting)
        chat = self.chat
        await chat.query("QuestionItem, AnswerItem").remove()
        self._set_notice(self.engine_error or "")
        model = conversation.model.name if conversation.model else conversation.saved.model if conversation.saved \
            else ""
        for turn in conversation.turns:
            marked, notes = self._marked(turn)
            await chat.mount(QuestionItem(turn.question), AnswerItem(model, marked, turn.partial, notes, record=turn))
        chat.scroll_end(animate=False)
        self.status.tokens_per_second = None
        self.status.context_used, self.status.context_size = conversation.context
        name = safe_name(painting.image.path.name) if painting else ""
        self.sub_title = f"{name}, {painting.detail.label}" if painting and painting.detail else name
        self.query_one("#question", Input).placeholder = ASK_DETAIL if painting and painting.detail else ASK_PAINTING
        self.refresh_bindings()

    # -- details ----------------------------------------------------------------------------------------

    def action_select_detail(self) -> None:
        """Choose a detail of the painting to ask about (keys or mouse on the picture)."""
        if self.conversation is None or self.conversation.painting is None:
            self.notify_error("no painting is open: ctrl+o opens one")
            return
        self.query_one(PaintingPane).start_selection()

    def on_painting_pane_selection_ended(self, message: PaintingPane.SelectionEnded) -> None:
        self.query_one("#question", Input).focus()

    def on_painting_pane_detail_chosen(self, message: PaintingPane.DetailChosen) -> None:
        self.query_one("#question", Input).focus()
        painting = self.conversation.painting if self.conversation else None
        if painting is None:
            return
        region = message.selection.region
        if painting.detail is not None and self.whole is not None:
            # a detail chosen within a detail is a detail of the painting, opened from the whole's conversation
            x, y, w, h = painting.detail.box.fractions
            region = Region(x + region.x * w, y + region.y * h, region.w * w, region.h * h)
            painting = self.whole.painting
        self._load_detail(painting, region)

    @work(thread=True, exclusive=True, group="painting")
    def _load_detail(self, whole: Painting, region: Region, saved: SavedConversation | None = None) -> None:
        """Cut `region` from the painting's file at full resolution and measure it."""
        try:
            full = load_whole(whole.image.path)
            if full.sha256 != whole.image.sha256:
                raise BadImage(f"{safe_name(whole.image.path)} has changed since it was opened: ctrl+o opens it again")
            detail = cut_detail(full, region)
        except (BadImage, BadRegion) as err:
            self._to_ui(self.notify_error, str(err))
            return
        del full  # the crop keeps only its own pixels
        facts = self.measure(detail.image.image) if self.measure else None
        compared = compare_to_whole(facts, whole.facts, brief=True) if facts is not None and whole.facts else ""
        self._to_ui(self._detail_ready, whole, Painting(detail.image, facts, detail, compared), saved)

    async def _detail_ready(self, whole: Painting, painting: Painting, saved: SavedConversation | None) -> None:
        """Open the detail as its own conversation, the whole painting's kept to go back to."""
        current = self.conversation
        if current is None or whole not in (current.painting, self.whole.painting if self.whole else None):
            return  # another painting was opened meanwhile
        self.action_stop()
        if self.whole is None:
            self.whole = current
        else:
            self._retired.append(current)  # one detail left for another
        if saved is not None and saved.region.get("sha256") != painting.image.sha256:
            self.notify(f"{safe_name(painting.image.path.name)} has changed since this conversation about its detail; "
                        "the earlier answers were about the old file", severity="warning", timeout=12)
        self.conversation = Conversation(painting, self.settings, self.history, saved, parent=self.whole)
        await self._show_conversation()

    async def _resume_detail(self, painting: Painting, saved: SavedConversation) -> None:
        """Reopen a saved conversation about a detail: the painting's conversation it came from first (or a new
        one), then the detail over it."""
        parent = None
        if saved.parent_id is not None and self.history is not None:
            try:
                parent = self.history.get(saved.parent_id)
            except (CriticError, sqlite3.Error):
                parent = None
        await self._start_conversation(painting, parent)
        try:
            region = region_of_record(saved.region, painting.image.original_size)
        except ValueError as err:
            self.notify_error(f"conversation {saved.id}: its detail cannot be cut ({err}); this is the whole painting")
            return
        self._load_detail(painting, region, saved)

    async def action_back(self) -> None:
        """Leave the detail for the conversation about the whole painting."""
        if self.whole is None:
            self.notify("this is the whole painting: F5 chooses a detail", severity="warning", timeout=4)
            return
        self.action_stop()
        self._retired.append(self.conversation)
        self.conversation, self.whole = self.whole, None
        await self._show_conversation()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return self.whole is not None  # shown in the footer only in a detail
        return True

    def _resume(self, conversation_id: int) -> None:
        try:
            if self.history is None:
                raise CriticError("this chat keeps no history to resume from")
            saved = self.history.get(conversation_id)
        except (CriticError, sqlite3.Error) as err:
            self.notify_error(str(err))
            self.action_open()
            return
        self._load_painting(Path(saved.image_path), saved)

    # -- asking ------------------------------------------------------------------------------------

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "question":
            return
        question = event.value.strip()
        if question and await self.ask(question):
            event.input.clear()

    def _marked(self, turn: TurnRecord) -> tuple[str, list[str]]:
        """A turn's answer with its contradicted sentences marked, and the notes under it."""
        marked, notes = mark_flags(turn.answer, self.conversation.flags(turn.answer))
        note = sampled_note(turn, self.conversation.settings.to_dict())
        return marked, notes + [note] if note and turn.temperature is not None else notes

    async def ask(self, question: str, regenerate: bool = False, settings: Settings | None = None) -> bool:
        """Send `question` about the open painting; False (with a notification) when it cannot be asked now.

        `settings` answer this question only (a regenerated answer sampled in a greedy chat)."""
        conversation = self.conversation
        if conversation is None or conversation.painting is None:
            self.notify_error("no painting is open: ctrl+o opens one")
            return False
        if self.engine is None:
            self.notify_error(self.engine_error or "the model is still loading: ask again in a moment")
            return False
        if self.answering:
            self.notify("still answering: Escape stops it", severity="warning")
            return False
        if self.brief and not regenerate and not question.endswith(BRIEF_SUFFIX):
            question += BRIEF_SUFFIX
        self.answering = True
        chat = self.chat
        if regenerate:
            # The last turn's answer goes, with any failed question asked after it.
            children = list(chat.children)
            last = next((i for i, w in enumerate(children)
                         if isinstance(w, AnswerItem) and w.record is conversation.turns[-1]), len(children))
            await chat.remove_children(children[last:])
        else:
            await chat.mount(QuestionItem(question))
        item = AnswerItem(self.engine.info.name)
        await chat.mount(item)
        chat.scroll_end(animate=False)
        self._answer(conversation, question, item, regenerate, settings)
        return True

    @work(thread=True, exclusive=True, group="answer")
    def _answer(self, conversation: Conversation, question: str, item: AnswerItem, regenerate: bool,
                settings: Settings | None = None) -> None:
        worker = get_current_worker()
        with self.engine_lock:
            if worker.is_cancelled or self.engine is None:
                self._to_ui(self._answer_ended, conversation, item, None, "stopped before it began")
                return
            while self._retired:
                self._retired.pop().close()
            try:
                pieces = conversation.stream(self.engine, question, regenerate, settings,
                                             lambda *step: self._to_ui(item.reading, *step))
                try:
                    for piece in pieces:
                        if worker.is_cancelled or not self._to_ui(item.write, piece):
                            break
                finally:
                    pieces.close()
            except CriticError as err:
                self._to_ui(self._answer_ended, conversation, item, None, str(err))
                return
            record = conversation.turns[-1]
        self._to_ui(self._answer_ended, conversation, item, record, None)

    async def _answer_ended(self, conversation: Conversation, item: AnswerItem, record: TurnRecord | None,
                            error: str | None) -> None:
        # `answering` turns False only once the answer and the status bar show the result
        try:
            if error:
                self.notify_error(error)
            if record is not None and conversation is self.conversation:
                self.status.tokens_per_second = record.timings.tokens_per_second
                self.status.context_used, self.status.context_size = conversation.context
                for notice in conversation.notices:
                    self.notify(notice, severity="warning", timeout=12)
            if item.is_attached:
                if record is None:
                    await item.finish("", error=error)
                else:
                    marked, notes = self._marked(record)
                    await item.finish(marked, record.partial, notes, record=record)
                self.chat.scroll_end(animate=False)
        finally:
            self.answering = False

    # -- actions ---------------------------------------------------------------------------------

    async def action_ask_overall(self) -> None:
        """Ask for the overall formal analysis."""
        await self.ask(DEFAULT_QUESTION)

    async def action_ask_perspective(self, key: str) -> None:
        """Ask about one perspective."""
        await self.ask(perspective(key).question)

    def action_perspectives(self) -> None:
        """Pick a perspective to ask about."""
        async def picked(key: str | None) -> None:
            if key:
                await self.action_ask_perspective(key)
        self.push_screen(PerspectiveScreen(), picked)

    def action_toggle_brief(self) -> None:
        """Ask for brief answers (or full ones again)."""
        self.brief = not self.brief
        self.notify("brief answers: on" if self.brief else "brief answers: off", timeout=3)

    async def action_regenerate(self) -> None:
        """Ask the last question again, in place of its answer.

        At temperature 0 that writes the same answer again, so the user is told and offered a
        sampled one instead (at SAMPLE_TEMPERATURE, for this answer only, recorded with it)."""
        conversation = self.conversation
        if conversation is None or not conversation.turns:
            self.notify("nothing to regenerate yet", severity="warning")
            return
        question = conversation.turns[-1].question
        if self.settings.temperature > 0:
            await self.ask(question, regenerate=True)
            return

        async def chosen(choice: str | None) -> None:
            if choice == "sample":
                await self.ask(question, regenerate=True,
                               settings=replace(self.settings, temperature=SAMPLE_TEMPERATURE, seed=None))
            elif choice == "again":
                await self.ask(question, regenerate=True)

        self.push_screen(RegenerateScreen(SAMPLE_TEMPERATURE), chosen)

    def action_stop(self) -> None:
        """Stop the answer being written; what was written is kept and marked."""
        if self.answering:
            self.workers.cancel_group(self, "answer")

    def action_open(self) -> None:
        """Open another painting (path box or file browser)."""
        current = self.conversation.painting.image.path if self.conversation and self.conversation.painting else None

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._load_painting(path)

        self.push_screen(OpenPaintingScreen(current.parent if current else None), chosen)

    async def action_new_conversation(self) -> None:
        """Start again about the same painting (or the same detail of it)."""
        painting = self.conversation.painting if self.conversation else None
        if painting is None:
            self.notify_error("no painting is open: ctrl+o opens one")
            return
        if painting.detail is not None and self.whole is not None:
            self.action_stop()
            self._retired.append(self.conversation)
            self.conversation = Conversation(painting, self.settings, self.history, parent=self.whole)
            await self._show_conversation()
            return
        await self._start_conversation(painting)

    def last_answer(self) -> TurnRecord | None:
        """The last finished or stopped turn, if any."""
        return self.conversation.turns[-1] if self.conversation and self.conversation.turns else None

    def action_copy_answer(self) -> None:
        """Copy the last answer to the clipboard (OSC 52)."""
        last = self.last_answer()
        if last is None:
            self.notify("no answer to copy yet", severity="warning")
            return
        self.copy_to_clipboard(last.answer)
        self.notify("copied the last answer (OSC 52)", timeout=3)

    def action_save(self, suffix: str = ".md") -> None:
        """Save the conversation as Markdown, or as an illustrated HTML page when the name ends in .html."""
        conversation = self.conversation
        if conversation is None or not conversation.turns:
            self.notify("nothing to save yet", severity="warning")
            return
        stem = conversation.painting.image.path.stem if conversation.painting else "conversation"
        default = Path.cwd() / f"{stem}-chat-{conversation.id or 'new'}{suffix}"

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            try:
                if path.suffix.lower() in (".html", ".htm"):
                    from critic.report.chat import conversation_html

                    write_atomic(path, conversation_html(conversation))
                else:
                    write_atomic(path, conversation.markdown())
            except OSError as err:
                self.notify_error(f"{path}: could not save ({err.strerror or err})")
                return
            self.notify(f"saved to {path}", timeout=5)

        self.push_screen(SaveScreen(default), chosen)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Ask: overall formal analysis", DEFAULT_QUESTION, self.action_ask_overall)
        for p in PERSPECTIVES:
            yield SystemCommand(f"Ask: {p.name}", p.focus, lambda key=p.key: self.action_ask_perspective(key))
        yield SystemCommand("Brief answers on/off", "Ask for only the essential points", self.action_toggle_brief)
        yield SystemCommand("Regenerate the last answer", "Ask the last question again", self.action_regenerate)
        yield SystemCommand("Stop generation", "Keep what was written, marked as partial", self.action_stop)
        yield SystemCommand("Open another painting", "Path or file browser", self.action_open)
        yield SystemCommand("New conversation", "Start again about this painting", self.action_new_conversation)
        yield SystemCommand("Ask about a detail", "Choose a rectangle of the painting (arrows, shift+arrows, or "
                            "the mouse); it opens as its own conversation", self.action_select_detail)
        if self.whole is not None:
            yield SystemCommand("Back to the whole painting", "Leave the detail for the painting's conversation",
                                self.action_back)
        yield SystemCommand("Copy the last answer", "To the clipboard, through the terminal (OSC 52)",
                            self.action_copy_answer)
        yield SystemCommand("Save the conversation as Markdown", "Painting, model, settings and every turn",
                            self.action_save)
        yield SystemCommand("Save the conversation as an HTML page", "The painting, its measured facts and every "
                            "turn, in one file that needs nothing else", lambda: self.action_save(".html"))

    # -- leaving -----------------------------------------------------------------------------------

    def action_quit(self) -> None:
        """Stop any answer and exit (the model is released on unmount, once the answer has let go)."""
        self._quitting = True
        self.workers.cancel_group(self, "answer")
        self.exit(0)

    async def release_engine(self) -> None:
        """Cancel the answer, wait for the engine to be free, and close the model."""
        self._quitting = True
        self.workers.cancel_group(self, "answer")
        # The generation thread lets go of the lock at its next piece; wait without blocking the loop.
        await asyncio.to_thread(self.engine_lock.acquire)
        try:
            for conversation in [*self._retired, self.conversation, self.whole]:
                if conversation is not None:
                    conversation.close()
            self._retired.clear()
            if self.engine is not None:
                self.engine.close()
                self.engine = None
        finally:
            self.engine_lock.release()

    async def on_unmount(self) -> None:
        await self.release_engine()
        self.log("released the model")
