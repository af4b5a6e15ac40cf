"""Outputs under stress: a write that fails for want of space is one line naming the file and leaves
nothing torn; one lock per output, whatever path leads to it, and no lock file left behind.

The full disk is real where it can be: a child process with a file-size limit (RLIMIT_FSIZE) gets
EFBIG from the system on the write past it, as a full disk gives ENOSPC. ENOSPC itself cannot be
produced on demand without privileges, so it is injected into the write call.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from critic.cli import main
from critic.core.errors import UsageError, WriteFailed
from critic.core.store import JsonlLog, output_lock, write_atomic

# -- locks ------------------------------------------------------------------------------------------


def test_a_symlink_or_another_spelling_meets_the_same_lock(tmp_path):
    out = tmp_path / "results.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(out.name)
    (tmp_path / "sub").mkdir()
    for held, other in ((out, link), (link, out), (out, tmp_path / "sub" / ".." / "results.jsonl")):
        with output_lock(held, "critic analyze"):
            with pytest.raises(UsageError, match="being written by another `critic analyze` run"):
                with output_lock(other, "critic analyze"):
                    pass


def test_a_run_through_a_symlink_is_refused_while_another_writes(installed_model, painting, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(out)
    with output_lock(out, "critic analyze"):
        assert main(["analyze", str(painting), "--out", str(link), "--max-tokens", "2", "--threads", "1"]) == 2
    assert "is being written by another `critic analyze` run" in capsys.readouterr().err
    assert not out.exists()


def test_lock_files_go_when_the_run_ends_and_a_stale_one_is_taken_over_silently(installed_model, painting,
                                                                                  tmp_path, capsys):
    out = tmp_path / "out" / "results.jsonl"
    args = ["analyze", str(painting), "--out", str(out), "--max-tokens", "2", "--threads", "1"]
    assert main(args) == 0
    assert [p.name for p in out.parent.iterdir()] == ["results.jsonl"]
    (out.parent / ".results.jsonl.lock").write_text("process 999999")  # left by a run that was killed
    out.unlink()
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert ".lock" not in err and "999999" not in err and "stale" not in err
    assert [p.name for p in out.parent.iterdir()] == ["results.jsonl"]
    folder = tmp_path / "annotations"
    folder.mkdir()
    with output_lock(folder, "critic annotate run"):
        assert (folder / ".lock").read_text() == f"process {os.getpid()}"
    assert list(folder.iterdir()) == []


def test_a_lock_file_removed_as_it_is_taken_is_taken_again(tmp_path, monkeypatch):
    import fcntl

    out = tmp_path / "results.jsonl"
    lock = tmp_path / ".results.jsonl.lock"
    real_flock = fcntl.flock
    calls = []

    def flock(fd, operation):
        real_flock(fd, operation)
        if not calls:  # the run before ended right then, removing the file this run had opened
            lock.unlink()
        calls.append(operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    with output_lock(out, "critic analyze"):
        # the file at the lock's path is the one locked, so a third run is refused
        assert lock.read_text() == f"process {os.getpid()}"
        monkeypatch.setattr(fcntl, "flock", real_flock)
        with open(lock) as other:
            with pytest.raises(BlockingIOError):
                real_flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert not lock.exists()


# -- a full disk, injected ------------------------------------------------------------------------------


def _failing_writes(monkeypatch, folder: Path, allowed: int, code: int = errno.ENOSPC) -> None:
    """os.write to a file in `folder` writes `allowed` bytes in all, then fails with `code`."""
    real_write = os.write
    left = [allowed]

    def write(fd, data):
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(str(folder)):
            return real_write(fd, data)
        if not left[0]:
            raise OSError(code, os.strerror(code))
        written = real_write(fd, bytes(data)[:left[0]])
        left[0] -= written
        return written

    monkeypatch.setattr(os, "write", write)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names open files through /proc")
def test_a_record_that_does_not_fit_is_cut_back_and_named(tmp_path, monkeypatch):
    log = JsonlLog(tmp_path / "results.jsonl")
    log.append({"key": "a", "analysis": "whole"})
    before = log.path.read_bytes()
    _failing_writes(monkeypatch, tmp_path, allowed=10)
    with pytest.raises(WriteFailed) as failed:
        log.append({"key": "b", "analysis": "x" * 100})
    message = str(failed.value)
    assert message.startswith(f"{log.path}: not written, the disk is full (") and "free there" in message
    assert "\n" not in message and failed.value.exit_code == 12 and isinstance(failed.value, OSError)
    assert log.path.read_bytes() == before  # no torn line for a rerun to read


def test_a_document_that_does_not_fit_leaves_the_old_one(tmp_path, monkeypatch):
    final = tmp_path / "handout.md"
    write_atomic(final, "the complete handout\n")

    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(WriteFailed, match=f"^{final}: not written, the disk is full"):
        write_atomic(final, "a longer handout\n" * 100)
    assert final.read_text() == "the complete handout\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["handout.md"]


# -- a full disk, for real: a file-size limit -------------------------------------------------------------


def _limited(argv: list[str], limit: int) -> subprocess.CompletedProcess:
    """`critic ARGV` in a child that may write no file past `limit` bytes (writes past it fail with EFBIG)."""
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code = "import sys; from critic.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, preexec_fn=preexec,
                          timeout=300)


def _paintings(painting: Path, folder: Path, count: int) -> list[str]:
    folder.mkdir()
    paths = []
    for number in range(count):
        path = folder / f"p{number}.jpg"
        path.write_bytes(painting.read_bytes() + bytes(number))  # another file, another sha256
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("name", ["results.jsonl", "handout.md"])
def test_a_batch_on_a_full_disk_stops_with_one_line_and_resumes(installed_model, painting, tmp_path, name):
    paths = _paintings(painting, tmp_path / "paintings", 3)
    out = tmp_path / name
    args = ["analyze", *paths, "--out", str(out), "--max-tokens", "4", "--threads", "1", "--no-facts"]
    first = _limited(args, limit=2500)  # a record is ~1.5 kB: the second does not fit
    assert first.returncode == WriteFailed.exit_code, first.stderr
    assert "Traceback" not in first.stderr
    error = first.stderr.strip().splitlines()[-1]
    assert error.startswith("critic: error: ") and "not written, the file would pass the size limit" in error
    assert str(tmp_path) in error and "free there" in error
    records = out if name.endswith(".jsonl") else tmp_path / f".{name}.records.jsonl"
    kept = records.read_text().splitlines(keepends=True)
    assert all(line.endswith("\n") and json.loads(line)["status"] == "ok" for line in kept)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith((".part", ".lock"))]
    again = _limited(args, limit=resource.RLIM_INFINITY)
    assert again.returncode == 0, again.stderr
    keys = [json.loads(line)["key"] for line in records.read_text().splitlines()]
    assert len(keys) == 3 == len(set(keys))
    if name.endswith(".md"):
        assert out.read_text().count("# Formal analysis") == 3


def test_the_first_chat_on_a_full_disk_is_one_line(critic_home, tmp_path):
    first = _limited(["chat", "--history"], limit=1000)  # the history database's first page does not fit
    assert first.returncode == WriteFailed.exit_code, first.stderr
    assert "Traceback" not in first.stderr
    (line,) = first.stderr.strip().splitlines()
    assert line.startswith(f"critic: error: {critic_home / 'history.db'}: not written, the disk refused the write")
    again = _limited(["chat", "--history"], limit=resource.RLIM_INFINITY)
    assert again.returncode == 0 and "no saved conversations yet" in again.stdout


def test_installing_a_model_on_a_full_disk_is_one_line_and_leaves_nothing(tiny_gguf, critic_home):
    from critic.core.manifest import Manifest

    manifest = Manifest.read(tiny_gguf)
    limit = (tiny_gguf / manifest.llm.path).stat().st_size // 2  # the LLM does not fit
    first = _limited(["models", "add", str(tiny_gguf), "--name", "tiny"], limit=limit)
    assert first.returncode == WriteFailed.exit_code, first.stderr
    assert "Traceback" not in first.stderr
    (line,) = first.stderr.strip().splitlines()
    assert "not written, the file would pass the size limit" in line and manifest.llm.path in line
    models = critic_home / "models"
    assert not [p.name for p in models.iterdir()] if models.exists() else True  # no .tiny.part, no half model
    again = _limited(["models", "add", str(tiny_gguf), "--name", "tiny"], limit=resource.RLIM_INFINITY)
    assert again.returncode == 0, again.stderr
