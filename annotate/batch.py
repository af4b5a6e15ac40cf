"""`--batch` and `--batch-files`: a stage's missing requests as Batch-API jobs.

`Runner.resolve` hands the batcher the requests it has no answer for. The batcher first waits
for every batch in flight that holds one of them (sent by this run or by an earlier one, as
annotate.batch_book records), so no request is paid twice, even by a live run. With `--batch`
it writes the rest as JSONL (split at --batch-max-lines and --batch-max-bytes), uploads each
file (`files.create`, purpose "batch"), submits it (`batches.create`, 24 h window) and polls
(`batches.retrieve`, every --poll seconds) until it is completed, expired, failed or cancelled;
then it downloads the output and error files into the run folder and stores every result
(annotate.batch_results). Lines that failed go out again in a further batch, as live failures
are retried (--retries); lines never run (an expired or cancelled batch) go out again without
using a try; a batch that failed as a whole is a failed try for each of its lines. A batch
seen cancelled while this run waits for it (`critic annotate batch cancel`) stops the run,
with its finished answers stored.

A kill between `batches.create` and recording the batch's id would lose the id: so a batch
recorded as uploaded but not submitted is first looked for among the provider's batches
(`batches.list`, by input file) before one is created.

With `--batch-files DIR` the requests are only written; the run stops (`Paused`) until their
answers are stored by `critic annotate import`.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from critic.annotate.answer_store import Answer, AnswerStore, Key
from critic.annotate.batch_book import TERMINAL, BatchBook, BatchRecord, Line
from critic.annotate.batch_format import ENDPOINT, MAX_BYTES, MAX_LINES, Result, custom_id, read_result, request_line, split
from critic.annotate.batch_results import store_results
from critic.annotate.client import Caller, Cancelled
from critic.core.errors import ServerError
from critic.core.store import jsonl_objects, write_atomic


class Paused(Exception):
    """--batch-files wrote a stage's requests, or waits for files written before: the run stops
    here until their answers are imported. `str()` says what to do."""


@dataclass(frozen=True)
class BatchSettings:
    """How a run uses batches: "live" only waits for batches in flight, "remote" is --batch,
    "files" is --batch-files (requests written to `folder`, nothing sent)."""

    mode: str
    folder: Path
    poll: float = 30.0
    max_lines: int = MAX_LINES
    max_bytes: int = MAX_BYTES


def record_remote(book: BatchBook, record: BatchRecord, batch: Any, **changes: Any) -> BatchRecord:
    """Write what the provider says of a batch (an openai `Batch`) into its record."""
    counts = batch.request_counts
    errors = getattr(getattr(batch, "errors", None), "data", None) or []
    error = "; ".join(f"{e.code}: {e.message}" for e in errors)[:500] or None
    return book.update(record.name, batch_id=batch.id, remote_status=batch.status,
                       output_file_id=batch.output_file_id, error_file_id=batch.error_file_id,
                       completed=counts.completed if counts else 0, failed=counts.failed if counts else 0,
                       error=error, **changes)


class Batcher:
    """Sends, waits for and collects the batches of one run."""

    def __init__(self, store: AnswerStore, callers: dict[str, Caller], settings: BatchSettings, retries: int,
                 stop: threading.Event, progress: Any, on_answer: Callable[[Answer], None]) -> None:
        self.store = store
        self.book = BatchBook(store)
        self.callers = callers
        self.settings = settings
        self.retries = retries
        self.stop = stop
        self.progress = progress
        self.on_answer = on_answer
        self._sent: Counter[Key] = Counter()
        self._watched: set[str] = set()
        self._uploaded_here: set[str] = set()

    def _answered(self, key: Key) -> bool:
        answer = self.store.get(key)
        return answer is not None and answer.ok

    # -- the rounds --------------------------------------------------------------------------

    def resolve(self, jobs: list[Any], submit: bool) -> None:
        """Store an answer for each job that batches can give. Waits for the batches in flight
        that hold any of them; with `submit`, sends the rest as new batches, and again those
        whose lines failed, up to the retries. Without `submit` the jobs no batch held are left
        for the caller to send live."""
        by_key = {job.key: job for job in jobs}
        errors: Counter[Key] = Counter()
        stalls = 0
        while True:
            missing = {key for key in by_key if errors[key] <= self.retries and not self._answered(key)}
            held = {name: keys for name, keys in self.book.holding(missing, "remote").items()
                    if self.book.get(name).provider in self.callers}
            names = list(held)
            if submit:
                in_flight = set().union(*held.values())
                names += self._write([job for key, job in by_key.items() if key in missing and key not in in_flight],
                                     "remote", self.settings.folder)
            if not names:
                break
            moved = False
            for key, outcome in self._wait(names).items():
                if key not in missing:
                    continue
                moved = True
                if outcome == "error":
                    errors[key] += 1
                if outcome == "ok" or (submit and errors[key] > self.retries):
                    if outcome != "ok":  # a failure is counted once, when no try is left
                        self.on_answer(self.store.get(key))
                    self.progress.advance(key.stage)
            if not moved:
                stalls += 1
                if stalls > self.retries:
                    break
        if submit:
            self._never_run([job for key, job in by_key.items() if self.store.get(key) is None], stalls)

    def _never_run(self, jobs: list[Any], rounds: int) -> None:
        """Store a failure for requests no batch ran in `rounds` tries (asked again next run)."""
        for job in jobs:
            answer = Answer(job.key, job.kind, job.attempt, False, None, None,
                            f"not run: its batch closed {rounds} times before running it", tries=rounds, via="batch")
            self.store.put(answer, job.body["messages"], job.model)
            self.on_answer(answer)
            self.progress.advance(job.stage)

    def write_files(self, jobs: list[Any]) -> None:
        """--batch-files: write the jobs not in a file already, then stop the run (Paused)."""
        keys = {job.key for job in jobs}
        held = self.book.holding(keys, "files")
        waiting = set().union(*held.values())
        names = self._write([job for job in jobs if job.key not in waiting], "files", self.settings.folder)
        written = [self.book.get(name) for name in names]
        parts = []
        if written:
            parts.append(f"wrote {sum(r.lines for r in written):,} requests to {len(written)} file(s): "
                         + ", ".join(r.path for r in written))
        if held:
            parts.append(f"{len(waiting):,} requests wait in " + ", ".join(self.book.get(n).path for n in sorted(held)))
        raise Paused("; ".join(parts) + ". Answer each file (for example `vllm run-batch -i FILE -o RESULTS "
                     "--model MODEL`), store the answers with `critic annotate import OUT RESULTS`, then run again")

    def _write(self, jobs: list[Any], mode: str, folder: Path) -> list[str]:
        """Write the jobs as batch input files (one provider and stage each, split at the
        limits) and record them; their names."""
        groups: dict[tuple[str, str], list[Any]] = {}
        for job in jobs:
            groups.setdefault((job.stage, job.provider), []).append(job)
        names = []
        for (stage, provider), group in groups.items():
            lines = [request_line(custom_id(job.key), job.body) for job in group]
            for chunk in split(lines, self.settings.max_lines, self.settings.max_bytes):
                name = self.book.next_name(stage, provider)
                path = Path(folder) / f"{name}.jsonl"
                data = b"".join(lines[i] for i in chunk)
                write_atomic(path, data)
                self.book.add(BatchRecord(name, provider, stage, mode, str(path), len(chunk), len(data), "written"),
                              [Line(custom_id(group[i].key), group[i].key, group[i].kind, group[i].attempt)
                               for i in chunk])
                if mode == "remote":
                    self._sent.update(group[i].key for i in chunk)
                names.append(name)
        return names

    # -- one batch's life --------------------------------------------------------------------

    def _wait(self, names: list[str]) -> dict[Key, str]:
        """Take each batch through its states until it is collected; every result's outcome."""
        outcomes: dict[Key, str] = {}
        waiting = list(names)
        while waiting:
            for name in list(waiting):
                record = self._advance(self.book.get(name))
                if record.remote_status in TERMINAL:
                    outcomes.update(self._collect(record))
                    waiting.remove(name)
            if waiting and self.stop.wait(self.settings.poll):
                raise Cancelled()
        return outcomes

    def _no_batch_api(self, provider: str) -> str:
        return (f"provider '{provider}' has no Batch API at {self.callers[provider].provider.base_url} (HTTP 404): "
                "set batch = false for it in the providers file, or run without --batch")

    def _advance(self, record: BatchRecord) -> BatchRecord:
        """One step: upload, submit (or find the batch a killed run submitted), or check."""
        caller = self.callers[record.provider]
        if record.state == "written":
            def upload(client: Any) -> Any:
                with open(record.path, "rb") as handle:
                    return client.files.create(file=(Path(record.path).name, handle), purpose="batch")

            uploaded = caller.request(f"upload {record.path}", upload, self._no_batch_api(record.provider))
            self._uploaded_here.add(record.name)
            record = self.book.update(record.name, state="uploaded", input_file_id=uploaded.id)
        if record.state == "uploaded":
            batch = None if record.name in self._uploaded_here else self._find(caller, record)
            if batch is None:
                batch = caller.request(
                    f"submit {record.name}",
                    lambda client: client.batches.create(input_file_id=record.input_file_id, endpoint=ENDPOINT,
                                                         completion_window="24h", metadata={"critic_batch": record.name}),
                    self._no_batch_api(record.provider))
            self.progress.note(f"batch {record.name}: {record.lines:,} requests to {record.provider} submitted as {batch.id}")
            return self._record(record, batch, state="submitted")
        if record.state == "submitted" and record.remote_status not in TERMINAL:
            batch = caller.request(f"check batch {record.batch_id}",
                                   lambda client: client.batches.retrieve(record.batch_id))
            record = self._record(record, batch)
        return record

    def _find(self, caller: Caller, record: BatchRecord) -> Any:
        """The batch made from this record's input file, if a killed run created one."""
        def search(client: Any) -> Any:
            for batch in client.batches.list(limit=100):
                if batch.input_file_id == record.input_file_id:
                    return batch
                if batch.created_at < record.updated - 86400:  # older than the upload: no need to look further
                    return None
            return None

        return caller.request(f"look for the batch of {record.name}", search)

    def _record(self, record: BatchRecord, batch: Any, **changes: Any) -> BatchRecord:
        if batch.status not in TERMINAL:
            self._watched.add(record.name)
        if batch.status != record.remote_status:
            counts = batch.request_counts
            done = f", {counts.completed}/{counts.total} done" if counts else ""
            self.progress.note(f"batch {record.name} ({batch.id}): {batch.status}{done}")
        return record_remote(self.book, record, batch, **changes)

    def _collect(self, record: BatchRecord) -> dict[Key, str]:
        """Download the batch's output and error files and store every result."""
        caller = self.callers[record.provider]
        results: list[Result] = []
        for which, file_id in (("output", record.output_file_id), ("errors", record.error_file_id)):
            if not file_id:
                continue
            local = Path(record.path).with_name(f"{record.name}.{which}.jsonl")
            if not local.is_file():
                data = caller.request(f"download the {which} of {record.name}",
                                      lambda client, file_id=file_id: client.files.content(file_id).content)
                write_atomic(local, data)
            with open(local, encoding="utf-8") as handle:
                results += [read_result(row) for _, row in jsonl_objects(handle, local, "a batch result")]
        ran = {r.custom_id for r in results if not r.unfinished}
        for _, line in self.book.lines(record.name):
            if line.custom_id in ran:
                continue
            if record.remote_status == "failed":  # nothing ran: each line is a failed try
                results.append(Result(line.custom_id, error=f"the batch failed: {record.error or 'no reason given'}"))
            elif self._sent[line.key] > 0:  # never run: that submission was no try
                self._sent[line.key] -= 1
        stored = store_results(self.store, self.book, results, "batch", batch=record.name,
                               tries=lambda key: max(1, self._sent[key]),
                               on_answer=lambda answer: self.on_answer(answer) if answer.ok else None)
        self.book.update(record.name, state="collected")
        if record.remote_status == "cancelled" and record.name in self._watched:
            raise ServerError(f"batch {record.name} ({record.batch_id}) was cancelled: its "
                              f"{len(stored.outcomes):,} finished answers are stored; run again to send the rest")
        return stored.outcomes
