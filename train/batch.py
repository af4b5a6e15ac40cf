"""Samples to tensors: the painting preprocessed as LLaVA-1.5 does, tokens padded into a batch.

Preprocessing is `critic.core.images.model_input`, the same function the runtime hands
llama.cpp its pixels with: for LLaVA's ``image_aspect_ratio: pad`` the image is padded to a
square with the vision tower's mean colour (``image_mean × 255``, what LLaVA's
``expand2square`` fills with), resized to the tower's size with bicubic resampling, then
scaled to [0, 1] and normalised with its mean and std, as ``CLIPImageProcessor`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from critic.core.images import load_image, model_input
from critic.train.encode import IGNORE, Example


@dataclass(frozen=True)
class Pixels:
    """The vision tower's preprocessing."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    preprocess: str = "pad"

    def array(self, image: Image.Image) -> np.ndarray:
        """(3, size, size) float32, normalised."""
        resized = model_input(image, self.size, self.mean, self.preprocess)
        data = np.asarray(resized, dtype=np.float32) / 255.0
        data = (data - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return data.transpose(2, 0, 1).copy()


class SampleSet:
    """Map-style dataset: index → (Example, pixels)."""

    def __init__(self, examples: Sequence[Example], pixels: Pixels) -> None:
        self.examples, self.pixels = list(examples), pixels

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[Example, np.ndarray]:
        example = self.examples[index]
        return example, self.pixels.array(load_image(example.image).image)


@dataclass
class Collate:
    """Pads a list of samples into one batch (right padding)."""

    image_tokens: int
    pad_id: int = 0

    def __call__(self, samples: list[tuple[Example, np.ndarray]]) -> dict:
        import torch

        lengths = [e.length(self.image_tokens) for e, _ in samples]
        width = max(lengths)
        count = len(samples)
        input_ids = torch.full((count, width), self.pad_id, dtype=torch.long)
        labels = torch.full((count, width), IGNORE, dtype=torch.long)
        attention = torch.zeros((count, width), dtype=torch.long)
        image_mask = torch.zeros((count, width), dtype=torch.bool)
        for row, ((example, _), length) in enumerate(zip(samples, lengths)):
            start = len(example.before)
            stop = start + self.image_tokens
            input_ids[row, :start] = torch.tensor(example.before)
            input_ids[row, stop:length] = torch.tensor(example.after)
            labels[row, stop:length] = torch.tensor(example.labels)
            attention[row, :length] = 1
            image_mask[row, start:stop] = True
        pixels = torch.from_numpy(np.stack([p for _, p in samples]))
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention,
                "image_mask": image_mask, "pixel_values": pixels,
                "records": torch.tensor([e.record for e, _ in samples])}
