"""Helpers for the chat tests (no tests here): waiting on the app, a test painting, a gate, a fake engine.

The gate wraps the real engine to hold an answer after its first piece until the answer is
cancelled, so "stop mid-answer" and "quit mid-answer" are tested without any race against
the tiny model's speed. The scripted engine is for UI-logic tests and snapshots only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

from critic.core.images import LoadedImage, load_image
from critic.engine.base import ModelInfo, Settings, Timings, TurnRecord

WAIT_LIMIT = 60.0
"""A hang guard for `wait_until`, far above anything a passing run takes; no assertion depends on it."""


async def wait_until(pilot, predicate: Callable[[], bool], what: str = "condition") -> None:
    """Let the app run until `predicate()` holds (no fixed sleeps)."""
    deadline = time.monotonic() + WAIT_LIMIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        await pilot.pause(0.01)


def make_painting(path: Path, size: tuple[int, int] = (240, 160), seed: int = 0,
                  field: tuple[int, int, int] | None = None) -> Path:
    """A small, deterministic picture: a blue field (another by `seed`, or `field`), a warm disc, a dark band."""
    from PIL import Image, ImageDraw

    hues = [(30, 60, 140), (120, 40, 30), (40, 110, 60)]
    image = Image.new("RGB", size, field or hues[seed % 3])
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 3, h // 5, w // 3 + h // 2, h // 5 + h // 2), fill=(230, 190, 90))
    draw.rectangle((0, h * 3 // 4, w, h), fill=(20, 20, 30))
    image.save(path)
    return path


def answer_text(app) -> str:
    """Text of the last answer item in the chat."""
    from critic.tui.messages import AnswerItem

    items = app.chat.query(AnswerItem)
    return items.last().text if items else ""


# -- the gate: real engine, answer held after its first piece until cancelled -------------------

class GatedSession:
    """A real session whose next answer stops after `hold_after` pieces of text until the worker is cancelled.

    The engine also yields empty pieces (a token that completes no character yet); they do
    not count, so a held answer always has text on screen whatever the random model says.
    """

    def __init__(self, session, hold_after: int | None) -> None:
        self.inner = session
        self.hold_after = hold_after
        self.held = False  # True while an answer waits at the gate

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def ask(self, question: str, settings: Settings) -> Iterator[str]:
        from textual.worker import get_current_worker

        pieces = self.inner.ask(question, settings)
        hold = self.hold_after
        self.hold_after = None  # only the next answer is held
        count = 0
        try:
            for piece in pieces:
                yield piece
                count += bool(piece)
                if hold is not None and count == hold and piece:
                    self.held = True
                    get_current_worker().cancelled_event.wait()
                    self.held = False
        finally:
            pieces.close()


class GatedEngine:
    """The real engine, with each new session's next answer held after its first piece (see `hold`)."""

    def __init__(self, engine) -> None:
        self.inner = engine
        self.sessions: list[GatedSession] = []
        self.hold_after: int | None = None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def hold(self, pieces: int = 1) -> None:
        """Hold the next answer (of the current or the next session) after `pieces` pieces."""
        self.hold_after = pieces
        if self.sessions:
            self.sessions[-1].hold_after = pieces

    def open_session(self, image) -> GatedSession:
        session = GatedSession(self.inner.open_session(image), self.hold_after)
        self.sessions.append(session)
        return session


# -- a scripted engine for UI logic and snapshots ----------------------------------------------

class ScriptedSession:
    """Answers from a script, word by word, with fixed timings."""

    def __init__(self, engine: "ScriptedEngine", image: LoadedImage | None) -> None:
        self.engine = engine
        self.image = image
        self.turns: list[TurnRecord] = []
        self.notices: list[str] = []
        self.image_encodes = 0
        self.context_size = 4096
        self.context_used = 0

    def restore(self, turns: list[TurnRecord]) -> None:
        self.turns.extend(turns)

    def rewind(self) -> TurnRecord | None:
        return self.turns.pop() if self.turns else None

    def ask(self, question: str, settings: Settings) -> Iterator[str]:
        if not self.image_encodes:
            self.image_encodes = 1
            self.context_used = 600
        answer = self.engine.script.pop(0) if self.engine.script else "A plain answer."
        record = TurnRecord(question, timings=Timings(generation=2.0, generated_tokens=50))
        words = answer.split(" ")
        sent: list[str] = []
        try:
            for i, word in enumerate(words):
                piece = word if i == 0 else " " + word
                sent.append(piece)
                yield piece
        except GeneratorExit:
            record.partial = True
            raise
        finally:
            record.answer = "".join(sent)
            self.context_used += 100
            self.turns.append(record)

    def close(self) -> None:
        pass


class ScriptedEngine:
    """A fake model for tests of the interface alone."""

    def __init__(self, script: list[str] | None = None) -> None:
        self.info = ModelInfo("scripted", "Q4_K_M", "0" * 64, "1" * 64)
        self.load_seconds = 0.0
        self.script = list(script or [])
        self.closed = False

    def open_session(self, image) -> ScriptedSession:
        loaded = image if isinstance(image, LoadedImage) or image is None else load_image(image)
        return ScriptedSession(self, loaded)

    def close(self) -> None:
        self.closed = True
