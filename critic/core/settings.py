"""The user's settings file: ``settings.json`` in the data directory.

Keys: ``default`` (the model used when none is named, set by `critic models default`) and
``gpu_layers`` (critic.engine.offload). A file that does not parse reads as empty: the
defaults apply, and the next setting written replaces it.
"""

from __future__ import annotations

import json
from pathlib import Path

from critic.core.paths import data_dir


def settings_path() -> Path:
    """Where the settings live."""
    return data_dir() / "settings.json"


def read_settings() -> dict:
    """The saved settings ({} when there are none or the file is damaged)."""
    path = settings_path()
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(settings: dict) -> None:
    """Replace the settings file atomically."""
    from critic.core.store import write_atomic

    write_atomic(settings_path(), json.dumps(settings, indent=2) + "\n")
