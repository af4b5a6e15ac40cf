"""Measure a picture: palette, value, temperature and chroma, composition.

Each measure lives in its own module with the thresholds behind its words: `palette`
(dominant colours and accents), `value` (lightness), `colour` (temperature, chroma,
colourfulness, family coverage) and `composition`; their records are in `records`, and all
of them run on the working copy of `working`. What each number means, and the thresholds
behind each word, are documented in `critic.facts` (the package docstring).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from critic.facts.colour import measure_colour
from critic.facts.colour_space import srgb_to_lab
from critic.facts.composition import measure_composition
from critic.facts.palette import MAX_K, measure_accents, measure_palette
from critic.facts.records import Facts
from critic.facts.value import measure_value
from critic.facts.working import working_copy

MEASURING_MODULES = (
    "critic.facts.measure", "critic.facts.working", "critic.facts.records", "critic.facts.palette",
    "critic.facts.value", "critic.facts.colour", "critic.facts.composition", "critic.facts.colour_names",
    "critic.facts.colour_space",
)
"""The modules whose code decides the facts: the gallery's cache is keyed by a digest of them."""

def measure(image: Image.Image, k: int | None = None) -> Facts:
    """Measure palette, value, temperature, chroma and composition of a picture."""
    if k is not None and not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, not {k}")
    work = working_copy(image)
    rgb = np.asarray(work)
    lab = srgb_to_lab(rgb)
    palette = measure_palette(rgb, k)
    return Facts(
        size=tuple(image.size),  # type: ignore[arg-type]
        working_size=tuple(work.size),  # type: ignore[arg-type]
        palette=palette,
        value=measure_value(lab[..., 0]),
        colour=measure_colour(rgb, lab),
        composition=measure_composition(work, lab[..., 0]),
        accents=measure_accents(rgb, lab, palette),
    )
