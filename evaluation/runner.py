"""Running a model over an evaluation set: one JSONL record per item, written as it finishes.

The model is reached through critic.engine's `Answerer` (its `model`, `settings` and `answer`),
the one thing this module needs from the engine.
Each record carries the model, its settings, the timings and critic's version, so an
output file explains itself. A rerun with the same model and settings skips the items
already answered (a kill -9 loses at most the items in flight); a bad image becomes an
error record and the run goes on; error records are retried on the next run. Against a
server, `parallel` requests are in flight at once (critic.core.parallel) and the records are
appended in the order the answers finish: the file is keyed by `id`, not ordered.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TypeVar

from critic import __version__
from critic.core.errors import BadImage, ContextOverflow
from critic.core.parallel import InFlight
from critic.core.perspectives import DEFAULT_QUESTION
from critic.core.store import JsonlLog, output_lock
from critic.engine import Answerer
from critic.evaluation.readers import ARTBENCH_STYLES, AnalysisItem, QAItem, StyleItem

VQA_INSTRUCTION = "Answer the question using a single word or phrase."
"""LLaVA-1.5's short-answer instruction, appended to every AQUA and ArtQuest question."""

PER_ITEM_ERRORS: tuple[type[Exception], ...] = (BadImage, ContextOverflow)
"""Failures that belong to one item; anything else (server down, no model) stops the run."""


@dataclass(frozen=True)
class Task:
    """One request: an image, a question, and fields copied into its record."""

    id: str
    image: str
    question: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    """How a run went."""

    task: str
    out: str
    total: int
    skipped: int
    answered: int
    errors: int
    wall_s: float
    run_key: str
    model: dict[str, Any]
    settings: dict[str, Any]
    tokens_per_second: float | None = None

    @property
    def mean_s(self) -> float:
        """Mean seconds per item answered in this run (0 when none was)."""
        done = self.answered + self.errors
        return self.wall_s / done if done else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {**asdict(self), "mean_s": self.mean_s}


T = TypeVar("T")


def select(items: Sequence[T], limit: int | None = None, seed: int | None = None) -> list[T]:
    """All items, or `limit` of them: the first ones, or a seeded random sample kept in file order."""
    items = list(items)
    if limit is None or limit <= 0 or limit >= len(items):
        return items
    if seed is None:
        return items[:limit]
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in chosen]


def run_key(model: dict[str, Any], settings: dict[str, Any]) -> str:
    """A short fingerprint of model and settings: records with the same key are one run."""
    blob = json.dumps({"model": model, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def as_dict(value: Any) -> dict[str, Any]:
    """A dict, a dataclass or an object with `to_dict()` as a plain dict (None: empty)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if hasattr(value, "to_dict"):
        return dict(value.to_dict())
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"cannot record {type(value).__name__} as a dict")


def describe(answerer: Answerer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answerer's model and settings as dicts, known before its first answer."""
    return as_dict(answerer.model), as_dict(answerer.settings)


def done_ids(records: Iterable[dict[str, Any]], task: str, key: str) -> set[str]:
    """Ids already answered successfully by the run `key`."""
    return {
        str(r.get("id"))
        for r in records
        if r.get("task") == task and r.get("run_key") == key and r.get("status") == "ok"
    }


def _progress(console: Any, enabled: bool) -> Any:
    """A rich progress bar with counts, elapsed and remaining time, and a note."""
    from critic.core.progress import counting_bar

    return counting_bar("{task.description}", "{task.fields[note]}", console=console, disable=not enabled,
                        transient=False)


def run_tasks(
    task: str,
    tasks: Sequence[Task],
    answerer: Answerer,
    out: Path,
    images_dir: Path,
    progress: bool = True,
    console: Any = None,
    parallel: int = 1,
) -> RunSummary:
    """Answer every task not yet done by this model and settings, appending one record each.

    With `parallel` > 1 (a server) that many requests are in flight and each record is
    appended as its answer arrives, so the file is in the order answers finished; every
    record carries its `id`, which is what resuming and scoring go by.
    """
    with output_lock(out, f"critic eval {task}"):
        return _run_tasks(task, tasks, answerer, out, images_dir, progress, console, parallel)


def _answer_one(item: Task, answerer: Answerer, task: str, images_dir: Path, key: str, model: dict[str, Any],
                settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The record of one task (a generator, for `InFlight`); a per-item failure is an error record."""
    path = Path(images_dir) / item.image
    record: dict[str, Any] = {
        "task": task,
        "id": item.id,
        "image": item.image,
        "question": item.question,
        **item.fields,
        "run_key": key,
        "model": model,
        "settings": settings,
        "critic_version": __version__,
    }
    began = time.perf_counter()
    try:
        if not path.is_file():
            raise BadImage(f"{path}: no such file")
        result = answerer.answer(path, item.question)
    except PER_ITEM_ERRORS as err:
        record.update(status="error", error=str(err), error_type=type(err).__name__)
    else:
        record.update(
            status="ok",
            text=result.text,
            timings=as_dict(result.timings),
            model={**model, **as_dict(result.model)},
            settings={**settings, **as_dict(result.settings)},
        )
        if getattr(result, "runtime", None):
            record["runtime"] = result.runtime
    record["wall_s"] = round(time.perf_counter() - began, 4)
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    yield record


def _run_tasks(task: str, tasks: Sequence[Task], answerer: Answerer, out: Path, images_dir: Path, progress: bool,
               console: Any, parallel: int = 1) -> RunSummary:
    log = JsonlLog(out)
    model, settings = describe(answerer)
    key = run_key(model, settings)
    finished = done_ids(log.records(), task, key)
    todo = [t for t in tasks if t.id not in finished]
    answered = errors = 0
    speeds: list[float] = []
    started = time.perf_counter()
    pool = InFlight(lambda item: _answer_one(item, answerer, task, images_dir, key, model, settings), todo, parallel)
    with _progress(console, progress) as bar:
        job = bar.add_task(task, total=len(tasks), completed=len(tasks) - len(todo), note="")

        def keep(record: dict[str, Any]) -> None:
            nonlocal answered, errors
            log.append(record)
            if record["status"] == "ok":
                answered += 1
                speed = record["timings"].get("tokens_per_second")
                if isinstance(speed, (int, float)) and speed > 0:
                    speeds.append(float(speed))
            else:
                errors += 1
            bar.update(job, advance=1, note=f"{errors} error(s)" if errors else "")

        pool.each(keep)  # answers that arrived before a stop are kept
    return RunSummary(
        task=task,
        out=str(out),
        total=len(tasks),
        skipped=len(tasks) - len(todo),
        answered=answered,
        errors=errors,
        wall_s=time.perf_counter() - started,
        run_key=key,
        model=model,
        settings=settings,
        tokens_per_second=sum(speeds) / len(speeds) if speeds else None,
    )


def generate(
    items: Sequence[AnalysisItem],
    answerer: Answerer,
    out: Path,
    images_dir: Path,
    limit: int | None = None,
    seed: int | None = None,
    progress: bool = True,
    question: str = DEFAULT_QUESTION,
    console: Any = None,
    parallel: int = 1,
) -> RunSummary:
    """Table 1: a formal analysis of every test painting, with the paper's prompt."""
    tasks = [Task(item.id, item.image, question) for item in select(items, limit, seed)]
    return run_tasks("generate", tasks, answerer, out, images_dir, progress, console, parallel)


def vqa_question(question: str) -> str:
    """The prompt for one open-ended question: the question, then the short-answer instruction."""
    return f"{question.strip()}\n{VQA_INSTRUCTION}"


def run_vqa(
    items: Sequence[QAItem],
    answerer: Answerer,
    out: Path,
    images_dir: Path,
    dataset: str,
    limit: int | None = None,
    seed: int | None = None,
    progress: bool = True,
    console: Any = None,
    parallel: int = 1,
) -> RunSummary:
    """Table 2, AQUA / ArtQuest / ArtQuest-Type: a short answer to every question."""
    tasks = [
        Task(item.id, item.image, vqa_question(item.question),
             {"dataset": dataset, "answer": item.answer, "meta": item.meta})
        for item in select(items, limit, seed)
    ]
    return run_tasks("vqa", tasks, answerer, out, images_dir, progress, console, parallel)


def style_question(styles: Sequence[str] = tuple(ARTBENCH_STYLES.values())) -> str:
    """The ArtBench prompt, listing every style the model may choose."""
    return (
        "Which art style does this painting belong to? Choose one of the following: "
        + ", ".join(styles)
        + ".\nAnswer with the name of the style only."
    )


def run_classify(
    items: Sequence[StyleItem],
    answerer: Answerer,
    out: Path,
    images_dir: Path,
    sample: int | None = 1000,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = True,
    console: Any = None,
    parallel: int = 1,
) -> RunSummary:
    """Table 2, ArtBench: style of a seeded sample of `sample` paintings (the paper used 1,000)."""
    chosen = select(select(items, sample, seed), limit, None)
    question = style_question()
    tasks = [Task(item.id, item.image, question, {"dataset": "artbench", "style": item.style}) for item in chosen]
    return run_tasks("classify", tasks, answerer, out, images_dir, progress, console, parallel)
