"""How many CPU threads llama.cpp gets: the performance cores for generating, every physical core
for reading the prompt.

Generation is one token at a time and limited by memory bandwidth: threads past the
performance cores (efficiency cores, SMT siblings) wait on the slowest of them at every
barrier. Prompt processing is matrix work and gains from every physical core. Only CPUs
this process may run on count (a container's or `taskset`'s affinity).

Hand-written because no maintained library reports performance cores on every platform:
psutil counts physical cores but not performance levels, and is not a dependency.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class CoreCounts:
    """The CPU as llama.cpp should see it."""

    performance: int
    """Physical performance cores: the threads for generating."""
    physical: int
    """All physical cores: the threads for reading the prompt."""
    logical: int
    """Logical CPUs this process may use."""
    how: str
    """Where the counts came from, for `critic doctor`."""


def _allowed_cpus() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _cpu_list(text: str) -> set[int]:
    """CPUs of a sysfs list such as ``0-3,8,10-11``."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def _linux(root: Path = SYS_CPU, allowed: set[int] | None = None) -> CoreCounts | None:
    """Counts from sysfs: physical cores are distinct SMT sibling sets; performance cores are the
    P-cores of an Intel hybrid CPU (``cpu_core``) or the highest-capacity cores of an Arm big.LITTLE."""
    cpus = sorted(int(p.name[3:]) for p in root.glob("cpu[0-9]*") if (p / "topology").is_dir())
    if allowed is not None:
        cpus = [c for c in cpus if c in allowed]
    if not cpus:
        return None
    cores: dict[int, frozenset[int]] = {}
    capacity: dict[int, int] = {}
    for cpu in cpus:
        topology = root / f"cpu{cpu}" / "topology"
        try:
            siblings = _cpu_list((topology / "thread_siblings_list").read_text())
        except (OSError, ValueError):
            siblings = {cpu}
        cores[cpu] = frozenset(siblings)
        try:
            capacity[cpu] = int((root / f"cpu{cpu}" / "cpu_capacity").read_text())
        except (OSError, ValueError):
            pass
    physical = set(cores.values())
    how = "sysfs topology"
    performance = physical
    hybrid = root.parent.parent / "cpu_core" / "cpus"  # /sys/devices/cpu_core: Intel hybrid P-cores
    try:
        p_cpus = _cpu_list(hybrid.read_text())
        p_cores = {core for core in physical if core & p_cpus}
        if p_cores:
            performance, how = p_cores, "sysfs topology, Intel hybrid P-cores"
    except (OSError, ValueError):
        if len(capacity) == len(cpus) and len(set(capacity.values())) > 1:
            top = max(capacity.values())
            performance = {cores[c] for c in cpus if capacity[c] == top}
            how = "sysfs topology, highest-capacity cores"
    return CoreCounts(len(performance), len(physical), len(cpus), how)


def _sysctl(name: str) -> int | None:
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
        return int(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _macos() -> CoreCounts | None:
    """Apple Silicon: perflevel0 is the performance cores (no SMT there); Intel Macs: physical cores."""
    physical = _sysctl("hw.physicalcpu")
    if not physical:
        return None
    performance = _sysctl("hw.perflevel0.physicalcpu")
    logical = _sysctl("hw.logicalcpu") or physical
    if performance:
        return CoreCounts(performance, physical, logical, "sysctl hw.perflevel0.physicalcpu")
    return CoreCounts(physical, physical, logical, "sysctl hw.physicalcpu")


def _psutil() -> CoreCounts | None:
    try:
        import psutil
    except ImportError:
        return None
    physical = psutil.cpu_count(logical=False)
    logical = psutil.cpu_count(logical=True) or physical
    return CoreCounts(physical, physical, logical, "psutil physical cores") if physical else None


def core_counts() -> CoreCounts:
    """The performance, physical and logical CPUs this process may use; never below 1."""
    found = None
    system = platform.system()
    if system == "Linux":
        found = _linux(allowed=_allowed_cpus())
    elif system == "Darwin":
        found = _macos()
    found = found or _psutil()
    if found is None:
        logical = len(_allowed_cpus() or ()) or os.cpu_count() or 1
        found = CoreCounts(logical, logical, logical, "os.cpu_count (physical cores unknown)")
    return CoreCounts(max(1, found.performance), max(1, found.physical), max(1, found.logical), found.how)


def default_threads(requested: int | None = None) -> tuple[int, int]:
    """(generation threads, prompt threads): `requested` for both when given, else the
    performance cores and every physical core."""
    if requested:
        return requested, requested
    counts = core_counts()
    return counts.performance, counts.physical
