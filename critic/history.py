"""Saved conversations: an SQLite file in the data directory, one row per conversation and per turn.

The schema only ever grows through `MIGRATIONS`, a list that is appended to and never edited:
the database's ``PRAGMA user_version`` is the number of migrations it has had, and each
applied migration's name is kept in ``migrations`` so a file from another line of
development is refused instead of being silently misread. Every operation opens its own
short connection, so the chat's generation thread and its interface thread never share one.
"""

from __future__ import annotations

import errno
import json
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from critic.core.errors import BadData, UsageError
from critic.core.paths import data_dir
from critic.core.store import write_error

HISTORY_NAME = "history.db"


@dataclass(frozen=True)
class Migration:
    """One schema step: a name that never changes and the SQL that performs it."""

    name: str
    sql: str


# Append only: a released database may be at any prefix of this list.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "conversations-and-turns",
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            image_path TEXT NOT NULL,
            image_sha256 TEXT NOT NULL,
            model TEXT NOT NULL,
            quantization TEXT NOT NULL DEFAULT '',
            model_sha256 TEXT NOT NULL DEFAULT '',
            settings TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            partial INTEGER NOT NULL DEFAULT 0,
            timings TEXT NOT NULL DEFAULT '{}',
            created TEXT NOT NULL,
            UNIQUE (conversation_id, position)
        );
        CREATE INDEX conversations_by_update ON conversations(updated);
        """,
    ),
    Migration("turn-seeds", "ALTER TABLE turns ADD COLUMN seed INTEGER;"),
    Migration("turn-temperatures", "ALTER TABLE turns ADD COLUMN temperature REAL;"),
    Migration(
        "conversation-details",
        "ALTER TABLE conversations ADD COLUMN region TEXT NOT NULL DEFAULT '';\n"
        "ALTER TABLE conversations ADD COLUMN parent_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL;",
    ),
    Migration("turn-runtime", "ALTER TABLE turns ADD COLUMN runtime TEXT NOT NULL DEFAULT '{}';"),
)


@dataclass
class SavedTurn:
    """One exchange as stored."""

    question: str
    answer: str
    partial: bool = False
    timings: dict = field(default_factory=dict)
    seed: int | None = None
    temperature: float | None = None  # when not the conversation's (a regenerated answer sampled anew)
    runtime: dict = field(default_factory=dict)
    """Where the answer was computed: backend, device, layers on the GPU, threads."""


@dataclass
class Provenance:
    """Where a conversation's answers came from: the painting, the model and the settings.

    The history stores it with every conversation, and a saved transcript (Markdown or HTML)
    prints it at the top."""

    image_path: str
    image_sha256: str
    model: str
    quantization: str = ""
    model_sha256: str = ""
    settings: dict = field(default_factory=dict)
    region: dict = field(default_factory=dict)
    """For a conversation about a detail: `critic.core.regions.Detail.to_dict` (the painting is still
    `image_path` and `image_sha256`); empty for the whole painting."""


@dataclass(kw_only=True)
class SavedConversation(Provenance):
    """A conversation as stored: its provenance, when, and every turn."""

    id: int
    created: str
    updated: str
    turns: list[SavedTurn] = field(default_factory=list)
    parent_id: int | None = None
    """For a detail: the conversation about the whole painting it was opened from, when that one was saved."""


@dataclass(frozen=True)
class ConversationSummary:
    """One line of `critic chat --history`."""

    id: int
    updated: str
    image_path: str
    model: str
    turns: int
    first_question: str
    region: str = ""
    """The detail's region (X,Y,W,H fractions) for a conversation about a detail."""


def _region(stored: str | None) -> dict:
    """A conversation's stored region ({} for the whole painting, or for one that does not read as JSON)."""
    try:
        region = json.loads(stored) if stored else {}
    except ValueError:
        return {}
    return region if isinstance(region, dict) else {}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def migrate(db: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring `db` up to the last migration; return the schema version it ends at."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise BadData(
            f"the chat history was written by a newer critic (schema {version}, this one knows "
            f"{len(migrations)}): upgrade critic, or move {HISTORY_NAME} aside"
        )
    if version:
        applied = [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY version")]
        expected = [m.name for m in migrations[:version]]
        if applied != expected:
            raise BadData(
                f"the chat history's schema ({', '.join(applied)}) is not one this critic wrote: "
                f"move {HISTORY_NAME} aside"
            )
    for number, migration in enumerate(migrations[version:], start=version + 1):
        # One transaction per migration: the schema change, its record and the version move together.
        db.executescript(
            "BEGIN;\n"
            + ("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL);\n"
               if number == 1 else "")
            + migration.sql
            + f";\nINSERT INTO migrations VALUES ({number}, '{migration.name}', '{_now()}');"
            + f"\nPRAGMA user_version = {number};\nCOMMIT;"
        )
    return len(migrations)


def _refused_write(err: sqlite3.OperationalError) -> str:
    """"full" when SQLite failed for want of space (SQLITE_FULL), "io" for SQLITE_IOERR (what a write past a
    file-size limit gives), else ""."""
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+; before, SQLite's own messages tell them apart
    if code == 13 or code is None and "disk is full" in str(err):
        return "full"
    if code is not None and code & 0xFF == 10 or code is None and "disk I/O error" in str(err):
        return "io"
    return ""


class History:
    """The conversation store; `path` defaults to ``history.db`` in the data directory."""

    def __init__(self, path: Path | None = None, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
        self.path = Path(path) if path else data_dir() / HISTORY_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as db:
                migrate(db, migrations)
        except sqlite3.OperationalError as err:
            refused = _refused_write(err)
            if refused:  # the first run on a full disk
                raise write_error(self.path, OSError(errno.ENOSPC if refused == "full" else errno.EIO, str(err)),
                                  f"the disk refused the write ({err}: a file-size limit, or a failing disk)") from None
            raise  # a migration that fails is a bug, not the user's file
        except sqlite3.DatabaseError as err:
            raise BadData(f"{self.path}: not a readable chat history ({err}); move it aside") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10.0, isolation_level=None)) as db:
            db.execute("PRAGMA foreign_keys = ON")
            yield db

    def create(self, image_path: str | Path, image_sha256: str, model: str, quantization: str = "",
               model_sha256: str = "", settings: dict | None = None, region: dict | None = None,
               parent_id: int | None = None) -> int:
        """Start a conversation; return its id. A detail's gives its `region` and the conversation about the
        whole painting it came from (`parent_id`)."""
        now = _now()
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO conversations (created, updated, image_path, image_sha256, model, quantization, "
                "model_sha256, settings, region, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, now, str(image_path), image_sha256, model, quantization, model_sha256,
                 json.dumps(settings or {}), json.dumps(region) if region else "", parent_id),
            )
            return int(cursor.lastrowid)

    def add_turn(self, conversation_id: int, turn: SavedTurn, replace_last: bool = False) -> int:
        """Append a turn (or put it in place of the last one); return its position."""
        now = _now()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                last = db.execute("SELECT MAX(position) FROM turns WHERE conversation_id = ?",
                                  (conversation_id,)).fetchone()[0]
                if replace_last and last is not None:
                    db.execute("DELETE FROM turns WHERE conversation_id = ? AND position = ?",
                               (conversation_id, last))
                    position = last
                else:
                    position = 0 if last is None else last + 1
                db.execute(
                    "INSERT INTO turns (conversation_id, position, question, answer, partial, timings, created, seed, "
                    "temperature, runtime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (conversation_id, position, turn.question, turn.answer, int(turn.partial),
                     json.dumps(turn.timings), now, turn.seed, turn.temperature, json.dumps(turn.runtime)),
                )
                db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return position

    def get(self, conversation_id: int) -> SavedConversation:
        """One conversation with its turns; UsageError if there is none with that id."""
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise UsageError(f"no saved conversation {conversation_id}: see `critic chat --history`")
            turns = [
                SavedTurn(t["question"], t["answer"], bool(t["partial"]), json.loads(t["timings"]), t["seed"],
                          t["temperature"], json.loads(t["runtime"] or "{}"))
                for t in db.execute("SELECT * FROM turns WHERE conversation_id = ? ORDER BY position",
                                    (conversation_id,))
            ]
        return SavedConversation(
            id=row["id"], created=row["created"], updated=row["updated"], image_path=row["image_path"],
            image_sha256=row["image_sha256"], model=row["model"], quantization=row["quantization"],
            model_sha256=row["model_sha256"], settings=json.loads(row["settings"]), turns=turns,
            region=_region(row["region"]), parent_id=row["parent_id"],
        )

    def latest_id(self) -> int | None:
        """The most recently updated conversation's id, if any."""
        with self._connect() as db:
            row = db.execute("SELECT id FROM conversations ORDER BY updated DESC, id DESC LIMIT 1").fetchone()
        return int(row[0]) if row else None

    def list(self, limit: int = 50, skip_question: str = "") -> list[ConversationSummary]:
        """The most recently updated conversations first; `first_question` is the first one that is
        not `skip_question` (the default question says nothing about which conversation it was)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT c.id, c.updated, c.image_path, c.model, COUNT(t.id), "
                "(SELECT question FROM turns WHERE conversation_id = c.id AND question != ? "
                "ORDER BY position LIMIT 1), c.region "
                "FROM conversations c LEFT JOIN turns t ON t.conversation_id = c.id "
                "GROUP BY c.id ORDER BY c.updated DESC, c.id DESC LIMIT ?",
                (skip_question, limit),
            ).fetchall()
        return [ConversationSummary(r[0], r[1], r[2], r[3], r[4], r[5] or "", str(_region(r[6]).get("text", "")))
                for r in rows]

    def about_image(self, image_sha256: str, details: bool = False) -> list[int]:
        """Ids of the conversations about the painting with this sha256 (with `details`, those about its
        details too), the most recently updated first."""
        whole = "" if details else " AND region = ''"
        with self._connect() as db:
            rows = db.execute(f"SELECT id FROM conversations WHERE image_sha256 = ?{whole} "
                              "ORDER BY updated DESC, id DESC", (image_sha256,)).fetchall()
        return [int(row[0]) for row in rows]

    def move_image(self, conversation_id: int, image_path: str | Path) -> None:
        """Record where a conversation's painting is now (the same file, found elsewhere)."""
        with self._connect() as db:
            db.execute("UPDATE conversations SET image_path = ? WHERE id = ?", (str(image_path), conversation_id))

    def delete(self, conversation_id: int) -> None:
        """Remove a conversation and its turns."""
        with self._connect() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
