"""One conversation about one painting: the engine session, the turns, where they are saved.

No Textual here. The app drives a `Conversation` from its generation thread (always under
its engine lock) and reads it from the interface thread. The session is opened lazily on
the first question, so the painting is encoded once per conversation, when it is first
needed; a resumed conversation hands its saved turns to the session, which evaluates
them after the painting on that first question.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterator

from critic.core.images import LoadedImage
from critic.core.regions import Detail
from critic.engine.base import Settings, TurnRecord
from critic.facts.check import Flag, check_analysis
from critic.facts.measure import Facts
from critic.history import History, Provenance, SavedConversation, SavedTurn
from critic.tui.transcript import to_markdown


@dataclass
class Painting:
    """A painting open in the chat: the decoded image and what was measured on it; or a detail of one, whose
    image is the crop (its own sha256), its facts the crop's, `compared` those set against the whole's."""

    image: LoadedImage
    facts: Facts | None = None
    detail: Detail | None = None
    compared: str = ""


class Conversation:
    """The turns about one painting, the session that answers them, and their saved copy."""

    def __init__(self, painting: Painting | None, settings: Settings, history: History | None = None,
                 saved: SavedConversation | None = None, parent: "Conversation | None" = None) -> None:
        self.painting = painting
        self.parent = parent
        """For a detail: the conversation about the whole painting it was opened from."""
        self.settings = settings
        self.history = history
        self.id: int | None = saved.id if saved else None
        earlier = saved.turns if saved else []
        self.turns: list[TurnRecord] = [TurnRecord(t.question, t.answer, t.partial, seed=t.seed,
                                                   temperature=t.temperature) for t in earlier]
        self.saved = saved
        self.session = None
        self.model = None  # ModelInfo of the engine that answered here
        self.notices: list[str] = []  # what the last answer's session asked to tell the user

    @property
    def image_encodes(self) -> int:
        """How many times the vision encoder ran in this conversation."""
        return self.session.image_encodes if self.session is not None else 0

    @property
    def context(self) -> tuple[int, int]:
        """(used, size) of the model's context, (0, 0) before the first question."""
        if self.session is None:
            return 0, 0
        return self.session.context_used, self.session.context_size

    def _open(self, engine) -> None:
        if self.session is None:
            self.session = engine.open_session(self.painting.image if self.painting else None)
            self.model = engine.info
            if self.turns:
                self.session.restore(self.turns)

    def stream(self, engine, question: str, regenerate: bool = False,
               settings: Settings | None = None, on_progress=None) -> Iterator[str]:
        """Answer `question` piece by piece; closing the iterator stops and keeps the partial answer.

        With `regenerate`, the last turn is forgotten first and its answer replaced. `settings`
        other than the conversation's (a regenerated answer sampled where the conversation is
        greedy) answer this question only, and the turn records their temperature. `on_progress`
        hears which part of reading the prompt runs, until the first piece (critic.engine.llama).
        """
        settings = settings or self.settings
        self._open(engine)
        session = self.session
        if regenerate and self.turns:
            session.rewind()
            self.turns.pop()
        seen_notices, seen_turns = len(session.notices), len(session.turns)
        if hasattr(session, "on_progress"):  # llama.cpp's sessions say how far reading the prompt is
            session.on_progress = on_progress
        pieces = session.ask(question, settings)
        try:
            yield from pieces
        finally:
            pieces.close()
            if hasattr(session, "on_progress"):
                session.on_progress = None
            self.notices = list(session.notices[seen_notices:])
            if len(session.turns) > seen_turns:
                record = session.turns[-1]
                if settings.temperature != self.settings.temperature:
                    record.temperature = settings.temperature
                self.turns.append(record)
                self._save(record, replace_last=regenerate)

    def _save(self, record: TurnRecord, replace_last: bool) -> None:
        if self.history is None or self.painting is None:
            return
        try:
            if self.id is None:
                info, detail = self.model, self.painting.detail
                self.id = self.history.create(self.painting.image.path.resolve(), self.painting_sha256,
                                              info.name, info.quantization, info.sha256, self.settings.to_dict(),
                                              detail.to_dict() if detail else None,
                                              self.parent.id if self.parent else None)
            self.history.add_turn(self.id, SavedTurn(record.question, record.answer, record.partial,
                                                     record.timings.to_dict(), record.seed, record.temperature,
                                                     record.runtime),
                                  replace_last=replace_last)
        except (sqlite3.Error, OSError) as err:
            self.notices.append(f"this answer was not saved to the history ({err}); ctrl+s saves the conversation")

    def flags(self, text: str) -> list[Flag]:
        """Sentences of `text` that the painting's measurements contradict."""
        if self.painting is None or self.painting.facts is None or not text.strip():
            return []
        return check_analysis(text, self.painting.facts)

    @property
    def painting_sha256(self) -> str:
        """The sha256 of the painting's file (a detail's crop has its own identity; this is its painting's)."""
        if self.painting is None:
            return self.saved.image_sha256 if self.saved else ""
        detail = self.painting.detail
        return detail.painting_sha256 if detail else self.painting.image.sha256

    def header(self) -> Provenance:
        """What a saved transcript records about the painting, the model and the settings."""
        image = self.painting.image if self.painting else None
        if self.model is not None:
            model = (self.model.name, self.model.quantization, self.model.sha256)
        elif self.saved is not None:
            model = (self.saved.model, self.saved.quantization, self.saved.model_sha256)
        else:
            model = ("", "", "")
        detail = self.painting.detail if self.painting else None
        region = detail.to_dict() if detail else (self.saved.region if self.saved else {})
        return Provenance(str(image.path.resolve()) if image else "", self.painting_sha256 if image else "",
                          *model, settings=self.settings.to_dict(), region=region)

    def markdown(self) -> str:
        """The conversation as a Markdown document."""
        return to_markdown(self.header(), self.turns, conversation_id=self.id)

    def close(self) -> None:
        """Let the engine's context go to the next conversation."""
        if self.session is not None:
            self.session.close()
