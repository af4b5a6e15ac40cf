"""Durable outputs: atomic file writes, append-only JSONL logs that survive a kill, and output locks.

Every batch in the project (analyze, eval generate, annotate) writes through these, so a
result on disk is either whole or absent and a rerun knows exactly what is done.

Temporaries are named ``.NAME.PID.XXXX.part`` beside the output NAME: a run killed mid-write
leaves one behind, and the next writer of NAME removes those whose process is gone
(`clear_stale_partials`; a live one, even a reused PID, is left alone). Outputs get the
user's umask, as any file they create would, not the private mode of a temporary.

A write that fails for want of space (ENOSPC, EDQUOT, or EFBIG from a file-size limit) is a
`WriteFailed` naming the file and the space left: the temporary is removed and a JSONL log
is cut back to its last whole record, so a rerun finds only complete results.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from critic.core.errors import BadData, WriteFailed

log = logging.getLogger("critic")


def umask() -> int:
    """The process's umask (read without changing it where the system allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


_ROOM = "make room and run the same command again"
_NO_SPACE = {errno.ENOSPC: ("the disk is full", _ROOM), getattr(errno, "EDQUOT", -1): ("the disk quota is used up", _ROOM),
             errno.EFBIG: ("the file would pass the size limit", "raise the limit (`ulimit -f`) or write elsewhere")}


def free_space(path: Path) -> str:
    """The space left on the disk holding `path` (or its nearest existing folder), in a unit that fits."""
    place = Path(path).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        size = float(shutil.disk_usage(place).free)
    except OSError:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def write_error(path: Path, err: OSError, reason: str = "") -> OSError:
    """`err`, a failed write of `path`, as a one-line `WriteFailed` when it is a lack of space (or when
    `reason` says what refused it); else `err` itself."""
    if isinstance(err, WriteFailed):
        return err
    known, advice = _NO_SPACE.get(err.errno or 0, (reason, _ROOM))
    if not known:
        return err
    return WriteFailed(f"{path}: not written, {known} ({free_space(path)} free there); nothing half-written "
                       f"was kept: {advice}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clear_stale_partials(final: Path) -> list[Path]:
    """Remove the temporaries of `final` left by runs that are gone; return what was removed."""
    final = Path(final)
    removed = []
    if not final.parent.is_dir():
        return removed
    for path in final.parent.glob(f".{final.name}.*.part"):
        owner = path.name[len(final.name) + 2:].split(".", 1)[0]
        if owner.isdigit() and (int(owner) == os.getpid() or _pid_alive(int(owner))):
            continue  # a live writer's (or, with a reused PID, left alone to be safe)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _prepare(final: Path) -> Path:
    """`final`'s folder made, and what interrupted runs left of `final` removed, saying so."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(final, err) from None
    for stale in clear_stale_partials(final):
        log.warning("critic: removed %s, left by an interrupted run", stale)
    return final


def partial_dir(final: Path) -> Path:
    """A new temporary folder for `final` (stale ones of earlier runs removed and said so), with the umask's mode."""
    final = _prepare(final)
    path = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".part", dir=final.parent))
    os.chmod(path, 0o777 & ~umask())
    return path


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it over `final` only on success. A write to it
    that fails for want of space is a `WriteFailed` naming `final`, and `final` is left as it was."""
    final = _prepare(final)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".part", dir=final.parent)
    except OSError as err:
        raise write_error(final, err) from None
    os.fchmod(fd, 0o666 & ~umask())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, final)
    except OSError as err:
        raise write_error(final, err) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def write_atomic(final: Path, data: str | bytes) -> None:
    """Write `data` to `final` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


@contextlib.contextmanager
def output_lock(out: Path, what: str) -> Iterator[None]:
    """Hold `out` (a file or a folder) for this run; a second run on it stops with a clear error.

    An advisory lock on ``.NAME.lock`` beside the file (or ``.lock`` inside the folder) that
    `out` resolves to, so a symlink or another spelling of the path meets the same lock. The
    system releases it when the process ends, however it ends; the file is removed when the run
    ends, and one left by a killed run is simply taken over. Where the platform has no `fcntl`
    (Windows), runs are not locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    out = Path(out).resolve()
    lock = out / ".lock" if out.is_dir() else out.with_name(f".{out.name}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(out, err) from None
    fd = _take_lock(lock, out, what, fcntl)
    try:
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"process {os.getpid()}".encode())
        except OSError:
            pass  # a full disk: the lock holds without its owner's name
        yield
    finally:
        with contextlib.suppress(OSError):
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                lock.unlink()  # while still held: a run waiting on this file finds it gone and retries
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _take_lock(lock: Path, out: Path, what: str, fcntl) -> int:
    """A descriptor of `lock`, locked; retried when the holder removed the file meanwhile."""
    from critic.core.errors import UsageError

    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise write_error(out, err) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise UsageError(f"{out} is being written by another `{what}` run ({owner}); "
                             "wait for it to finish, or give another --out") from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the run before removed it as we opened it: lock the file there now


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a JSONL file; a torn last line (a kill mid-write) is ignored."""
    if not Path(path).exists():
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def jsonl_objects(lines: Iterable[str], source: object, each: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of JSONL input whose lines must be JSON
    objects; BadData naming the first line that is not (`each` says what a line must be)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise BadData(f"{source} line {number}: not JSON ({err.msg}): fix or remove that line") from None
        if not isinstance(row, dict):
            raise BadData(f"{source} line {number}: not a JSON object: {each}")
        yield number, row


class JsonlLog:
    """An append-only JSONL file: each record is flushed and fsynced as it is written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()

    def _repair(self) -> None:
        """Cut a torn last line left by a kill, so the next record starts on its own line."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.path, "rb+") as handle:
                handle.truncate(keep)

    def records(self) -> list[dict[str, Any]]:
        """All records written so far."""
        return read_jsonl(self.path)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably; on a failed write (a full disk) cut the file back to the records before
        it and raise (`WriteFailed` for a lack of space)."""
        data = memoryview((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as err:
            raise write_error(self.path, err) from None
        try:
            whole = os.fstat(fd).st_size
            try:
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            except OSError as err:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, whole)
                raise write_error(self.path, err) from None
        finally:
            os.close(fd)
