"""Handing work from a worker thread back to a Textual app's interface thread."""

from __future__ import annotations

from typing import Callable

from textual.app import App


def to_ui(app: App, callback: Callable, *args) -> bool:
    """Run `callback` on `app`'s interface thread; False once the app has stopped.

    A worker that finishes while the app is closing would otherwise raise from
    `call_from_thread`; it is told to stop instead.
    """
    if not app.is_running:
        return False
    try:
        app.call_from_thread(callback, *args)
    except RuntimeError:
        if app.is_running:
            raise
        return False
    return True
