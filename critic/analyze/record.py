"""One analysis as a record: what was asked, of which painting, by which model, and the answer.

The record is the JSON that `critic analyze --format json` prints and `--out` appends; its
`key` identifies the work (image bytes + question + model + settings) so a rerun of a
batch can skip what is done.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from critic import __version__
from critic.core.images import LoadedImage
from critic.core.prompt import Turn, prompt_text
from critic.core.regions import Detail
from critic.engine.base import ModelInfo, Settings, Timings


def request_key(image_sha256: str, question: str, model_sha: str, settings: Settings, ground: bool) -> str:
    """A stable id for one (image, question, model, settings) request."""
    payload = json.dumps([image_sha256, question, model_sha, settings.to_dict(), ground], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass
class AnalysisRecord:
    """Everything `--format json` reports about one painting."""

    key: str
    image: dict[str, Any]
    question: str
    prompt: str
    settings: dict[str, Any]
    status: str = "ok"
    analysis: str | None = None
    partial: bool = False
    stopped: str = ""
    model: dict[str, Any] | None = None
    runtime: dict[str, Any] | None = None
    """Where it ran: llama.cpp backend, device, layers on the GPU, threads (LlamaEngine.runtime)."""
    timings: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] | None = None
    flags: list[dict[str, Any]] = field(default_factory=list)
    region: dict[str, Any] | None = None
    """The detail looked at (`critic.core.regions.Detail.to_dict`, with ``compared``: its facts against the
    whole painting's); None for the whole painting. `image` stays the painting's, `facts` are the detail's."""
    error: str | None = None
    note: str | None = None
    created: float = field(default_factory=time.time)
    critic_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def image_info(image: LoadedImage) -> dict[str, Any]:
    """Path, hash, size and format of a loaded painting."""
    return {"path": str(image.path), "sha256": image.sha256, "width": image.original_size[0],
            "height": image.original_size[1], "format": image.format}


def detail_image_info(detail: Detail) -> dict[str, Any]:
    """`image_info` of the painting a detail was cut from."""
    return {"path": str(detail.image.path), "sha256": detail.painting_sha256, "width": detail.box.canvas[0],
            "height": detail.box.canvas[1], "format": detail.image.format}


def new_record(image: LoadedImage, question: str, model: ModelInfo | None, settings: Settings,
               ground: str | None = None, detail: Detail | None = None, compared: str = "") -> AnalysisRecord:
    """A record for a request about to run; of a `detail` (its crop is `image`), with the comparison of its
    facts with the whole painting's."""
    full_question = f"{ground}\n{question}" if ground else question
    record = AnalysisRecord(
        key=request_key(image.sha256, question, model.sha256 if model else "", settings, bool(ground)),
        image=image_info(image), question=question, prompt=prompt_text([Turn(full_question)]),
        settings=settings.to_dict(), model=model.to_dict() if model else None,
    )
    if detail is not None:
        record.image = detail_image_info(detail)
        record.region = {**detail.to_dict(), "compared": compared}
    return record


def finish(record: AnalysisRecord, answer: str, timings: Timings, load_seconds: float, partial: bool,
           stopped: str = "") -> None:
    """Fill in the answer and timings."""
    record.analysis = answer
    record.partial = partial
    record.stopped = stopped
    data = timings.to_dict()
    data["model_load"] = round(load_seconds, 4)
    record.timings = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in data.items()}
