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
