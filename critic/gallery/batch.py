"""The gallery's analyses: `critic analyze --out` run from the gallery, into the same JSON lines.

The records come from `AnalyzeJob.painting_records`, the code `critic analyze` itself runs,
with the job built as `critic analyze DIR --out RESULTS` with the same flags would build it
(the default question, the same settings): a painting analysed in one is done in the other,
and either resumes the other's interrupted batch. The results file is held with the same
lock for the whole batch, so the two never write it at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from critic.analyze.job import AnalyzeJob, _error_key
from critic.core.perspectives import DEFAULT_QUESTION
from critic.core.store import JsonlLog, output_lock
from critic.engine.base import Hardware, Settings


def analyze_job(paths: list[Path], results: Path, settings: Settings, model: str | None = None,
                hardware: Hardware | None = None, ctx: int | None = None, cache: bool = True) -> AnalyzeJob:
    """The job `critic analyze PATHS --out RESULTS` would run with these flags."""
    return AnalyzeJob(list(paths), [DEFAULT_QUESTION], settings, "json", Path(results), show_facts=False,
                      ground=False, model=model, server=None, hardware=hardware or Hardware(), ctx=ctx, cache=cache)


def run_batch(job: AnalyzeJob, engine, paths: list[Path], cancelled: Callable[[], bool],
              painting_done: Callable[[Path, list[dict]], None]) -> tuple[int, int]:
    """Analyse `paths` into the job's results file; return (analysed, failed).

    Stops between paintings once `cancelled()`; what was written stays, and the next batch
    skips it. `painting_done(path, new_records)` is called after each painting.
    """
    analysed = failed = 0
    with output_lock(job.out, "critic analyze"):
        log = JsonlLog(job.records_path)
        records = log.records()
        done = {r.get("key") for r in records if r.get("status") == "ok"}
        known_errors = {_error_key(r) for r in records if r.get("status") == "error"}
        for path in paths:
            if cancelled():
                break
            new: list[dict] = []
            for record in job.painting_records(engine, path, done):
                if record is None:
                    continue
                data = record.to_dict()
                if record.status == "ok":
                    analysed += 1
                    done.add(record.key)
                else:
                    failed += 1
                if record.status == "ok" or _error_key(data) not in known_errors:
                    log.append(data)
                    new.append(data)
            painting_done(path, new)
    return analysed, failed
