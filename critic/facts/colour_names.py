"""The colour name table: a painter's vocabulary, each name a reference sRGB colour.

Every pixel takes the name of the entry nearest to it in Oklab (straight-line distance), and
the palette is made of the names that cover the most canvas. Each name belongs to one *family*, one of the eleven basic colour terms of English (black, white,
grey, red, orange, yellow, green, blue, purple, pink, brown); claims in an analysis are
checked by family, never by the finer name. The reference colours were chosen for this
table by eye against the painters' pigments they are named after; they are not a standard.

The families' hue rules (`FAMILY_RULES`) are separate from the names: they decide how much
of the canvas a family covers, pixel by pixel, in CIE LCh (L* 0–100, chroma C*, hue angle h
in degrees: red ≈ 40, orange ≈ 60, yellow ≈ 100, green ≈ 135, cyan ≈ 195, blue ≈ 290–305,
violet ≈ 310, magenta ≈ 330). Each family has a *loose* rule (generous: used to say a claimed
colour is clearly missing) and a *core* rule (strict: used to say a colour said to be absent
is clearly there), so that a pixel on a border between two families never decides a flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from critic.facts.colour_space import srgb_to_oklab

FAMILIES: tuple[str, ...] = (
    "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
)

# name, sRGB hex, family
NAME_TABLE: tuple[tuple[str, str, str], ...] = (
    ("black", "#121212", "black"),
    ("charcoal", "#383838", "grey"),
    ("dark grey", "#595959", "grey"),
    ("grey", "#828282", "grey"),
    ("light grey", "#b5b5b3", "grey"),
    ("slate grey", "#5c6670", "grey"),
    ("warm grey", "#8e857a", "grey"),
    ("white", "#f4f4f1", "white"),
    ("cream", "#ede3c8", "white"),
    ("dark red", "#5a1714", "red"),
    ("crimson", "#9b1c30", "red"),
    ("red", "#c42a22", "red"),
    ("vermilion", "#dd4a2a", "red"),
    ("burnt orange", "#b4561c", "orange"),
    ("orange", "#ea7d1e", "orange"),
    ("peach", "#f2b98e", "orange"),
    ("ochre", "#c4922e", "yellow"),
    ("gold", "#d8ad35", "yellow"),
    ("yellow", "#efd52e", "yellow"),
    ("pale yellow", "#f0e497", "yellow"),
    ("olive", "#6b6a2c", "green"),
    ("yellow green", "#a3bd3e", "green"),
    ("green", "#3f8b3c", "green"),
    ("dark green", "#1e3b24", "green"),
    ("sage", "#97a886", "green"),
    ("teal", "#1f7471", "green"),
    ("turquoise", "#48a9b0", "blue"),
    ("sky blue", "#8db9de", "blue"),
    ("pale blue", "#c7d8e6", "blue"),
    ("grey blue", "#7a8fa3", "blue"),
    ("steel blue", "#496d93", "blue"),
    ("blue", "#2d5cb0", "blue"),
    ("ultramarine", "#2b3a94", "blue"),
    ("prussian blue", "#1c3853", "blue"),
    ("navy", "#19244c", "blue"),
    ("violet", "#7f5fb8", "purple"),
    ("purple", "#633781", "purple"),
    ("lavender", "#b7a8d4", "purple"),
    ("plum", "#552944", "purple"),
    ("magenta", "#bd2f88", "pink"),
    ("rose", "#c4607b", "pink"),
    ("pink", "#e7a2b5", "pink"),
    ("salmon", "#e58f7c", "pink"),
    ("dark brown", "#3a2617", "brown"),
    ("umber", "#5b4631", "brown"),
    ("brown", "#6f4526", "brown"),
    ("sienna", "#94492a", "brown"),
    ("tan", "#bd976a", "brown"),
    ("beige", "#d6c3a0", "brown"),
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
    """One entry of the name table."""

    name: str
    hex: str
    family: str


def _hex_rgb(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


COLOUR_NAMES: tuple[ColourName, ...] = tuple(ColourName(*row) for row in NAME_TABLE)
_TABLE_OKLAB = srgb_to_oklab(np.array([_hex_rgb(h) for _, h, _ in NAME_TABLE], dtype=np.uint8))


def name_indices(oklab: np.ndarray) -> np.ndarray:
    """Index into COLOUR_NAMES of the entry nearest each Oklab colour (last axis 3)."""
    points = np.asarray(oklab, dtype=np.float32).reshape(-1, 3)
    # |p - t|² less |p|², which is the same for every entry.
    distance = (_TABLE_OKLAB**2).sum(1)[None, :] - 2.0 * (points @ _TABLE_OKLAB.T)
    return np.argmin(distance, axis=1).reshape(np.shape(oklab)[:-1])


@lru_cache(maxsize=1)
def _cell_names() -> np.ndarray:
    """Nearest name of the centre of each cell of a 32×32×32 sRGB grid (8 code values a side)."""
    centres = np.arange(4, 256, 8, dtype=np.uint8)
    grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), -1).reshape(-1, 3)
    return name_indices(srgb_to_oklab(grid)).astype(np.uint8)


def name_indices_rgb(rgb: np.ndarray) -> np.ndarray:
    """Index into COLOUR_NAMES for each 8-bit sRGB colour (last axis 3), through a 32³ lookup.

    Pixels in one cell share a name (a cell is 8 code values a side, small next to the gaps
    between names); the table turns naming a 320-px picture into an index lookup instead of a
    distance to every name for every pixel.
    """
    rgb = np.asarray(rgb, dtype=np.uint8)
    cell = (rgb[..., 0].astype(np.int32) >> 3) << 10 | (rgb[..., 1].astype(np.int32) >> 3) << 5 | (rgb[..., 2] >> 3)
    return _cell_names()[cell]


def nearest_name(rgb: tuple[int, int, int]) -> ColourName:
    """The table entry nearest one sRGB colour."""
    return COLOUR_NAMES[int(name_indices(srgb_to_oklab(np.array(rgb, dtype=np.uint8))))]
