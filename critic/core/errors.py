"""Typed errors: each carries a one-line message that says what to do, and an exit code.

The CLI maps them to exit codes in one place (`critic.cli.main`); the TUI shows them as
notifications. A traceback reaches a user only for a bug.
"""

from __future__ import annotations


class CriticError(Exception):
    """Base of every error a user can cause; `str(err)` is the one-line message."""

    exit_code = 1


class UsageError(CriticError):
    """The command line asks for something that cannot be done."""

    exit_code = 2


class BadRegion(UsageError):
    """A detail of a painting that cannot be cut: bad X,Y,W,H, outside the canvas, or empty."""


class ModelNotFound(CriticError):
    """No model of that name, or none installed."""

    exit_code = 3


class BadModelFile(CriticError):
    """A model file is missing, not a GGUF, or not what the manifest promises."""

    exit_code = 4


class ModelMismatch(BadModelFile):
    """The LLM and the mmproj do not belong together."""


class BadImage(CriticError):
    """An image that cannot be read, with the file named."""

    exit_code = 5


class BadCheckpoint(CriticError):
    """A checkpoint or LoRA folder convert/ or train/ cannot use as it is."""

    exit_code = 6


class ContextOverflow(CriticError):
    """The conversation no longer fits the model's context."""

    exit_code = 7


class EngineBusy(CriticError):
    """The engine is answering another question, or was closed: one answer at a time, per engine."""

    exit_code = 1


class ServerError(CriticError):
    """An OpenAI-compatible server refused or failed a request."""

    exit_code = 8


class BadData(CriticError):
    """A data file (paintings list, training or test JSON) that cannot be used as it is."""

    exit_code = 9


class HubError(CriticError):
    """A model hub refused or could not be reached (repository, revision or file missing, offline, no access)."""

    exit_code = 11


class NotEnoughSpace(CriticError):
    """A download or build would not fit on the disk: refused before the first byte."""

    exit_code = 12


class WriteFailed(NotEnoughSpace, OSError):
    """A write failed for want of space (a full disk or quota, a file-size limit); nothing half-written
    was kept. Also an OSError, so code that already handles a failed write goes on handling it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingExtra(CriticError):
    """A subcommand needs packages from an extra that is not installed."""

    exit_code = 10

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"this command needs '{module}', which is not installed: "
            f"run `pip install 'critic[{extra}]'`"
        )


def did_you_mean(word: str, choices) -> str:
    """" (did you mean 'x'?)" naming the closest of `choices`, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def require(module: str, extra: str) -> None:
    """Raise MissingExtra unless `module` can be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtra(extra, module)
