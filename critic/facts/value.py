"""Lightness (CIE L*): key, contrast, the dark and light shares, and whether the values split in two."""

from __future__ import annotations

import numpy as np

from critic.facts.records import Value
from critic.facts.working import rounded

# Value (L*, 0–100). No published scale names a painting's key or its value contrast, so these
# are set by reasoning and checked on the sample paintings. Key: ten points either side of
# middle grey (CIE L* 50 is 18% reflectance, the photographer's zone V), so a picture is
# low- or high-key only when its mean sits well off the middle; Munch's Scream (38) and
# Hokusai's wave (64) are the sample paintings nearest the lines. Contrast, the span of
# the middle 90% of pixels: a third of the scale or less reads low, two thirds or more high
# (a black-and-white print spans ~90, a misty grey painting ~25).
LOW_KEY_BELOW = 40.0
HIGH_KEY_ABOVE = 60.0
LOW_CONTRAST_BELOW = 35.0  # 5th–95th percentile range of L*
HIGH_CONTRAST_ABOVE = 65.0
DARK_L = 25.0
LIGHT_L = 75.0
TWO_SIDED_SEPARABILITY = 0.85
TWO_SIDED_MIN_SIDE = 0.10
TWO_SIDED_MIN_GAP = 40.0
HISTOGRAM_BINS = 10


def measure_value(lightness: np.ndarray) -> Value:
    """Lightness statistics of an L* array, with the key and contrast words they earn."""
    flat = lightness.ravel()
    n = flat.size
    # Histogram at 0.5 L* resolution: percentiles and Otsu's split without sorting.
    steps = np.clip((flat * 2).astype(np.int32), 0, 200)
    hist = np.bincount(steps, minlength=201).astype(np.float64) / n
    cumulative = np.cumsum(hist)
    levels = np.arange(201) / 2.0

    def percentile(q: float) -> float:
        return float(levels[np.searchsorted(cumulative, q)])

    mean = float(flat.mean())
    p5, p50, p95 = percentile(0.05), percentile(0.5), percentile(0.95)
    contrast = p95 - p5

    # Otsu: the split that maximises between-class variance; separability = that / total.
    omega = cumulative
    mu = np.cumsum(hist * levels)
    total_var = float((hist * (levels - mu[-1]) ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    between = np.nan_to_num(between, nan=0.0, posinf=0.0)
    split = int(np.argmax(between))
    separability = float(between[split] / total_var) if total_var > 1e-9 else 0.0
    low_side = float(omega[split])
    low_mean = float(mu[split] / omega[split]) if omega[split] > 0 else 0.0
    high_mean = float((mu[-1] - mu[split]) / (1 - omega[split])) if omega[split] < 1 else 100.0
    two_sided = (
        separability >= TWO_SIDED_SEPARABILITY
        and min(low_side, 1 - low_side) >= TWO_SIDED_MIN_SIDE
        and high_mean - low_mean >= TWO_SIDED_MIN_GAP
    )

    coarse = np.bincount(np.clip((flat / (100.0 / HISTOGRAM_BINS)).astype(np.int32), 0, HISTOGRAM_BINS - 1),
                         minlength=HISTOGRAM_BINS) / n
    key = "low" if mean < LOW_KEY_BELOW else "high" if mean > HIGH_KEY_ABOVE else "middle"
    level = "low" if contrast < LOW_CONTRAST_BELOW else "high" if contrast > HIGH_CONTRAST_ABOVE else "moderate"
    return Value(
        mean=rounded(mean, 1),
        median=rounded(p50, 1),
        p5=rounded(p5, 1),
        p95=rounded(p95, 1),
        contrast=rounded(contrast, 1),
        key=key,
        contrast_level=level,
        dark_share=rounded((flat < DARK_L).mean()),
        light_share=rounded((flat > LIGHT_L).mean()),
        separability=rounded(separability),
        two_sided=bool(two_sided),
        histogram=tuple(rounded(v) for v in coarse),
    )
