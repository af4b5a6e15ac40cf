"""Opening a file the user named, and saying plainly what it is when it is not a file.

A FIFO or a device (``/dev/zero``) reports size 0 and reads forever or blocks; a symlink
loop looks, to `Path.exists`, like a missing file. Every reader of a user's file opens it
here: the descriptor is opened without blocking, then checked with `fstat`, so what is
read is what was checked (no window between a check and an open).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO


class NotRegular(Exception):
    """`path` is not a readable regular file; `str(err)` says what it is. `kind`: "missing",
    "folder", "loop", "special" (FIFO, device, socket) or "unreadable"."""

    def __init__(self, problem: str, kind: str) -> None:
        super().__init__(problem)
        self.kind = kind


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def open_regular(path: str | Path) -> BinaryIO:
    """`path` opened for binary reading; NotRegular when it is missing, a symlink loop, a
    folder, a FIFO, a device or a socket, or cannot be opened."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise NotRegular("a symlink loop (the link leads back to itself), not a file", "loop") from None
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            dangling = path.is_symlink()
            raise NotRegular(f"a symlink to {os.readlink(path)}, which does not exist" if dangling
                             else "no such file", "unreadable" if dangling else "missing") from None
        if err.errno == errno.EISDIR:
            raise NotRegular("is a folder, not a file", "folder") from None
        raise NotRegular(f"cannot be opened ({err.strerror})", "unreadable") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                raise NotRegular("is a folder, not a file", "folder")
            raise NotRegular(f"{_kind(mode)}, not a regular file", "special")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
