"""Fitting a training step to the GPU's memory: the micro-batch and which layers recompute their activations.

``gradient_checkpointing = "auto"`` (the default) measures, on the device and before the first
step, what one sample's activations cost with and without checkpointing (a forward and backward
of one and of two samples each way), adds what the step holds whatever the batch (weights,
gradients, AdamW's two moments), and picks the fastest setting that fits the free memory:

- no checkpointing, with the largest micro-batch that fits (up to ``micro_batch_size``);
- where even that does not fit, checkpointing only as many decoder layers as needed.

"Fastest" comes from a step-time model measured at the full 7B shape on an H200 (bench/train_step.py,
docs/train.md): recomputing every layer costs 43 % more time than keeping the activations,
proportionally fewer layers proportionally less, and each halving of the micro-batch about
7.5 % (smaller matrix products, more launches). On those figures no checkpointing at a smaller
micro-batch beats checkpointing at a larger one, so the plan ends up as the rule above; the
model decides between the two when both are partial.

Pure arithmetic in `choose`; the measuring needs torch and a CUDA device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

RECOMPUTE_COST = 0.43
"""Extra step time with every decoder layer checkpointed (H200, 7B, batch 16: 1.96 s against 1.37 s)."""
HALVING_COST = 0.075
"""Extra step time per halving of the micro-batch (H200, 7B: 1.37 s at 16, 1.47 s at 8, 1.58 s at 4)."""
MARGIN = 1 << 30
"""Kept free for the CUDA context's own growth, plus `SPARE` of the budget for the allocator's fragmentation."""
SPARE = 0.04
"""The caching allocator's unused reserve: 1.1–1.2 GiB measured at 48 and 75 GiB caps (H200, 7B), when a
plan made with only `MARGIN` to spare ran out of memory."""
GIB = 1 << 30


@dataclass(frozen=True)
class ActivationCost:
    """What the step needs on the device, in bytes, from `measure`."""

    fixed: int
    """Held whatever the micro-batch: weights, trainable parameters' gradients and AdamW state, buffers."""
    per_sample_checkpointed: int
    """One sample with every decoder layer checkpointed (the layers' inputs, the head's activations)."""
    per_sample_layer: int
    """What one sample's activations in one decoder layer add when that layer is not checkpointed."""


@dataclass(frozen=True)
class MemoryPlan:
    """The setting a run uses."""

    micro_batch: int
    checkpointed_layers: int
    layers: int
    estimate: int
    """Bytes the step is expected to peak at."""
    budget: int
    relative_time: float
    """Estimated step time against the same batch with no checkpointing at the full micro-batch."""
    reason: str

    def describe(self) -> str:
        ckpt = ("no gradient checkpointing" if not self.checkpointed_layers else
                "gradient checkpointing on every layer" if self.checkpointed_layers == self.layers else
                f"gradient checkpointing on {self.checkpointed_layers} of {self.layers} layers")
        return (f"micro-batch {self.micro_batch}, {ckpt}: about {self.estimate / GIB:.1f} of "
                f"{self.budget / GIB:.1f} GiB ({self.reason})")


def expandable_segments() -> None:
    """Ask PyTorch's caching allocator for growable segments (less memory stranded between blocks of
    different sizes) unless the user configured it; read at the first CUDA allocation, so call before."""
    import os

    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")


def relative_time(batch: int, micro: int, checkpointed: int, layers: int) -> float:
    """The step-time model: 1.0 for no checkpointing at micro-batch = batch."""
    return (1 + RECOMPUTE_COST * checkpointed / layers) * (1 + HALVING_COST * math.log2(batch / micro))


def choose(cost: ActivationCost, budget: int, batch: int, max_micro: int, layers: int) -> MemoryPlan:
    """The fastest (micro-batch, checkpointed layers) whose estimate fits `budget` bytes; micro-batches
    divide `batch` and are at most `max_micro`. When nothing fits, the smallest setting, marked as such."""
    best = None
    micros = [m for m in range(min(batch, max_micro), 0, -1) if batch % m == 0]
    for micro in micros:
        room = budget - cost.fixed - micro * cost.per_sample_checkpointed
        kept = layers if cost.per_sample_layer <= 0 else int(room // (micro * cost.per_sample_layer))
        kept = max(0, min(layers, kept))
        if room < 0:
            continue
        checkpointed = layers - kept
        estimate = cost.fixed + micro * (cost.per_sample_checkpointed + kept * cost.per_sample_layer)
        time = relative_time(batch, micro, checkpointed, layers)
        if best is None or time < best.relative_time:
            best = MemoryPlan(micro, checkpointed, layers, estimate, budget, time, "fits")
    if best is None:
        micro = micros[-1]
        estimate = cost.fixed + micro * cost.per_sample_checkpointed
        return MemoryPlan(micro, layers, layers, estimate, budget, relative_time(batch, micro, layers, layers),
                          "does not fit even so: expect running out of memory")
    return best


def set_checkpointed_layers(llava, count: int) -> None:
    """Checkpoint the first `count` decoder layers of the LLM and keep the others' activations."""
    from critic.train.model import enable_checkpointing

    layers = llava.model.language_model.layers
    if count <= 0:
        for layer in layers:  # the per-layer switch transformers' GradientCheckpointingLayer reads
            layer.gradient_checkpointing = False
        return
    enable_checkpointing(llava)
    for index, layer in enumerate(layers):
        layer.gradient_checkpointing = index < count


def measure(module, llava, make_batch: Callable[[int], dict], device, bf16: bool = True) -> ActivationCost:
    """Peak memory of a forward and backward of 1 and 2 samples, with every layer checkpointed and with
    none; the optimizer's two fp32 moments per trainable parameter are added (they exist from the first step)."""
    import torch

    layers = len(llava.model.language_model.layers)
    trainable = [p for p in module.parameters() if p.requires_grad]
    adam = 2 * sum(p.numel() * 4 for p in trainable)
    peaks = {}
    for checkpointed in (layers, 0):
        set_checkpointed_layers(llava, checkpointed)
        for size in (1, 2):
            batch = make_batch(size)
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                loss = module(**batch)
            loss.backward()
            torch.cuda.synchronize(device)
            peaks[checkpointed, size] = torch.cuda.max_memory_allocated(device)
            for p in trainable:
                p.grad = None
            del loss, batch
    per_ckpt = max(0, peaks[layers, 2] - peaks[layers, 1])
    per_full = max(per_ckpt, peaks[0, 2] - peaks[0, 1])
    fixed = max(peaks[layers, 1] - per_ckpt, peaks[0, 1] - per_full) + adam
    return ActivationCost(fixed, per_ckpt, (per_full - per_ckpt) // layers)


def device_budget(device, cap: int | None = None) -> int:
    """Bytes a plan may fill on `device`: its free memory plus what torch already holds (at most `cap`),
    less `SPARE` of it and `MARGIN`."""
    import torch

    free, _total = torch.cuda.mem_get_info(device)
    budget = free + torch.cuda.memory_reserved(device)
    budget = min(budget, cap) if cap else budget
    return int(budget * (1 - SPARE)) - MARGIN


def probe_batch(size: int, length: int, image_tokens: int, image_size: int, vocab: int, device,
                labelled: int | None = None, before: int = 40) -> dict:
    """A batch of `size` random samples of `length` tokens in the training layout: `before` text tokens,
    the image, the rest text, the last `labelled` (default a quarter) labelled."""
    import torch

    from critic.train.encode import IGNORE

    labelled = labelled or (length - image_tokens) // 4
    input_ids = torch.randint(3, vocab, (size, length))
    image_mask = torch.zeros((size, length), dtype=torch.bool)
    image_mask[:, before:before + image_tokens] = True
    labels = torch.full((size, length), IGNORE)
    labels[:, length - labelled:] = input_ids[:, length - labelled:]
    batch = {"input_ids": input_ids, "labels": labels, "attention_mask": torch.ones((size, length), dtype=torch.long),
             "image_mask": image_mask, "pixel_values": torch.randn(size, 3, image_size, image_size)}
    return {k: v.to(device) for k, v in batch.items()}
