"""Backends that answer questions about a painting: llama.cpp in-process, or a server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.engine.base import Hardware, Settings


def open_engine(model: str | None = None, server: str | None = None, n_ctx: int | None = None,
                threads: int | None = None, cache: bool = True, keep_new: bool = True,
                hardware: Hardware | None = None):
    """The model behind `server`, or the installed model called `model` (or the default) loaded
    into llama.cpp once its files pass the registry's checks.

    `cache`: restore paintings' evaluated prefixes, and keep new ones if `keep_new` (False for
    batches of paintings seen once; critic.engine.prefix_cache). `hardware` says where it runs
    (`threads` alone is a shorthand for `Hardware(threads=…)`). The registry only finds and verifies
    model folders; building an engine from one happens here and nowhere else.
    """
    if server:
        from critic.engine.server import ServerEngine

        return ServerEngine(server, model)
    from critic.engine import registry
    from critic.engine.llama import DEFAULT_CTX, LlamaEngine
    from critic.engine.offload import configured_gpu_layers
    from critic.engine.prefix_cache import PrefixCache

    hardware = hardware or Hardware(threads=threads)
    installed = registry.verified(model)
    return LlamaEngine.from_folder(installed.folder, n_ctx=n_ctx or DEFAULT_CTX, threads=hardware.threads,
                                   gpu_layers=configured_gpu_layers(hardware.gpu_layers)[0],
                                   vision_cpu=hardware.vision_cpu, kv_cache=hardware.kv_cache,
                                   cache=PrefixCache(writable=keep_new) if cache else None)


@dataclass
class AnswerResult:
    """What a model said about one image, and how."""

    text: str
    timings: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    """Where it ran (LlamaEngine.runtime); empty from a server."""


class Answerer:
    """One-question-per-image answering over an engine: what `critic eval` drives (critic.evaluation).

    `model` (name, quantization, sha256…) and `settings` describe the run before any answer is
    made; resuming a run compares them. Scripted answerers in tests have the same three members.
    """

    def __init__(self, engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @property
    def model(self) -> dict[str, Any]:
        """The engine's model info as a plain dict."""
        return self.engine.info.to_dict()

    def answer(self, image_path: Path, question: str) -> AnswerResult:
        """Answer `question` about the painting at `image_path` in a fresh session."""
        session = self.engine.open_session(Path(image_path))
        try:
            text = "".join(session.ask(question, self.settings))
            record = session.turns[-1]
            timings = record.timings.to_dict()
            timings["model_load"] = round(self.engine.load_seconds, 4)
            return AnswerResult(text, timings, self.model, self.settings.to_dict(), record.runtime)
        finally:
            session.close()


def answerer_for(model: str | None = None, server: str | None = None, settings: Settings | None = None,
                 hardware: Hardware | None = None) -> Answerer:
    """An Answerer for `critic eval`, local or remote."""
    return Answerer(open_engine(model, server, hardware=hardware, keep_new=False), settings or Settings())
