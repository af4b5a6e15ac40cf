"""The chat history store: schema versions, append-only migrations, turns kept in order."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from critic.core.errors import BadData, UsageError
from critic.history import HISTORY_NAME, MIGRATIONS, History, Migration, SavedTurn

# Names of migrations already released. A new migration is appended to MIGRATIONS; changing,
# removing or reordering one of these breaks every database that has it, so this list fails then.
RELEASED = ["conversations-and-turns"]


def test_released_migrations_are_never_rewritten():
    assert [m.name for m in MIGRATIONS[: len(RELEASED)]] == RELEASED
    assert len({m.name for m in MIGRATIONS}) == len(MIGRATIONS)


def test_new_database_is_at_the_last_version_in_the_data_dir(critic_home):
    history = History()
    assert history.path == critic_home / HISTORY_NAME
    with sqlite3.connect(history.path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        names = [r[0] for r in db.execute("SELECT name FROM migrations ORDER BY version")]
    assert names == [m.name for m in MIGRATIONS]


def test_turns_round_trip_in_order_and_replace_last(tmp_path):
    history = History(tmp_path / "h.db")
    cid = history.create(tmp_path / "a.jpg", "ab" * 32, "tiny", "F16", "cd" * 32, {"max_tokens": 64})
    history.add_turn(cid, SavedTurn("first?", "one", timings={"generation": 0.5}))
    history.add_turn(cid, SavedTurn("second?", "two (cut", partial=True))
    assert history.add_turn(cid, SavedTurn("second?", "two again"), replace_last=True) == 1
    saved = history.get(cid)
    assert (saved.model, saved.quantization, saved.settings) == ("tiny", "F16", {"max_tokens": 64})
    assert [(t.question, t.answer, t.partial) for t in saved.turns] == [
        ("first?", "one", False), ("second?", "two again", False)]
    assert saved.turns[0].timings == {"generation": 0.5}


def test_list_is_newest_first_with_counts(tmp_path):
    history = History(tmp_path / "h.db")
    first = history.create("a.jpg", "a" * 64, "tiny")
    history.add_turn(first, SavedTurn("about a?", "yes"))
    second = history.create("b.jpg", "b" * 64, "tiny")
    rows = history.list()
    assert [r.id for r in rows] == [second, first]
    assert (rows[1].turns, rows[1].first_question, rows[0].turns) == (1, "about a?", 0)
    assert history.latest_id() == second
    history.delete(second)
    assert history.latest_id() == first


def test_unknown_conversation_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="critic chat --history"):
        History(tmp_path / "h.db").get(42)


def test_an_appended_migration_upgrades_an_old_file_and_keeps_its_data(tmp_path):
    path = tmp_path / "h.db"
    old = History(path)
    cid = old.create("a.jpg", "a" * 64, "tiny")
    old.add_turn(cid, SavedTurn("kept?", "kept"))
    later = MIGRATIONS + (Migration("turn-ratings", "ALTER TABLE turns ADD COLUMN rating INTEGER"),)
    upgraded = History(path, migrations=later)
    assert upgraded.get(cid).turns[0].answer == "kept"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(later)
        assert "rating" in [r[1] for r in db.execute("PRAGMA table_info(turns)")]
    History(path, migrations=later)  # already current: nothing to do


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "h.db"
    History(path)
    broken = MIGRATIONS + (Migration("broken", "ALTER TABLE turns ADD COLUMN x INTEGER; ALTER TABLE nowhere ADD y"),)
    with pytest.raises(sqlite3.OperationalError):
        History(path, migrations=broken)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert "x" not in [r[1] for r in db.execute("PRAGMA table_info(turns)")]


def test_a_newer_or_foreign_schema_is_refused(tmp_path):
    path = tmp_path / "h.db"
    History(path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(BadData, match="newer critic"):
        History(path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        db.execute("UPDATE migrations SET name = 'something-else' WHERE version = 1")
    with pytest.raises(BadData, match="move history.db aside"):
        History(path)


def test_a_file_that_is_not_sqlite_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "h.db"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(BadData, match="move it aside"):
        History(path)


def test_two_threads_appending_get_distinct_positions(tmp_path):
    history = History(tmp_path / "h.db")
    cid = history.create("a.jpg", "a" * 64, "tiny")

    def add(tag: str) -> None:
        for i in range(10):
            history.add_turn(cid, SavedTurn(f"{tag}{i}", "x"))

    threads = [threading.Thread(target=add, args=(tag,)) for tag in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    questions = [t.question for t in history.get(cid).turns]
    assert len(questions) == 20 and sorted(questions) == sorted(f"{t}{i}" for t in "ab" for i in range(10))
