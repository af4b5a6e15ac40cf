"""A progress bar per stage on stderr (rich), shown only on a terminal, and notes on batches."""

from __future__ import annotations

import threading

from rich.console import Console

from critic.annotate.prompts import KNOWLEDGE, OVERALL, PERSPECTIVE, PICKS
from critic.core.progress import counting_bar

LABELS = {KNOWLEDGE: "knowledge filter", OVERALL: "overall analyses",
          PICKS: "perspective picks", PERSPECTIVE: "perspective analyses"}


class StageBars:
    """One rich progress bar per stage; workers advance them from their threads."""

    def __init__(self, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self._console = console
        self._progress = counting_bar("{task.description:<22}", console=console,
                                      disable=not (enabled and console.is_terminal))
        self._tasks: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> "StageBars":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def add(self, stage: str, total: int) -> None:
        """Add `total` requests to the stage's bar (made on first use)."""
        with self._lock:
            self._totals[stage] = self._totals.get(stage, 0) + total
            task = self._tasks.get(stage)
            if task is None:
                self._tasks[stage] = self._progress.add_task(LABELS.get(stage, stage), total=total)
            else:
                self._progress.update(task, total=self._totals[stage])

    def advance(self, stage: str) -> None:
        """One request of the stage is done."""
        with self._lock:
            task = self._tasks.get(stage)
        if task is not None:
            self._progress.advance(task)

    def note(self, text: str) -> None:
        """A line on stderr above the bars (a batch submitted, or changing status)."""
        self._console.print(text, markup=False, highlight=False, soft_wrap=True)
