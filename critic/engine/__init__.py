"""Backends that answer questions about a painting: llama.cpp in-process, or a server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from critic.engine.base import Settings


def open_engine(model: str | None = None, server: str | None = None, n_ctx: int | None = None,
                threads: int | None = None, cache: bool = True, keep_new: bool = True):
    """The local model called `model` (or the default), or the model behind `server`;
    `cache`: restore paintings' evaluated prefixes, and keep new ones if `keep_new` (critic.prefix_cache)."""
    if server:
        from critic.engine.server import ServerEngine

        return ServerEngine(server, model)
    from critic.registry import open_engine as open_local

    return open_local(model, n_ctx=n_ctx, threads=threads, cache=cache, keep_new=keep_new)


@dataclass
class AnswerResult:
    """One answer with what produced it."""

    text: str
    timings: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


class Answerer:
    """One-question-per-image answering over an engine (what `critic eval` drives)."""

    def __init__(self, engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def answer(self, image_path: Path, question: str) -> AnswerResult:
        """Answer `question` about the painting at `image_path` in a fresh session."""
        session = self.engine.open_session(Path(image_path))
        try:
            text = "".join(session.ask(question, self.settings))
            record = session.turns[-1]
            timings = record.timings.to_dict()
            timings["model_load"] = round(self.engine.load_seconds, 4)
            return AnswerResult(text, timings, self.engine.info.to_dict(), self.settings.to_dict())
        finally:
            session.close()


def answerer_for(model: str | None = None, server: str | None = None, settings: Settings | None = None) -> Answerer:
    """An Answerer for `critic eval`, local or remote."""
    return Answerer(open_engine(model, server, keep_new=False), settings or Settings())
