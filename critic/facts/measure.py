"""Measure a picture: palette, value, temperature and chroma, composition.

Everything is computed on a working copy whose longest side is `WORK_SIDE` pixels, so the
numbers do not depend on the file's resolution and a 12-megapixel photograph costs little
more than a thumbnail. What each number means, and the thresholds behind each word, are
documented in `critic.facts` (the package docstring); the constants here are those numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from critic.facts.colour_names import COLOUR_NAMES, FAMILIES, FAMILY_RULES, FamilyRule, name_indices_rgb
from critic.facts.colour_space import chroma_hue, srgb_to_lab

WORK_SIDE = 320
"""Longest side of the working copy every measure runs on."""

# Palette
MIN_SWATCH_SHARE = 0.04  # automatic k: every named colour covering at least this much...
AUTO_MAX_K = 8  # ...up to this many
MAX_K = 12

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

# Accents: vivid hues (C* at least ACCENT_CHROMA) that cover a small but visible share of the
# canvas in a family no dominant colour belongs to: the orange, green and pink strokes of
# Matisse's Woman with a Hat, a few percent each, which the dominant names average away.
# Calibrated on the four sample paintings: at C* 30 the hat's accents are each 0.7–3 %, and a
# flat print's stray pixels stay under ACCENT_MIN_SHARE.
ACCENT_CHROMA = 30.0
ACCENT_MIN_SHARE = 0.005
ACCENT_MAX = 6
NEUTRAL_FAMILIES = frozenset({"grey", "black", "white"})

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

# Composition
EDGE_THRESHOLD = 4.0  # L* per pixel (Sobel / 8) at the working size
SPARSE_EDGES_BELOW = 0.10
DENSE_EDGES_ABOVE = 0.30
NEAR_ANCHOR = 0.08  # distance, in fractions of the width and height, that counts as "near"
CENTRE_BAND = 0.05  # weight within this of the middle, across or down, counts as centred
FOCAL_WINDOW = 0.2  # focal area: window a fifth of the longest side
FOCAL_STRENGTH = 1.5  # peak of the detail map over its mean, to speak of a focal area
SYMMETRIC_ABOVE = 0.75
ROUGHLY_SYMMETRIC_ABOVE = 0.45
ASYMMETRIC_BELOW = 0.2
SYMMETRY_WIDTH = 32
FLAT_ACROSS_STD = 2.0  # residual std (L*) under which nothing varies across the width
COHERENCE_MIN = 0.5
CURVE_STEP = 5.0  # pixels along the edge to each side, for the turning angle
CURVE_MIN_TURN = 4.0  # degrees over 2 * CURVE_STEP pixels: radius of curvature under ~140 px
CURVE_MAX_TURN = 40.0
DOMINANT_LINE_SHARE = 0.4


def _r(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


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
    (`MIN_CHROMA_FOR_HUE`): the slate blue of an overcast sea or the green-grey of storm waves,
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
    colourfulness_label: str  # their category for M, e.g. "quite colourful" (COLOURFULNESS_SCALE)
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


# ---------------------------------------------------------------------------- working copy


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


# ---------------------------------------------------------------------------- palette


def _accents(rgb: np.ndarray, lab: np.ndarray, palette: Palette) -> tuple[Accent, ...]:
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
        found.append(Accent(name, family, "#%02x%02x%02x" % colour, _r(share),
                            _r(chroma[vivid][members].mean(), 1)))
    return tuple(sorted(found, key=lambda a: -a.share)[:ACCENT_MAX])


def _palette(rgb: np.ndarray, k: int | None) -> Palette:
    # Every pixel takes its nearest name (Oklab, via a 32³ lookup of sRGB cells), and the palette is the names that cover the
    # most canvas, each shown as the mean colour of its pixels. This was chosen over k-means
    # (in CIELAB) and over Pillow's quantize (median cut in RGB): a painting's colours run into
    # each other, so any clustering draws its borders somewhere arbitrary, and k-means moved
    # them, and so the names, under a JPEG re-encode or a resize; the name table is a fixed
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
                lab=tuple(_r(v, 1) for v in srgb_to_lab(np.array(colour, dtype=np.uint8))),  # type: ignore[arg-type]
                share=_r(counts[i] / flat.shape[0]),
            )
        )
    family_counts: dict[str, float] = {}
    for i in order:
        family_counts[COLOUR_NAMES[i].family] = family_counts.get(COLOUR_NAMES[i].family, 0.0) + counts[i]
    families = tuple(
        FamilyShare(family, _r(count / flat.shape[0]))
        for family, count in sorted(family_counts.items(), key=lambda item: -item[1])
        if count / flat.shape[0] >= 0.0005
    )
    return Palette(tuple(swatches), len(swatches), k is None, families)


# ---------------------------------------------------------------------------- value


def _value(lightness: np.ndarray) -> Value:
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
        mean=_r(mean, 1),
        median=_r(p50, 1),
        p5=_r(p5, 1),
        p95=_r(p95, 1),
        contrast=_r(contrast, 1),
        key=key,
        contrast_level=level,
        dark_share=_r((flat < DARK_L).mean()),
        light_share=_r((flat > LIGHT_L).mean()),
        separability=_r(separability),
        two_sided=bool(two_sided),
        histogram=tuple(_r(v) for v in coarse),
    )


# ---------------------------------------------------------------------------- colour


def warmth(hue: np.ndarray) -> np.ndarray:
    """Warmth of each hue angle, -1 (cool) .. +1 (warm), from TEMPERATURE_ANCHORS."""
    xs, ys = zip(*TEMPERATURE_ANCHORS)
    return np.interp(hue, xs, ys)


def colourfulness_label(m: float) -> str:
    """Hasler and Süsstrunk's category for a colourfulness M."""
    return next(label for bound, label in reversed(COLOURFULNESS_SCALE) if m >= bound)


def _colour(rgb: np.ndarray, lab: np.ndarray) -> ColourFacts:
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
        loose_share = _r(loose.mask(lightness, chroma, hue).mean())
        tinted = loose_share
        if loose.hue is not None:
            tint = FamilyRule(loose.hue, (MIN_CHROMA_FOR_HUE, loose.chroma[1]), loose.lightness)
            tinted = _r(tint.mask(lightness, chroma, hue).mean())
        families.append(FamilyCoverage(family, loose_share, _r(core.mask(lightness, chroma, hue).mean()), tinted))
    return ColourFacts(
        temperature_balance=_r(balance),
        temperature=temperature,
        warm_share=_r(warm_share),
        cool_share=_r(cool_share),
        mean_chroma=_r(mean_chroma, 1),
        vivid_chroma=_r(vivid, 1),
        colourfulness=_r(colourfulness, 1),
        colourfulness_label=colourfulness_label(colourfulness),
        families=tuple(families),
    )


# ---------------------------------------------------------------------------- composition


def _box(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² window, edges clamped, by cumulative sums."""
    if radius <= 0:
        return a
    padded = np.pad(a, radius + 1, mode="edge")
    c = padded.cumsum(0).cumsum(1)
    size = 2 * radius + 1
    out = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]
    return out[: a.shape[0], : a.shape[1]] / (size * size)


def _sobel(l: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.pad(l, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:] - p[:-2, :-2] - 2 * p[1:-1, :-2] - p[2:, :-2]) / 8.0
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:] - p[:-2, :-2] - 2 * p[:-2, 1:-1] - p[:-2, 2:]) / 8.0
    return gx, gy


_ANCHORS: dict[str, tuple[float, float]] = {
    "centre": (0.5, 0.5),
    "upper-left third": (1 / 3, 1 / 3),
    "upper-right third": (2 / 3, 1 / 3),
    "lower-left third": (1 / 3, 2 / 3),
    "lower-right third": (2 / 3, 2 / 3),
}


def region_name(x: float, y: float) -> str:
    """Name the cell of the 3×3 thirds grid that holds (x, y), e.g. "upper left", "centre"."""
    row = ("upper", "middle", "lower")[min(2, int(y * 3))]
    col = ("left", "centre", "right")[min(2, int(x * 3))]
    if row == "middle" and col == "centre":
        return "centre"
    if row == "middle":
        return f"middle {col}"
    if col == "centre":
        return f"{row} centre"
    return f"{row} {col}"


def _lines(gx: np.ndarray, gy: np.ndarray) -> Lines:
    jxx, jyy, jxy = _box(gx * gx, 2), _box(gy * gy, 2), _box(gx * gy, 2)
    energy = np.maximum(jxx + jyy, 0.0)
    anisotropy = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        coherence = np.where(energy > 1e-9, anisotropy / energy, 0.0)
    # Doubled-angle vector of the gradient orientation; the edge runs at right angles to it.
    c2 = np.where(anisotropy > 1e-9, (jxx - jyy) / np.maximum(anisotropy, 1e-9), 1.0)
    s2 = np.where(anisotropy > 1e-9, 2 * jxy / np.maximum(anisotropy, 1e-9), 0.0)
    strong = (energy > EDGE_THRESHOLD**2) & (coherence >= COHERENCE_MIN)
    if not strong.any():
        return Lines(0.0, 0.0, 0.0, 0.0, "none")
    ys, xs = np.nonzero(strong)
    w = (np.sqrt(energy) * coherence)[ys, xs]
    grad_angle = 0.5 * np.arctan2(s2[ys, xs], c2[ys, xs])  # radians, gradient direction
    tx, ty = -np.sin(grad_angle), np.cos(grad_angle)  # along the edge
    h, wdt = strong.shape

    def sample(sign: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        qx = np.clip(np.rint(xs + sign * CURVE_STEP * tx).astype(int), 0, wdt - 1)
        qy = np.clip(np.rint(ys + sign * CURVE_STEP * ty).astype(int), 0, h - 1)
        return c2[qy, qx], s2[qy, qx], strong[qy, qx]

    ca, sa, oka = sample(1.0)
    cb, sb, okb = sample(-1.0)
    # Angle between the orientations ahead and behind (halved from the doubled-angle space).
    turn = np.degrees(0.5 * np.arccos(np.clip(ca * cb + sa * sb, -1.0, 1.0)))
    curving = oka & okb & (turn >= CURVE_MIN_TURN) & (turn <= CURVE_MAX_TURN)
    # Edge orientation folded to 0..180 degrees, 0 = horizontal.
    edge_deg = (np.degrees(grad_angle) + 90.0) % 180.0
    horizontal = ~curving & ((edge_deg < 22.5) | (edge_deg >= 157.5))
    vertical = ~curving & (edge_deg >= 67.5) & (edge_deg < 112.5)
    diagonal = ~curving & ~horizontal & ~vertical
    total = float(w.sum())
    shares = {
        "horizontal": float(w[horizontal].sum()) / total,
        "vertical": float(w[vertical].sum()) / total,
        "diagonal": float(w[diagonal].sum()) / total,
        "curving": float(w[curving].sum()) / total,
    }
    top = max(shares, key=shares.__getitem__)
    dominant = top if shares[top] >= DOMINANT_LINE_SHARE else "mixed"
    return Lines(*(_r(shares[k]) for k in ("horizontal", "vertical", "diagonal", "curving")), dominant)


def _symmetry(work: Image.Image) -> float:
    width, height = work.size
    small_w = min(SYMMETRY_WIDTH, width)
    small_h = max(2, round(height * small_w / width))
    small = srgb_to_lab(np.asarray(work.resize((small_w, small_h), Image.Resampling.BOX))).astype(np.float64)
    residual = small - small.mean(axis=1, keepdims=True)  # what varies across the width
    energy = float((residual**2).sum())
    if energy / residual.size < FLAT_ACROSS_STD**2:
        return 1.0
    return float((residual * residual[:, ::-1]).sum() / energy)


def _composition(work: Image.Image, lightness: np.ndarray) -> Composition:
    l = lightness.astype(np.float64)
    gx, gy = _sobel(l)
    magnitude = np.hypot(gx, gy)
    h, w = l.shape
    total = float(magnitude.sum())
    if total > 1e-9:
        cx = float((magnitude.sum(0) * (np.arange(w) + 0.5)).sum() / total / w)
        cy = float((magnitude.sum(1) * (np.arange(h) + 0.5)).sum() / total / h)
    else:
        cx = cy = 0.5
    anchor, distance = min(
        ((name, float(np.hypot(cx - ax, cy - ay))) for name, (ax, ay) in _ANCHORS.items()), key=lambda t: t[1]
    )
    horizontal = "left of centre" if cx < 0.5 - CENTRE_BAND else "right of centre" if cx > 0.5 + CENTRE_BAND else "centred"
    vertical = "high" if cy < 0.5 - CENTRE_BAND else "low" if cy > 0.5 + CENTRE_BAND else "at mid-height"
    position = f"{horizontal}, {vertical}" if (horizontal, vertical) != ("centred", "at mid-height") else "centred"

    rows = np.array_split(np.arange(h), 3)
    cols = np.array_split(np.arange(w), 3)
    grid = tuple(
        tuple(_r(magnitude[r[0] : r[-1] + 1, c[0] : c[-1] + 1].sum() / total if total > 1e-9 else 1 / 9) for c in cols)
        for r in rows
    )

    edges = magnitude > EDGE_THRESHOLD
    density = float(edges.mean())
    detail = "sparse" if density < SPARSE_EDGES_BELOW else "dense" if density > DENSE_EDGES_ABOVE else "moderate"

    detail_map = _box(edges.astype(np.float64), max(1, round(FOCAL_WINDOW * max(h, w) / 2)))
    mean_detail = float(detail_map.mean())
    py, px = np.unravel_index(int(np.argmax(detail_map)), detail_map.shape)
    fx, fy = (px + 0.5) / w, (py + 0.5) / h
    strength = float(detail_map[py, px] / mean_detail) if mean_detail > 0 else 0.0
    focal = region_name(fx, fy) if strength >= FOCAL_STRENGTH else "spread across the canvas"

    symmetry = _symmetry(work)
    if symmetry >= SYMMETRIC_ABOVE:
        level = "symmetric"
    elif symmetry >= ROUGHLY_SYMMETRIC_ABOVE:
        level = "roughly symmetric"
    elif symmetry >= ASYMMETRIC_BELOW:
        level = "partly symmetric"
    else:
        level = "asymmetric"
    return Composition(
        weight_centre=(_r(cx), _r(cy)),
        weight_position=position,
        nearest_anchor=anchor,
        anchor_distance=_r(distance),
        symmetry=_r(symmetry),
        symmetry_level=level,
        lines=_lines(gx, gy),
        edge_density=_r(density),
        detail_level=detail,
        focal_point=(_r(fx), _r(fy)),
        focal_strength=_r(strength, 2),
        focal_area=focal,
        grid=grid,
    )


# ---------------------------------------------------------------------------- entry point


def measure(image: Image.Image, k: int | None = None) -> Facts:
    """Measure palette, value, temperature, chroma and composition of a picture."""
    if k is not None and not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, not {k}")
    work = working_copy(image)
    rgb = np.asarray(work)
    lab = srgb_to_lab(rgb)
    palette = _palette(rgb, k)
    return Facts(
        size=tuple(image.size),  # type: ignore[arg-type]
        working_size=tuple(work.size),  # type: ignore[arg-type]
        palette=palette,
        value=_value(lab[..., 0]),
        colour=_colour(rgb, lab),
        composition=_composition(work, lab[..., 0]),
        accents=_accents(rgb, lab, palette),
    )
