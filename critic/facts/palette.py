"""The dominant colours of a picture, each named, and the vivid accents they leave out."""

from __future__ import annotations

import numpy as np

from critic.facts.colour_names import COLOUR_NAMES, CREAM, name_indices_rgb
from critic.facts.colour_space import chroma_hue, srgb_to_lab
from critic.facts.records import Accent, FamilyShare, Palette, Swatch
from critic.facts.working import rounded

MIN_SWATCH_SHARE = 0.04  # automatic k: every named colour covering at least this much...
AUTO_MAX_K = 8  # ...up to this many
MAX_K = 12

# Accents: vivid hues (C* at least ACCENT_CHROMA) that cover a small but visible share of the
# canvas in a family no dominant colour belongs to: the orange, green and pink strokes of
# Matisse's Woman with a Hat, a few percent each, which the dominant names average away.
# Calibrated on the four sample paintings: at C* 30 the hat's accents are each 0.7–3 %, and a
# flat print's stray pixels stay under ACCENT_MIN_SHARE.
ACCENT_CHROMA = 30.0
ACCENT_MIN_SHARE = 0.005
ACCENT_MAX = 6
NEUTRAL_FAMILIES = frozenset({"grey", "black", "white", CREAM})
"""Families without a hue to speak of: never an accent, never a painting's dominant hue."""


def measure_accents(rgb: np.ndarray, lab: np.ndarray, palette: Palette) -> tuple[Accent, ...]:
    """Vivid hues of families the dominant colours leave out, largest share first (see ACCENT_*)."""
    flat = rgb.reshape(-1, 3)
    chroma = chroma_hue(lab)[0].ravel()
    vivid = chroma >= ACCENT_CHROMA
    if not vivid.any():
        return ()
    index = name_indices_rgb(flat[vivid]).astype(np.int64)
    families = np.array([COLOUR_NAMES[i].family for i in range(len(COLOUR_NAMES))])[index]
    shown = {s.family for s in palette.swatches} | NEUTRAL_FAMILIES
    found = []
    for family in sorted(set(families.tolist()) - shown):
        members = families == family
        share = members.sum() / flat.shape[0]
        if share < ACCENT_MIN_SHARE:
            continue
        name = COLOUR_NAMES[int(np.bincount(index[members]).argmax())].name
        colour = tuple(int(v) for v in np.clip(flat[vivid][members].mean(axis=0) + 0.5, 0, 255))
        found.append(Accent(name, family, "#%02x%02x%02x" % colour, rounded(share),
                            rounded(chroma[vivid][members].mean(), 1)))
    return tuple(sorted(found, key=lambda a: -a.share)[:ACCENT_MAX])


def measure_palette(rgb: np.ndarray, k: int | None) -> Palette:
    """The `k` named colours covering most canvas (None: by MIN_SWATCH_SHARE), and every family's share."""
    # Every pixel takes its name (`critic.facts.colour_names`, via a 32³ lookup of sRGB cells), and the palette is the
    # names that cover the most canvas, each shown as the mean colour of its pixels. This was chosen over k-means
    # (in CIELAB) and over Pillow's quantize (median cut in RGB): a painting's colours run into
    # each other, so any clustering draws its borders somewhere arbitrary, and k-means moved
    # them, and so the names, under a JPEG re-encode or a resize; the names are a fixed
    # partition of colour space, so only pixels on a border can move and the shares barely do.
    flat = rgb.reshape(-1, 3)
    index = name_indices_rgb(flat).astype(np.int64)
    n = len(COLOUR_NAMES)
    counts = np.bincount(index, minlength=n).astype(np.float64)
    sums = np.stack([np.bincount(index, weights=flat[:, c], minlength=n) for c in range(3)], 1)
    order = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    if k is None:
        chosen = [i for i in order if counts[i] >= MIN_SWATCH_SHARE * flat.shape[0]][:AUTO_MAX_K] or order[:1]
    else:
        chosen = order[:k]
    swatches = []
    for i in chosen:
        colour = tuple(int(v) for v in np.clip(sums[i] / counts[i] + 0.5, 0, 255))
        entry = COLOUR_NAMES[i]
        swatches.append(
            Swatch(
                name=entry.name,
                family=entry.family,
                hex="#%02x%02x%02x" % colour,
                rgb=colour,  # type: ignore[arg-type]
                lab=tuple(rounded(v, 1) for v in srgb_to_lab(np.array(colour, dtype=np.uint8))),  # type: ignore[arg-type]
                share=rounded(counts[i] / flat.shape[0]),
            )
        )
    family_counts: dict[str, float] = {}
    for i in order:
        family_counts[COLOUR_NAMES[i].family] = family_counts.get(COLOUR_NAMES[i].family, 0.0) + counts[i]
    families = tuple(
        FamilyShare(family, rounded(count / flat.shape[0]))
        for family, count in sorted(family_counts.items(), key=lambda item: -item[1])
        if count / flat.shape[0] >= 0.0005
    )
    return Palette(tuple(swatches), len(swatches), k is None, families)
