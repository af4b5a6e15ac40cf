"""Result lines of a batch turned into stored answers, through the same parser and validation
as a live answer: the answer a batch gives is stored exactly as the same answer sent live would
be, so a run can mix the two and export the same data.

Used for the batches `--batch` collects and for `critic annotate import` (any output file in
the Batch-API result format, such as `vllm run-batch`'s).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from critic.annotate.answer_store import Answer, AnswerStore, Key
from critic.annotate.batch_book import BatchBook, Line
from critic.annotate.batch_format import Result
from critic.annotate.prompts import PARSERS, Malformed
from critic.annotate.validate import check
from critic.core.errors import BadData


@dataclass
class Stored:
    """What storing a set of result lines did."""

    outcomes: dict[Key, str] = field(default_factory=dict)
    """Per request answered: "ok" (an answer, maybe rejected) or "error" (a failure stored)."""
    counts: Counter[str] = field(default_factory=Counter)
    """answers, rejected, failed, unfinished (not run), known (already stored), unknown (no such request)."""
    last_error: str | None = None


def answer_of(line: Line, result: Result, via: str, tries: int = 1) -> Answer:
    """The stored form of one result: parsed and judged as a live answer is."""
    key, tokens = line.key, (result.tokens_in, result.tokens_out)
    if result.text is None:
        return Answer(key, line.kind, line.attempt, False, None, None, result.error, *tokens, tries, via=via)
    try:
        value = PARSERS[key.stage](result.text)
    except Malformed as err:
        error = f"malformed answer: {' '.join(str(err).split())[:300]}"
        return Answer(key, line.kind, line.attempt, False, None, result.text, error, *tokens, tries, via=via)
    verdict = check(key.stage, result.text, value)
    return Answer(key, line.kind, line.attempt, True, value, result.text, None, *tokens, tries, rejected=verdict,
                  via=via)


def request_bodies(book: BatchBook, batches: set[str], wanted: set[str]) -> dict[str, dict[str, Any]]:
    """The request bodies of `wanted` custom_ids, read from the input files of `batches`."""
    bodies: dict[str, dict[str, Any]] = {}
    for name in sorted(batches):
        path = Path(book.get(name).path)
        if not path.is_file() and book.store.path is not None:  # a run folder moved since
            path = book.store.path.parent / "batches" / path.name
        if not path.is_file():
            raise BadData(f"the request file {path} of batch {name} is gone: its answers cannot be matched to "
                          "their prompts; put the file back")
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                row = json.loads(line)
                if row.get("custom_id") in wanted:
                    bodies[row["custom_id"]] = row["body"]
    return bodies


def store_results(
    store: AnswerStore,
    book: BatchBook,
    results: list[Result],
    via: str,
    batch: str | None = None,
    tries: Callable[[Key], int] = lambda key: 1,
    on_answer: Callable[[Answer], None] = lambda answer: None,
) -> Stored:
    """Store the answer of every result that belongs to a request of `batch` (None: of any
    batch of the folder). A request already answered keeps its answer; a line the batch never
    ran is left for the next batch."""
    stored = Stored()
    wanted = {r.custom_id for r in results}
    lines = dict((line.custom_id, (name, line)) for name, line in book.lines(batch, wanted))
    bodies = request_bodies(book, {name for name, _ in lines.values()}, wanted)
    for result in results:
        found = lines.get(result.custom_id)
        if found is None:
            stored.counts["unknown"] += 1
            continue
        line = found[1]
        if result.unfinished:
            stored.counts["unfinished"] += 1
            continue
        before = store.get(line.key)
        if before is not None and before.ok:
            stored.counts["known"] += 1
            stored.outcomes[line.key] = "ok"
            continue
        answer = answer_of(line, result, via, tries(line.key))
        body = bodies[result.custom_id]
        store.put(answer, body["messages"], body["model"])
        on_answer(answer)
        stored.outcomes[line.key] = "ok" if answer.ok else "error"
        if not answer.ok:
            stored.counts["failed"] += 1
            stored.last_error = answer.error
        else:
            stored.counts["rejected" if answer.rejected else "answers"] += 1
    return stored
