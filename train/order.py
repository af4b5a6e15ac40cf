"""The data order: which samples make each optimizer step, fixed by the seed alone.

Hand-written rather than a shuffled DataLoader with a resumable sampler because the order
here is a pure function of (seed, step): a resumed run starts at its step with no replay,
and the global batch of a step is the same whatever the number of processes (each process
takes its share of the step's micro-batches).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterator


@functools.lru_cache(maxsize=2)
def epoch_permutation(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    """A seeded shuffle of range(n) for one epoch."""
    import torch

    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return tuple(torch.randperm(n, generator=generator).tolist())


@dataclass(frozen=True)
class Schedule:
    """How samples, steps, micro-batches and processes fit together."""

    samples: int
    batch_size: int
    micro_batch_size: int
    processes: int
    max_steps: int = 0
    epochs: float = 1.0
    seed: int = 0

    @property
    def steps_per_epoch(self) -> int:
        """Full global batches per pass (the remainder is left out; the next shuffle brings it back)."""
        return self.samples // self.batch_size

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run."""
        return self.max_steps or max(1, math.ceil(self.epochs * self.steps_per_epoch))

    @property
    def accumulation(self) -> int:
        """Micro-batches each process runs per optimizer step."""
        return self.batch_size // (self.micro_batch_size * self.processes)

    def check(self) -> str | None:
        """Why this schedule cannot run, or None."""
        if self.steps_per_epoch == 0:
            return f"the data has {self.samples} usable samples, fewer than one batch of {self.batch_size}"
        if self.batch_size % (self.micro_batch_size * self.processes):
            return (f"batch_size {self.batch_size} is not a multiple of micro_batch_size {self.micro_batch_size} "
                    f"× {self.processes} processes")
        return None

    def step_samples(self, step: int) -> list[int]:
        """Sample indices of the global batch of optimizer step `step` (0-based)."""
        epoch, position = divmod(step, self.steps_per_epoch)
        order = epoch_permutation(self.samples, self.seed, epoch)
        return list(order[position * self.batch_size:(position + 1) * self.batch_size])

    def micro_batches(self, step: int, rank: int) -> list[list[int]]:
        """The micro-batches process `rank` runs for `step`, in order."""
        batch = self.step_samples(step)
        size = self.micro_batch_size
        chunks = [batch[i:i + size] for i in range(0, len(batch), size)]
        return chunks[rank * self.accumulation:(rank + 1) * self.accumulation]

    def iter_micro_batches(self, start: int, rank: int) -> Iterator[list[int]]:
        """Micro-batches of `rank` from step `start` to the end of the run."""
        for step in range(start, self.total_steps):
            yield from self.micro_batches(step, rank)


class StepBatches:
    """A DataLoader batch sampler over the schedule's micro-batches from a given step."""

    def __init__(self, schedule: Schedule, start: int, rank: int) -> None:
        self.schedule, self.start, self.rank = schedule, start, rank

    def __iter__(self) -> Iterator[list[int]]:
        return self.schedule.iter_micro_batches(self.start, self.rank)

    def __len__(self) -> int:
        return (self.schedule.total_steps - self.start) * self.schedule.accumulation
