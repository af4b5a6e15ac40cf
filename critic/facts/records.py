"""What `measure` returns: frozen dataclasses, one per measure, gathered in `Facts`."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Swatch:
    """One dominant colour: its mean sRGB, CIELAB, share of the canvas and name."""

    name: str
    family: str
    hex: str
    rgb: tuple[int, int, int]
    lab: tuple[float, float, float]
    share: float


@dataclass(frozen=True)
class FamilyShare:
    """Share of the canvas whose nearest name belongs to one colour family."""

    family: str
    share: float


@dataclass(frozen=True)
class Accent:
    """A vivid hue covering a small share of the canvas, outside the dominant colours' families."""

    name: str
    family: str
    hex: str
    share: float
    chroma: float


@dataclass(frozen=True)
class Palette:
    """The dominant colours, largest share first; `automatic` when k was chosen by measure."""

    swatches: tuple[Swatch, ...]
    k: int
    automatic: bool
    families: tuple[FamilyShare, ...]  # every pixel counted, largest first


@dataclass(frozen=True)
class Value:
    """Lightness (CIE L*, 0 black to 100 white) statistics and the words they earn."""

    mean: float
    median: float
    p5: float
    p95: float
    contrast: float
    key: str  # "low" | "middle" | "high"
    contrast_level: str  # "low" | "moderate" | "high"
    dark_share: float
    light_share: float
    separability: float
    two_sided: bool
    histogram: tuple[float, ...]


@dataclass(frozen=True)
class FamilyCoverage:
    """How much of the canvas one colour family covers under its loose and core rules.

    `tinted` widens the loose rule down to the chroma at which a pixel has a hue at all
    (`critic.facts.colour.MIN_CHROMA_FOR_HUE`): the slate blue of an overcast sea or the green-grey of storm waves,
    too grey for the loose rule, but what a writer means by "slate blues" or "grey-greens".
    Black, white and grey have no hue; their `tinted` is their `loose`.
    """

    family: str
    loose: float
    core: float
    tinted: float


@dataclass(frozen=True)
class ColourFacts:
    """Temperature and chroma."""

    temperature_balance: float  # -1 all cool .. +1 all warm, chroma-weighted
    temperature: str  # "warm" | "cool" | "balanced" | "neutral"
    warm_share: float
    cool_share: float
    mean_chroma: float
    vivid_chroma: float  # 90th percentile of C*
    colourfulness: float  # Hasler and Süsstrunk (2003) M
    colourfulness_label: str  # their category for M, e.g. "quite colourful" (colour.COLOURFULNESS_SCALE)
    families: tuple[FamilyCoverage, ...]

    def coverage(self, family: str) -> FamilyCoverage:
        """The coverage of one family."""
        return next(f for f in self.families if f.family == family)


@dataclass(frozen=True)
class Lines:
    """Shares of coherent edge energy running each way (they sum to 1, or all 0)."""

    horizontal: float
    vertical: float
    diagonal: float
    curving: float
    dominant: str  # one of the four, or "mixed", or "none"


@dataclass(frozen=True)
class Composition:
    """Where the visual weight and the detail sit, symmetry, line directions, edge density."""

    weight_centre: tuple[float, float]  # x, y in 0..1 of width and height, from top left
    weight_position: str
    nearest_anchor: str  # "centre" or a thirds intersection, e.g. "upper-left third"
    anchor_distance: float
    symmetry: float  # -1 .. 1
    symmetry_level: str  # "symmetric" | "roughly symmetric" | "partly symmetric" | "asymmetric"
    lines: Lines
    edge_density: float
    detail_level: str  # "sparse" | "moderate" | "dense"
    focal_point: tuple[float, float]
    focal_strength: float
    focal_area: str  # a region name, or "spread across the canvas"
    grid: tuple[tuple[float, ...], ...]  # 3×3 shares of edge energy, rows top to bottom


@dataclass(frozen=True)
class Facts:
    """Everything measured from one picture."""

    size: tuple[int, int]
    working_size: tuple[int, int]
    palette: Palette
    value: Value
    colour: ColourFacts
    composition: Composition
    accents: tuple[Accent, ...] = ()

    def to_dict(self) -> dict:
        """A JSON-ready dict (tuples become lists)."""
        return asdict(self)
