"""Reading results files for a report: every record checked before any of it reaches the page.

A results file is JSON lines anyone can edit. A record whose fields have the wrong types
(a share as a string, a histogram of words, a colour that is not ``#rrggbb``, a date that is
not a number) is skipped with one note naming its line, and the report is built from the
others; a torn last line (a run killed mid-write) is left out silently, as every reader of
these files does.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

from critic.core.regions import box_from_record
from critic.gallery.facts_io import facts_from_dict

_LATEST = 253402300799.0
"""The last second of the year 9999, the latest date a report can print."""

_FIELDS: dict[str, tuple[type, ...]] = {
    "key": (str,), "status": (str,), "image": (dict,), "question": (str,), "prompt": (str,),
    "settings": (dict,), "analysis": (str,), "partial": (bool,), "stopped": (str,), "model": (dict,),
    "timings": (dict,), "facts": (dict,), "flags": (list,), "error": (str,), "note": (str,),
    "created": (int, float), "critic_version": (str,), "runtime": (dict,), "region": (dict,),
}
"""The fields a report reads and the JSON types each may have (null is allowed for any)."""
_IMAGE: dict[str, tuple[type, ...]] = {"path": (str,), "sha256": (str,), "width": (int,), "height": (int,),
                                       "format": (str,)}
_REGION: dict[str, tuple[type, ...]] = {"text": (str,), "box": (list,), "canvas": (list,), "sha256": (str,),
                                        "compared": (str,), "tile": (list,)}


def _wrong(fields: dict[str, tuple[type, ...]], data: dict, prefix: str = "") -> str | None:
    for name, kinds in fields.items():
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            return f"{prefix}{name} is {type(value).__name__}, not {' or '.join(k.__name__ for k in kinds)}"
    return None


def record_problem(record: Any) -> str | None:
    """Why `record` cannot go into a report, or None when every field it has is of the right kind."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    problem = _wrong(_FIELDS, record)
    if problem is None and record.get("image") is not None:
        problem = _wrong(_IMAGE, record["image"], "image.")
        if problem is None and any((record["image"].get(k) or 0) < 0 for k in ("width", "height")):
            problem = "image size is negative"
    if problem is None and record.get("region") is not None:
        problem = _wrong(_REGION, record["region"], "region.")
        if problem is None:
            try:
                box_from_record(record["region"], ((record.get("image") or {}).get("width"),
                                                   (record.get("image") or {}).get("height")))
            except (KeyError, TypeError, ValueError) as err:
                problem = f"region: {err}"
    if problem is None and record.get("created") is not None and not (
            math.isfinite(record["created"]) and 0 <= record["created"] <= _LATEST):
        problem = f"created {record['created']} is not a date"
    if problem is None and any(not isinstance(flag, dict) for flag in record.get("flags") or ()):
        problem = "flags holds something other than objects"
    if problem is None and record.get("facts") is not None:
        try:
            facts_from_dict(record["facts"])
        except ValueError as err:
            problem = f"facts: {err}"
    return problem


class Results(NamedTuple):
    """What a results file gave: the usable records, a note for each line skipped, and how many lines
    were records of `critic analyze` at all (JSON objects with a "key"), usable or not."""

    records: list[dict]
    notes: list[str]
    keyed: int


def read_results(path: Path) -> Results:
    """The usable records of the results file at `path`, and one note for each line skipped."""
    records, notes, keyed = [], [], 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith("\n") or not line.strip():
                continue  # a torn last line, or a blank one
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                notes.append(f"{path} line {number}: not JSON ({err.msg}); skipped")
                continue
            keyed += isinstance(record, dict) and "key" in record
            problem = record_problem(record)
            if problem:
                notes.append(f"{path} line {number}: {problem}; skipped")
            else:
                records.append(record)
    return Results(records, notes, keyed)
