"""Every answer a provider gave, stored the moment it arrives.

One SQLite file per run folder (WAL, synchronous=FULL, a commit per answer), keyed by
(stage, painting, provider, prompt sha256). A run looks here before sending anything, so a
rerun, or a run after kill -9, sends only what is missing. Failures are stored too (with the
reply text when there was one) and are asked again by the next run; an answer replaces them.
An answer that came back but is not what the stage asked for (annotate.validate) keeps the
reason in `rejected`, written when the answer is stored and brought up to date whenever a run
judges it again, so the counts a run reports survive a kill and can be read without replaying.
`via` says how an answer came: "live" (a chat request), "batch" (a Batch-API job, priced at the
provider's batch rate) or "import" (`critic annotate import`). The same file holds the record of
the batches (`annotate.batch_book`). The schema is versioned with `PRAGMA user_version` and
upgraded by append-only migrations.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

FILENAME = "annotate.sqlite"

# Append-only: never edit a migration that has shipped, add the next one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE answers (
        stage TEXT NOT NULL,
        painting TEXT NOT NULL,
        provider TEXT NOT NULL,
        prompt_sha TEXT NOT NULL,
        kind TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        value TEXT,
        text TEXT,
        error TEXT,
        messages TEXT NOT NULL,
        model TEXT NOT NULL,
        tokens_in INTEGER NOT NULL DEFAULT 0,
        tokens_out INTEGER NOT NULL DEFAULT 0,
        tries INTEGER NOT NULL DEFAULT 1,
        seconds REAL NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        PRIMARY KEY (stage, painting, provider, prompt_sha)
    );
    """,
    """
    ALTER TABLE answers ADD COLUMN rejected TEXT;
    """,
    """
    ALTER TABLE answers ADD COLUMN via TEXT NOT NULL DEFAULT 'live';
    CREATE TABLE batches (
        name TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        stage TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('remote', 'files')),
        path TEXT NOT NULL,
        lines INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('written', 'uploaded', 'submitted', 'collected')),
        input_file_id TEXT,
        batch_id TEXT,
        remote_status TEXT,
        output_file_id TEXT,
        error_file_id TEXT,
        completed INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE TABLE batch_lines (
        batch TEXT NOT NULL,
        custom_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        painting TEXT NOT NULL,
        provider TEXT NOT NULL,
        prompt_sha TEXT NOT NULL,
        kind TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        PRIMARY KEY (batch, custom_id)
    );
    CREATE INDEX batch_lines_by_custom_id ON batch_lines (custom_id);
    """,
)


@dataclass(frozen=True)
class Key:
    """Which request an answer belongs to."""

    stage: str
    painting: str
    provider: str
    prompt_sha: str


@dataclass(frozen=True)
class Answer:
    """A stored outcome: `ok` with a parsed value, or a failure with an error."""

    key: Key
    kind: str
    attempt: int
    ok: bool
    value: Any
    text: str | None
    error: str | None
    tokens_in: int = 0
    tokens_out: int = 0
    tries: int = 1
    seconds: float = 0.0
    rejected: str | None = None
    via: str = "live"


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=30)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class AnswerStore:
    """The answers of one run folder; safe to use from many threads."""

    def __init__(self, folder: Path | None, readonly: bool = False) -> None:
        """Open (or create) the store of `folder`; None keeps an empty one in memory."""
        if folder is None:
            self.path = None
            self._conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            _migrate(self._conn)
        else:
            self.path = Path(folder) / FILENAME
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self.path, readonly)
            if not readonly:
                _migrate(self._conn)
        # A folder written before `rejected` or `via` existed is read as it is (plan and status never write).
        self.version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        self._rejected = "rejected" if self.version >= 2 else "NULL"
        self._via = "via" if self.version >= 3 else "'live'"
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "AnswerStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, key: Key) -> Answer | None:
        """The stored outcome of a request, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT stage, painting, provider, prompt_sha, kind, attempt, status, value, text,"
                f" error, tokens_in, tokens_out, tries, seconds, {self._rejected}, {self._via} FROM answers"
                " WHERE stage=? AND painting=? AND provider=? AND prompt_sha=?",
                (key.stage, key.painting, key.provider, key.prompt_sha),
            ).fetchone()
        return None if row is None else _answer(row)

    def put(self, answer: Answer, messages: list[dict[str, str]], model: str) -> None:
        """Store one outcome durably (committed before this returns)."""
        k = answer.key
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers (stage, painting, provider, prompt_sha, kind, attempt,"
                " status, value, text, error, messages, model, tokens_in, tokens_out, tries, seconds,"
                " created, rejected, via) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (k.stage, k.painting, k.provider, k.prompt_sha, answer.kind, answer.attempt,
                 "ok" if answer.ok else "failed",
                 json.dumps(answer.value, ensure_ascii=False) if answer.ok else None,
                 answer.text, answer.error, json.dumps(messages, ensure_ascii=False), model,
                 answer.tokens_in, answer.tokens_out, answer.tries, answer.seconds, time.time(),
                 answer.rejected, answer.via),
            )

    def set_rejected(self, key: Key, reason: str | None) -> None:
        """Record (or clear) why a stored answer was rejected."""
        with self._lock:
            self._conn.execute(
                "UPDATE answers SET rejected=? WHERE stage=? AND painting=? AND provider=? AND prompt_sha=?",
                (reason, key.stage, key.painting, key.provider, key.prompt_sha),
            )

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every stored outcome as a dict (for reports and status)."""
        with self._lock:
            cursor = self._conn.execute(
                "SELECT stage, painting, provider, kind, attempt, status, tokens_in, tokens_out,"
                f" tries, error, {self._rejected} AS rejected, {self._via} AS via FROM answers ORDER BY created"
            )
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        for row in rows:
            yield dict(zip(names, row))


    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the run's database (committed at once); its rows."""
        with self._lock:
            return self._conn.execute(query, params).fetchall()

    def sql_many(self, query: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement for each of `rows`, all in one transaction."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(query, rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise


def _answer(row: tuple[Any, ...]) -> Answer:
    (stage, painting, provider, sha, kind, attempt, status, value, text, error,
     tokens_in, tokens_out, tries, seconds, rejected, via) = row
    return Answer(
        Key(stage, painting, provider, sha), kind, attempt, status == "ok",
        json.loads(value) if value is not None else None, text, error,
        tokens_in, tokens_out, tries, seconds, rejected, via,
    )
