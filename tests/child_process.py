"""Interrupting a command that runs in a child process once it has done enough (kill -9, Ctrl-C)."""

from __future__ import annotations

import subprocess
import time
from typing import Callable


def signal_when(child: subprocess.Popen, ready: Callable[[], bool], sig: int, what: str,
                timeout: float = 120.0) -> None:
    """Send `sig` to `child` as soon as `ready()` holds (polled every 20 ms).

    Fails the test with the child's output if it ends first, or with `what` after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while not ready():
        if child.poll() is not None:
            out, err = child.communicate()
            raise AssertionError(f"the child ended first (exit {child.returncode}): {out!r} {err!r}")
        assert time.monotonic() < deadline, what
        time.sleep(0.02)
    child.send_signal(sig)
