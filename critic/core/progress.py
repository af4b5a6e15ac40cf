"""The progress bar every long job shows: what it is doing, a bar, done of total, elapsed and remaining."""

from __future__ import annotations

from typing import Any


def counting_bar(label: str = "{task.description}", *fields: str, console: Any = None, **options: Any):
    """A rich `Progress` counting items: `label`, the bar, N/M, elapsed, "eta", remaining, then each
    of `fields` (a rich format string such as "{task.fields[note]}"). `options` go to `Progress`."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                    TimeRemainingColumn(), *(TextColumn(field) for field in fields), console=console, **options)


def reading_line(part: str, done: int, total: int, seconds: float) -> str:
    """What a model is doing before its first word: "reading the painting into the model 256/576 · 12 s"."""
    step = f" {done}/{total}" if total > 1 else ""
    if part.startswith("encoding") and total > 1:
        step = f" ({done + 1} of {total})"
    return f"{part}{step} · {seconds:.0f} s"


class ReadingStatus:
    """A transient line on stderr while the prompt is read (which part, how far, how long), gone at the first
    word; only on a terminal, so piped output and logs stay clean."""

    def __init__(self, enabled: bool = True) -> None:
        import sys
        import time

        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.perf_counter()
        self._status = None

    def update(self, part: str, done: int, total: int) -> None:
        """Show the part now running (a critic.engine.llama `Progress` callback)."""
        if not self.enabled:
            return
        import time

        text = reading_line(part, done, total, time.perf_counter() - self.started)
        if self._status is None:
            from rich.console import Console

            self._status = Console(stderr=True).status(text)
            self._status.start()
        else:
            self._status.update(text)

    def stop(self) -> None:
        """Take the line away (the answer starts)."""
        if self._status is not None:
            self._status.stop()
            self._status = None
