"""Checkpoint folders: written under a temporary name and renamed, so a kill leaves none half-written.

``OUT/checkpoints/step-0000500/`` holds the adapter at that step in the layout
`critic convert --lora` reads (so any checkpoint can be converted and tried), accelerate's
state (optimizer, scheduler, RNG of every process, and with DeepSpeed its own partitioned
files) under ``state/``, and ``trainer-state.json`` with the step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from critic.core.store import log, write_atomic

CHECKPOINTS = "checkpoints"
STATE_DIR = "state"
TRAINER_STATE = "trainer-state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class TrainerState:
    """Where a run stands."""

    step: int
    total_steps: int
    data_sha256: str
    finished: bool = False

    def write(self, folder: Path) -> None:
        """Save as trainer-state.json in `folder`."""
        write_atomic(folder / TRAINER_STATE, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> "TrainerState":
        """Read trainer-state.json from `folder`."""
        return cls(**json.loads((folder / TRAINER_STATE).read_text()))


def step_dir(out: Path, step: int) -> Path:
    """The final folder of the checkpoint at `step`."""
    return out / CHECKPOINTS / f"step-{step:07d}"


def part_dir(out: Path, step: int) -> Path:
    """The temporary folder a checkpoint is written to before the rename."""
    return out / CHECKPOINTS / f".step-{step:07d}.part"


def list_checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    folder = out / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / TRAINER_STATE).exists():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(out: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint, or None."""
    found = list_checkpoints(out)
    return found[-1] if found else None


def clear_partial(out: Path) -> None:
    """Remove checkpoint folders a kill left half-written, saying so."""
    folder = out / CHECKPOINTS
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name.endswith(".part"):
                shutil.rmtree(child, ignore_errors=True)
                log.warning("critic: removed %s, left by an interrupted run", child)


def publish(out: Path, step: int) -> Path:
    """Rename the written checkpoint to its final name (atomic), and sync the folder entry."""
    final = step_dir(out, step)
    if final.exists():
        shutil.rmtree(final)
    os.replace(part_dir(out, step), final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return final


def prune(out: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints."""
    for _, path in list_checkpoints(out)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
