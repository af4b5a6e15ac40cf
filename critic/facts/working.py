"""The working copy every measure runs on, and how measured numbers are rounded.

Everything is computed on a copy whose longest side is `WORK_SIDE` pixels, so the numbers do
not depend on the file's resolution and a 12-megapixel photograph costs little more than a
thumbnail.
"""

from __future__ import annotations

from PIL import Image

WORK_SIDE = 320
"""Longest side of the working copy every measure runs on."""


def rounded(value: float, digits: int = 3) -> float:
    """A measured number as the facts carry it: a plain float, rounded (three places unless told)."""
    return round(float(value), digits)


def working_copy(image: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    """An RGB copy whose longest side is `side`, shrunk with a box pre-reduction for speed."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    scale = side / max(width, height)
    target = (max(8, round(width * scale)), max(8, round(height * scale)))
    if target == rgb.size:
        return rgb
    if scale < 1:
        # reducing_gap shrinks by an integer factor first (a fast box average), then resamples.
        return rgb.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return rgb.resize(target, Image.Resampling.BICUBIC)
