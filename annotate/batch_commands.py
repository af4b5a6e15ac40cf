"""`critic annotate batch status|cancel DIR` and `critic annotate import DIR RESULTS`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from critic.annotate.answer_store import FILENAME, AnswerStore
from critic.annotate.batch import record_remote
from critic.annotate.batch_book import TERMINAL, BatchBook, BatchRecord
from critic.annotate.batch_format import read_result
from critic.annotate.batch_results import Stored, store_results
from critic.annotate.client import Caller
from critic.annotate.config import RunConfig
from critic.core.errors import BadData, UsageError
from critic.core.store import jsonl_objects, output_lock


def _store(out: Path) -> AnswerStore:
    RunConfig.load(out)  # a one-line error unless `out` is a run folder
    if not (Path(out) / FILENAME).is_file():
        raise BadData(f"{out} holds no answers yet: run `critic annotate run` first")
    return AnswerStore(Path(out))


def _in_flight(book: BatchBook) -> list[BatchRecord]:
    return [r for r in book.all() if r.state == "submitted" and r.remote_status not in TERMINAL]


def _each_remote(out: Path, act: Any) -> tuple[list[BatchRecord], list[str]]:
    """Apply `act(caller, record)` (returning an openai Batch) to each batch in flight, then
    every batch of the folder, and notes on the providers that could not be asked."""
    config = RunConfig.load(out)
    providers = config.load_providers()
    stop = threading.Event()
    callers: dict[str, Caller | None] = {}
    notes: list[str] = []
    with _store(out) as store:
        book = BatchBook(store)
        for record in _in_flight(book):
            if record.provider not in callers:
                try:
                    callers[record.provider] = Caller(providers[record.provider], config.policy(), stop)
                except (UsageError, KeyError) as err:
                    callers[record.provider] = None
                    notes.append(f"could not ask provider '{record.provider}': {err}")
            caller = callers[record.provider]
            if caller is not None:
                record_remote(book, record, act(caller, record))
        for caller in callers.values():
            if caller is not None:
                caller.close()
        return book.all(), notes


def refresh(out: Path) -> tuple[list[BatchRecord], list[str]]:
    """The folder's batches, each in flight checked with its provider now."""
    return _each_remote(out, lambda caller, record: caller.request(
        f"check batch {record.batch_id}", lambda client: client.batches.retrieve(record.batch_id)))


def cancel(out: Path) -> tuple[list[BatchRecord], list[str]]:
    """Ask the provider to cancel every batch in flight; the run waiting for them (or the next
    one) stores their finished answers, and the next run sends the rest again."""
    return _each_remote(out, lambda caller, record: caller.request(
        f"cancel batch {record.batch_id}", lambda client: client.batches.cancel(record.batch_id)))


def import_results(out: Path, results: Path) -> Stored:
    """Store the answers of a Batch-API result file (`vllm run-batch`'s output, or a provider's
    output or error file) for requests written by this folder's `--batch-files` runs."""
    out, results = Path(out), Path(results)
    if not results.is_file():
        raise BadData(f"no results file at {results}: give the output file of the batch")
    with output_lock(out, "critic annotate import"), _store(out) as store:
        book = BatchBook(store)
        with open(results, encoding="utf-8") as handle:
            rows = [read_result(row) for _, row in jsonl_objects(handle, results, "each line must be one batch result")]
        stored = store_results(store, book, rows, "import")
        if rows and stored.counts["unknown"] == len(rows):
            raise BadData(f"none of the {len(rows):,} results in {results} answers a request of {out}: give the "
                          "results of the files its `--batch-files` run wrote")
        for name in {name for name, _ in book.lines(custom_ids={r.custom_id for r in rows})}:
            record = book.get(name)
            if record.mode == "files" and record.open:
                book.update(name, state="collected")
    return stored
