"""Colour names: what each colour of a palette is called, and the families claims are checked by.

A colour is named in CIE LCh (L* 0–100, chroma C*, hue angle h in degrees: red ≈ 40, orange ≈
60, yellow ≈ 100, green ≈ 135, cyan ≈ 195, blue ≈ 290–305, violet ≈ 310, magenta ≈ 330) by
rules, in this order:

1. *Neutral*: chroma under `NEUTRAL_CHROMA` (or any colour darker than `BLACK_BELOW` whose
   chroma is under `BLACK_CHROMA`: too dark for a hue to show) takes a neutral name by its
   lightness (`NEUTRAL_BANDS`: black, charcoal, dark grey, grey, light grey, white).
2. *Light neutral*: a light (L* ≥ `CREAM_LIGHTNESS`), warm (h in `CREAM_HUES`, orange to
   yellow), low-chroma (C* < `CREAM_CHROMA`) colour is a cream or a beige (`CREAM_BANDS`), family
   "cream": paper, parchment, an unpainted ground. Such colours are not browns: a brown is
   dark, or has the chroma of an earth pigment.
3. *Greyish hue*: any other colour below `GREYISH_CHROMA` has a hue one can name, so it takes
   that hue's name qualified (`GREYISH_HUES`: "greyish mauve", "dark greyish blue", "pale
   greyish green"), in that hue's family, never a plain grey.
4. *A colour*: everything else takes the nearest of the painters' names in `NAME_TABLE`
   (ochre, ultramarine, umber…), nearest hue first: the distance weighs the CIE hue
   difference ΔH in full and lightness and chroma differences at `LIGHTNESS_WEIGHT` and
   `CHROMA_WEIGHT`, so a vivid light yellow-green is named among the yellows and greens,
   whatever its lightness, and never among the low-chroma names.

The thresholds were set against the ISCC–NBS centroid colours (Kelly and Judd, NBS Special
Publication 440, 1976; tests/test_colour_names.py holds the 267 of them with the families
their names imply) and the sample paintings (bench/facts_on_paintings.py); the reference
colours of the painters' names were chosen by eye against the pigments they are named after
and are not a standard.

Each name belongs to one *family*: one of the eleven basic colour terms of English (black,
white, grey, red, orange, yellow, green, blue, purple, pink, brown), in which claims in an
analysis are checked, or "cream", the light neutrals, which no claim names.

The families' hue rules (`FAMILY_RULES`) are separate from the names: they decide how much
of the canvas a family covers, pixel by pixel, in CIE LCh. Each family has a *loose* rule
(generous: used to say a claimed colour is clearly missing) and a *core* rule (strict: used to
say a colour said to be absent is clearly there), so that a pixel on a border between two
families never decides a flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from critic.facts.colour_space import chroma_hue, srgb_to_lab

FAMILIES: tuple[str, ...] = (
    "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
)
"""The basic colour terms claims are checked by (each has a rule in FAMILY_RULES)."""
CREAM = "cream"
"""The family of light warm neutrals (creams, beiges): a palette family no claim is checked against."""

# 1. Neutrals, by lightness: (below this L*, name).
NEUTRAL_CHROMA = 6.0
BLACK_BELOW = 16.0
BLACK_CHROMA = 12.0
NEUTRAL_BANDS: tuple[tuple[float, str, str], ...] = (
    (20.0, "black", "black"), (33.0, "charcoal", "grey"), (48.0, "dark grey", "grey"), (66.0, "grey", "grey"),
    (88.0, "light grey", "grey"), (101.0, "white", "white"),
)
# 2. Light warm neutrals.
CREAM_LIGHTNESS = 64.0
CREAM_HUES = (30.0, 115.0)
CREAM_CHROMA = 22.0
CREAM_BANDS: tuple[tuple[float, str], ...] = ((76.0, "greyish beige"), (86.0, "beige"), (101.0, "cream"))
# 3. Greyish hues: (hue bins from, word, family) and the lightness bands of their names.
GREYISH_CHROMA = 14.0
GREYISH_HUES: tuple[tuple[float, str, str], ...] = (
    (0.0, "red", "red"), (35.0, "brown", "brown"), (90.0, "olive", "green"), (125.0, "green", "green"),
    (195.0, "blue", "blue"), (290.0, "violet", "purple"), (320.0, "mauve", "purple"), (355.0, "red", "red"),
)
GREYISH_BANDS: tuple[tuple[float, str], ...] = ((35.0, "dark greyish "), (66.0, "greyish "), (101.0, "pale greyish "))
GREYISH_LIGHT_RED = ("pink", "pink")
"""A pale greyish red is a pink (pink is light red), in the pink family."""
# 4. The painters' names: nearest by hue first.
LIGHTNESS_WEIGHT = 0.5
CHROMA_WEIGHT = 0.5

# name, sRGB hex, family: colours with a hue (C* above GREYISH_CHROMA)
NAME_TABLE: tuple[tuple[str, str, str], ...] = (
    ("maroon", "#52162e", "red"),
    ("dark red", "#5a1714", "red"),
    ("crimson", "#9b1c30", "red"),
    ("old rose", "#a26e6e", "red"),
    ("red", "#c42a22", "red"),
    ("vermilion", "#dd4a2a", "red"),
    ("burnt orange", "#b4561c", "orange"),
    ("terracotta", "#ba664c", "orange"),
    ("orange", "#ea7d1e", "orange"),
    ("peach", "#f2b98e", "orange"),
    ("ochre", "#c4922e", "yellow"),
    ("gold", "#d8ad35", "yellow"),
    ("yellow", "#efd52e", "yellow"),
    ("pale yellow", "#f0e497", "yellow"),
    ("sand", "#ccb484", "yellow"),
    ("olive", "#6b6a2c", "green"),
    ("yellow green", "#a3bd3e", "green"),
    ("green", "#3f8b3c", "green"),
    ("dark green", "#1e3b24", "green"),
    ("sage", "#97a886", "green"),
    ("teal", "#1f7471", "green"),
    ("turquoise", "#48a9b0", "blue"),
    ("sky blue", "#8db9de", "blue"),
    ("steel blue", "#496d93", "blue"),
    ("blue", "#2d5cb0", "blue"),
    ("ultramarine", "#2b3a94", "blue"),
    ("prussian blue", "#1c3853", "blue"),
    ("navy", "#19244c", "blue"),
    ("dark violet", "#2e2448", "purple"),
    ("violet", "#7f5fb8", "purple"),
    ("purple", "#633781", "purple"),
    ("lavender", "#b7a8d4", "purple"),
    ("mauve", "#a27896", "purple"),
    ("plum", "#552944", "purple"),
    ("magenta", "#bd2f88", "pink"),
    ("rose", "#c4607b", "pink"),
    ("pink", "#e7a2b5", "pink"),
    ("salmon", "#e58f7c", "pink"),
    ("dark brown", "#3a2617", "brown"),
    ("umber", "#5b4631", "brown"),
    ("brown", "#6f4526", "brown"),
    ("sienna", "#94492a", "brown"),
    ("light brown", "#a27c5c", "brown"),
    ("tan", "#bd976a", "brown"),
)


@dataclass(frozen=True)
class FamilyRule:
    """Which pixels count as one family: hue interval (degrees, may wrap), chroma and L* bounds."""

    hue: tuple[float, float] | None  # None: achromatic family, hue ignored
    chroma: tuple[float, float]
    lightness: tuple[float, float]

    def mask(self, lightness: np.ndarray, chroma: np.ndarray, hue: np.ndarray) -> np.ndarray:
        """Boolean mask of the pixels this rule accepts."""
        keep = (chroma >= self.chroma[0]) & (chroma <= self.chroma[1])
        keep &= (lightness >= self.lightness[0]) & (lightness <= self.lightness[1])
        if self.hue is not None:
            low, high = self.hue
            keep &= (hue >= low) & (hue <= high) if low <= high else (hue >= low) | (hue <= high)
        return keep


_ANY = (0.0, 1000.0)
# family: (loose rule, core rule)
FAMILY_RULES: dict[str, tuple[FamilyRule, FamilyRule]] = {
    "black": (FamilyRule(None, (0, 25), (0, 30)), FamilyRule(None, (0, 12), (0, 18))),
    "white": (FamilyRule(None, (0, 25), (78, 100)), FamilyRule(None, (0, 10), (90, 100))),
    "grey": (FamilyRule(None, (0, 14), (15, 90)), FamilyRule(None, (0, 6), (25, 85))),
    "red": (FamilyRule((340, 62), (12, 1000), (10, 100)), FamilyRule((15, 50), (35, 1000), (20, 70))),
    "orange": (FamilyRule((35, 90), (20, 1000), (25, 100)), FamilyRule((50, 75), (40, 1000), (45, 90))),
    "yellow": (FamilyRule((65, 115), (20, 1000), (40, 100)), FamilyRule((85, 105), (40, 1000), (65, 100))),
    "green": (FamilyRule((100, 210), (10, 1000), (5, 100)), FamilyRule((125, 175), (25, 1000), (20, 95))),
    "blue": (FamilyRule((180, 325), (8, 1000), (0, 100)), FamilyRule((215, 300), (20, 1000), (10, 90))),
    "purple": (FamilyRule((285, 350), (12, 1000), (0, 90)), FamilyRule((312, 340), (30, 1000), (15, 70))),
    "pink": (FamilyRule((320, 45), (12, 1000), (50, 100)), FamilyRule((340, 25), (25, 1000), (62, 95))),
    "brown": (FamilyRule((15, 100), (8, 65), (8, 62)), FamilyRule((40, 80), (15, 50), (15, 48))),
}


@dataclass(frozen=True)
class ColourName:
    """One name: its family, and for the painters' names their reference colour (empty for names given by
    rule: neutrals, creams, greyish hues)."""

    name: str
    hex: str
    family: str


def _hex_rgb(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def _greyish(word: str, family: str, prefix: str) -> ColourName:
    if (word, prefix) == ("red", GREYISH_BANDS[-1][1]):
        word, family = GREYISH_LIGHT_RED
    return ColourName(prefix + word, "", family)


_RULE_NAMES: tuple[ColourName, ...] = (
    *(ColourName(name, "", family) for _, name, family in NEUTRAL_BANDS),
    *(ColourName(name, "", CREAM) for _, name in CREAM_BANDS),
    *(_greyish(word, family, prefix) for _, word, family in GREYISH_HUES[:-1] for _, prefix in GREYISH_BANDS),
)
COLOUR_NAMES: tuple[ColourName, ...] = (*_RULE_NAMES, *(ColourName(*row) for row in NAME_TABLE))
"""Every name a colour can take; indices into this tuple are what `name_indices` returns."""
_INDEX = {entry.name: n for n, entry in enumerate(COLOUR_NAMES)}
_TABLE_LAB = srgb_to_lab(np.array([_hex_rgb(h) for _, h, _ in NAME_TABLE], dtype=np.uint8)).astype(np.float64)
_TABLE_CHROMA, _TABLE_HUE = chroma_hue(_TABLE_LAB)


def _band(values: np.ndarray, bounds: list[float]) -> np.ndarray:
    """Index of the first bound above each value."""
    return np.minimum(np.searchsorted(np.asarray(bounds), values, side="right"), len(bounds) - 1)


def name_indices(lab: np.ndarray) -> np.ndarray:
    """Index into COLOUR_NAMES of the name of each CIELAB colour (last axis 3), by the rules above."""
    lab = np.asarray(lab, dtype=np.float64)
    shape = lab.shape[:-1]
    lab = lab.reshape(-1, 3)
    lightness = lab[:, 0]
    chroma, hue = chroma_hue(lab)

    # 4. the painters' names, nearest hue first (CIE ΔH = 2·√(C1·C2)·sin(Δh/2))
    dh = np.radians(hue[:, None] - _TABLE_HUE[None, :])
    delta_h = 2.0 * np.sqrt(chroma[:, None] * _TABLE_CHROMA[None, :]) * np.sin(dh / 2.0)
    distance = ((LIGHTNESS_WEIGHT * (lightness[:, None] - _TABLE_LAB[None, :, 0])) ** 2
                + (CHROMA_WEIGHT * (chroma[:, None] - _TABLE_CHROMA[None, :])) ** 2 + delta_h**2)
    index = len(_RULE_NAMES) + np.argmin(distance, axis=1)

    # 3. greyish hues
    bins = [b for b, _, _ in GREYISH_HUES]
    greyish_names = np.array([_INDEX[_greyish(word, family, prefix).name]
                              for _, word, family in GREYISH_HUES for _, prefix in GREYISH_BANDS])
    hue_bin = np.searchsorted(np.asarray(bins), hue, side="right") - 1
    greyish = greyish_names[hue_bin * len(GREYISH_BANDS) + _band(lightness, [b for b, _ in GREYISH_BANDS])]
    index = np.where(chroma < GREYISH_CHROMA, greyish, index)

    # 2. light warm neutrals
    low, high = CREAM_HUES
    cream = (lightness >= CREAM_LIGHTNESS) & (hue >= low) & (hue <= high) & (chroma < CREAM_CHROMA)
    cream_names = np.array([_INDEX[name] for _, name in CREAM_BANDS])
    index = np.where(cream, cream_names[_band(lightness, [b for b, _ in CREAM_BANDS])], index)

    # 1. neutrals
    neutral = (chroma < NEUTRAL_CHROMA) | ((lightness < BLACK_BELOW) & (chroma < BLACK_CHROMA))
    neutral_names = np.array([_INDEX[name] for _, name, _ in NEUTRAL_BANDS])
    index = np.where(neutral, neutral_names[_band(lightness, [b for b, _, _ in NEUTRAL_BANDS])], index)
    return index.reshape(shape)


@lru_cache(maxsize=1)
def _cell_names() -> np.ndarray:
    """The name of the centre of each cell of a 32×32×32 sRGB grid (8 code values a side)."""
    centres = np.arange(4, 256, 8, dtype=np.uint8)
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), -1).reshape(-1, 3)
    return name_indices(srgb_to_lab(grid)).astype(np.uint8)


def name_indices_rgb(rgb: np.ndarray) -> np.ndarray:
    """Index into COLOUR_NAMES for each 8-bit sRGB colour (last axis 3), through a 32³ lookup.

    Pixels in one cell share a name (a cell is 8 code values a side, small next to the gaps
    between names); the table turns naming a 320-px picture into an index lookup instead of
    applying the rules to every pixel.
    """
    rgb = np.asarray(rgb, dtype=np.uint8)
    cell = (rgb[..., 0].astype(np.int32) >> 3) << 10 | (rgb[..., 1].astype(np.int32) >> 3) << 5 | (rgb[..., 2] >> 3)
    return _cell_names()[cell]


def nearest_name(rgb: tuple[int, int, int]) -> ColourName:
    """The name of one sRGB colour (exactly, not through the lookup's cells)."""
    return COLOUR_NAMES[int(name_indices(srgb_to_lab(np.array(rgb, dtype=np.uint8))))]
