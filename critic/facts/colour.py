"""Temperature, chroma, colourfulness and how much of the canvas each colour family covers."""

from __future__ import annotations

import numpy as np

from critic.facts.colour_names import FAMILIES, FAMILY_RULES, FamilyRule
from critic.facts.colour_space import chroma_hue
from critic.facts.records import ColourFacts, FamilyCoverage
from critic.facts.working import rounded

# Temperature: hue angle (degrees) -> warmth, linear between anchors (Itten's warm half:
# yellow through red to red-violet; cool half: yellow-green through blue to violet). Itten's
# division is published; the anchors' values and the ±0.25 words are not, and were set on the
# sample paintings (the Scream +0.78 warm, Starry Night −0.61 cool, the wave and the hat near
# 0). Ou, Luo, Woodcock and Wright's warm–cool index (Color Res. Appl. 29, 2004) is the
# published perceptual model, but it is fitted to single colour patches and rates every
# neutral grey −0.5, "cool": a grey canvas would read cool, where it should have no
# temperature, so it is not used.
TEMPERATURE_ANCHORS: tuple[tuple[float, float], ...] = (
    (0.0, 0.6), (25.0, 1.0), (75.0, 1.0), (100.0, 0.6), (115.0, 0.0), (140.0, -0.6),
    (180.0, -1.0), (290.0, -1.0), (315.0, -0.5), (335.0, 0.2), (360.0, 0.6),
)
MIN_CHROMA_FOR_HUE = 4.0  # below this a pixel is grey: no hue, no temperature
WARM_ABOVE = 0.25
COOL_BELOW = -0.25
NEUTRAL_MEAN_CHROMA = 6.0  # an image this grey has no temperature to speak of

# Colourfulness: Hasler and Süsstrunk's M ("Measuring colourfulness in natural images", SPIE
# Human Vision and Electronic Imaging VIII, 2003), computed on the sRGB values (0-255) of the
# working copy, named on the paper's own category scale, which it fitted to observers'
# ratings: the lower bound of each category. The paper's seventh anchor, "extremely
# colourful" at 109, is folded into "highly colourful".
COLOURFULNESS_SCALE: tuple[tuple[float, str], ...] = (
    (0.0, "not colourful"),
    (15.0, "slightly colourful"),
    (33.0, "moderately colourful"),
    (45.0, "averagely colourful"),
    (59.0, "quite colourful"),
    (82.0, "highly colourful"),
)
VIVID_PERCENTILE = 90.0  # vivid_chroma: the C* the most vivid tenth of the canvas reaches


def warmth(hue: np.ndarray) -> np.ndarray:
    """Warmth of each hue angle, -1 (cool) .. +1 (warm), from TEMPERATURE_ANCHORS."""
    xs, ys = zip(*TEMPERATURE_ANCHORS)
    return np.interp(hue, xs, ys)


def colourfulness_label(m: float) -> str:
    """Hasler and Süsstrunk's category for a colourfulness M."""
    return next(label for bound, label in reversed(COLOURFULNESS_SCALE) if m >= bound)


def measure_colour(rgb: np.ndarray, lab: np.ndarray) -> ColourFacts:
    """Temperature, chroma, colourfulness and family coverage of the working copy (sRGB and its CIELAB)."""
    lightness = lab[..., 0].ravel()
    chroma, hue = chroma_hue(lab)
    chroma, hue = chroma.ravel(), hue.ravel()
    chromatic = chroma >= MIN_CHROMA_FOR_HUE
    weight = np.where(chromatic, chroma, 0.0)
    total = float(weight.sum())
    warm = warmth(hue)
    balance = float((weight * warm).sum() / total) if total > 0 else 0.0
    warm_share = float(weight[warm > 0.2].sum() / total) if total > 0 else 0.0
    cool_share = float(weight[warm < -0.2].sum() / total) if total > 0 else 0.0
    mean_chroma = float(chroma.mean())
    if mean_chroma < NEUTRAL_MEAN_CHROMA:
        temperature = "neutral"
    else:
        temperature = "warm" if balance >= WARM_ABOVE else "cool" if balance <= COOL_BELOW else "balanced"

    # Hasler and Süsstrunk (2003) colourfulness, in sRGB opponent channels.
    flat = rgb.reshape(-1, 3).astype(np.float32)
    rg = flat[:, 0] - flat[:, 1]
    yb = 0.5 * (flat[:, 0] + flat[:, 1]) - flat[:, 2]
    colourfulness = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))

    vivid = float(np.percentile(chroma, VIVID_PERCENTILE))

    families = []
    for family in FAMILIES:
        loose, core = FAMILY_RULES[family]
        loose_share = rounded(loose.mask(lightness, chroma, hue).mean())
        tinted = loose_share
        if loose.hue is not None:
            tint = FamilyRule(loose.hue, (MIN_CHROMA_FOR_HUE, loose.chroma[1]), loose.lightness)
            tinted = rounded(tint.mask(lightness, chroma, hue).mean())
        families.append(FamilyCoverage(family, loose_share, rounded(core.mask(lightness, chroma, hue).mean()), tinted))
    return ColourFacts(
        temperature_balance=rounded(balance),
        temperature=temperature,
        warm_share=rounded(warm_share),
        cool_share=rounded(cool_share),
        mean_chroma=rounded(mean_chroma, 1),
        vivid_chroma=rounded(vivid, 1),
        colourfulness=rounded(colourfulness, 1),
        colourfulness_label=colourfulness_label(colourfulness),
        families=tuple(families),
    )
