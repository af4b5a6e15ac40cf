"""The record of a run folder's batches, kept in its answer store (tables `batches` and
`batch_lines`), so that a run started again, on another day, picks up what is in flight.

A batch moves through these states, each written before the next step is taken:

    written    its input file is in the folder (`mode` "remote": to upload; "files": --batch-files,
               waiting for `critic annotate import`)
    uploaded   the provider holds the file (`input_file_id`)
    submitted  the provider runs it (`batch_id`; `remote_status` is what it said last)
    collected  its results are stored; lines without one are asked again

Each line names its request's store key, kind and attempt: a result is matched to its request by
`custom_id` alone, in whatever order results come back.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, fields
from typing import Any

from critic.annotate.answer_store import AnswerStore, Key

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
"""Remote statuses after which a batch changes no more."""


@dataclass(frozen=True)
class BatchRecord:
    """One batch as the folder records it."""

    name: str
    provider: str
    stage: str
    mode: str
    path: str
    lines: int
    bytes: int
    state: str
    input_file_id: str | None = None
    batch_id: str | None = None
    remote_status: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    error: str | None = None
    created: float = 0.0
    updated: float = 0.0

    @property
    def open(self) -> bool:
        """Not collected yet."""
        return self.state != "collected"


@dataclass(frozen=True)
class Line:
    """One request of a batch."""

    custom_id: str
    key: Key
    kind: str
    attempt: int


COLUMNS = [f.name for f in fields(BatchRecord)]


class BatchBook:
    """Reads and writes the batch tables of one answer store."""

    def __init__(self, store: AnswerStore) -> None:
        self.store = store
        self.present = store.version >= 3  # an older folder, opened read-only, has no batches

    def add(self, record: BatchRecord, lines: list[Line]) -> None:
        """Record a batch and its lines in one transaction."""
        now = time.time()
        values = {**record.__dict__, "created": now, "updated": now}
        self.store.sql_many(f"INSERT INTO batches ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                            [tuple(values[c] for c in COLUMNS)])
        self.store.sql_many(
            "INSERT OR REPLACE INTO batch_lines (batch, custom_id, stage, painting, provider, prompt_sha, kind,"
            " attempt) VALUES (?,?,?,?,?,?,?,?)",
            [(record.name, ln.custom_id, ln.key.stage, ln.key.painting, ln.key.provider, ln.key.prompt_sha, ln.kind,
              ln.attempt) for ln in lines])

    def update(self, name: str, **changes: Any) -> BatchRecord:
        """Change some fields of a batch (committed at once); the record as it is now."""
        changes["updated"] = time.time()
        assignments = ", ".join(f"{column}=?" for column in changes)
        self.store.sql(f"UPDATE batches SET {assignments} WHERE name=?", (*changes.values(), name))
        return self.get(name)

    def get(self, name: str) -> BatchRecord:
        """One batch by name."""
        rows = self.store.sql(f"SELECT {', '.join(COLUMNS)} FROM batches WHERE name=?", (name,))
        return BatchRecord(*rows[0])

    def all(self) -> list[BatchRecord]:
        """Every batch, oldest first."""
        if not self.present:
            return []
        rows = self.store.sql(f"SELECT {', '.join(COLUMNS)} FROM batches ORDER BY created, name")
        return [BatchRecord(*row) for row in rows]

    def lines(self, name: str | None = None, custom_ids: set[str] | None = None) -> list[tuple[str, Line]]:
        """(batch name, line) of one batch, or of every batch; only `custom_ids` when given."""
        query = "SELECT batch, custom_id, stage, painting, provider, prompt_sha, kind, attempt FROM batch_lines"
        rows = self.store.sql(query + " WHERE batch=?", (name,)) if name else self.store.sql(query)
        found = []
        for batch, ident, stage, painting, provider, sha, kind, attempt in rows:
            if custom_ids is None or ident in custom_ids:
                found.append((batch, Line(ident, Key(stage, painting, provider, sha), kind, attempt)))
        return found

    def holding(self, keys: set[Key], mode: str) -> dict[str, set[Key]]:
        """Open batches of `mode` that hold any of `keys`: name -> the keys of `keys` it holds."""
        if not self.present or not keys:
            return {}
        rows = self.store.sql(
            "SELECT l.batch, l.stage, l.painting, l.provider, l.prompt_sha FROM batch_lines l"
            " JOIN batches b ON b.name = l.batch WHERE b.mode=? AND b.state != 'collected'", (mode,))
        held: dict[str, set[Key]] = {}
        for batch, *fields_ in rows:
            key = Key(*fields_)
            if key in keys:
                held.setdefault(batch, set()).add(key)
        return held

    def next_name(self, stage: str, provider: str) -> str:
        """A new batch's name (also its input file's name): stage, provider and a number."""
        count = self.store.sql("SELECT COUNT(*) FROM batches")[0][0]
        return f"{stage}-{re.sub(r'[^A-Za-z0-9_.-]', '_', provider)}-{count + 1:04d}"
