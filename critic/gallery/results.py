"""The analyses the gallery shows: every critic results file in the folder, and the gallery's own.

`critic analyze DIR --out r.jsonl` may have written the folder's analyses to any name, and a
Markdown or text handout (`--out handout.md`) keeps its records in a hidden
`.handout.md.records.jsonl` beside it. The gallery reads them all: every `*.jsonl` or `*.json`
file under the folder whose first line is a `critic analyze` record (a JSON object with a
`key`, an `image` and a `question`), plus the `--results` file it writes to. Where several
files answer the same painting, model and question, the newest answer (by `created`) wins;
each record shown carries the file it came from (`RESULTS_FILE`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from critic.core.store import read_jsonl

RESULTS_FILE = "results_file"
"""The key, added to each record the gallery reads, naming the results file it came from."""


def is_results_file(path: Path) -> bool:
    """Whether `path` is JSON lines that `critic analyze --out` wrote: its first line is one of its records."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            first = handle.readline(1 << 20)
        record = json.loads(first)
    except (OSError, ValueError):
        return False
    return (isinstance(record, dict) and "key" in record and isinstance(record.get("image"), dict)
            and "question" in record)


def results_files(folder: Path, results: Path | None = None) -> list[Path]:
    """Every critic results file under `folder` (recursively, sorted), and `results` where it exists."""
    found = sorted(p for p in Path(folder).rglob("*.json*")
                   if p.suffix in (".jsonl", ".json") and p.is_file() and is_results_file(p))
    if results is not None and results.is_file() and not any(_same(results, p) for p in found):
        found.append(results)
    return found


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _model(record: dict) -> tuple:
    model = record.get("model") or {}
    return (model.get("sha256"), model.get("name"), model.get("quantization"))


def analyses_by_image(files: list[Path]) -> dict[str, list[dict]]:
    """The finished analyses of `files` by image sha256, oldest first, each tagged with its file.

    One per painting, model and question: the newest answer, whichever file holds it.
    """
    found: dict[str, list[dict]] = defaultdict(list)
    for path in files:
        for record in read_jsonl(path):
            if not isinstance(record, dict) or record.get("status") != "ok" or not record.get("analysis"):
                continue
            sha = (record.get("image") or {}).get("sha256")
            if sha:
                found[sha].append({**record, RESULTS_FILE: str(path)})
    return {sha: newest_answers(records) for sha, records in found.items()}


def is_detail(record: dict) -> bool:
    """Whether a record analyses a detail of its painting (`critic analyze --region/--detail`), not the whole."""
    return isinstance(record.get("region"), dict)


def newest_answers(records: list[dict]) -> list[dict]:
    """`records` of one painting, keeping the newest answer per model, question and detail (the whole painting
    and each region apart), oldest first."""
    newest: dict[tuple, dict] = {}
    for record in records:
        key = (_model(record), record.get("question"), str(record["region"].get("sha256")) if is_detail(record) else "")
        if key not in newest or _created(record) >= _created(newest[key]):
            newest[key] = record
    return sorted(newest.values(), key=_created)


def shown_name(path: str | Path, folder: Path) -> str:
    """A results file as the gallery names it: relative to the folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path(folder).resolve()))
    except ValueError:
        return str(path)


def _created(record: dict) -> float:
    try:
        return float(record.get("created") or 0.0)
    except (TypeError, ValueError):
        return 0.0
