"""Where critic keeps its data: platformdirs' user data directory, or `$CRITIC_HOME`."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The root of critic's data (models, history); created on first use."""
    home = os.environ.get("CRITIC_HOME")
    if home:
        root = Path(home)
    else:
        from platformdirs import user_data_path

        root = user_data_path("critic", appauthor=False)
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(kind: str) -> Path:
    """The cache folder for one `kind` of cache: under `$CRITIC_HOME` when it is set (tests, portable
    installs), else the user cache directory; created on first use."""
    if os.environ.get("CRITIC_HOME"):
        root = data_dir() / "cache"
    else:
        from platformdirs import user_cache_path

        root = user_cache_path("critic", appauthor=False)
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """The folder holding one sub-folder per installed model."""
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
