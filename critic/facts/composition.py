"""Where the visual weight and the detail sit, the focal area, symmetry and the lines' directions."""

from __future__ import annotations

import numpy as np
from PIL import Image

from critic.facts.colour_space import srgb_to_lab
from critic.facts.records import Composition, Lines
from critic.facts.working import rounded

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
    return Lines(*(rounded(shares[k]) for k in ("horizontal", "vertical", "diagonal", "curving")), dominant)


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


def measure_composition(work: Image.Image, lightness: np.ndarray) -> Composition:
    """Weight centre, thirds grid, detail, focal area, symmetry and lines of the working copy."""
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
        tuple(rounded(magnitude[r[0] : r[-1] + 1, c[0] : c[-1] + 1].sum() / total if total > 1e-9 else 1 / 9) for c in cols)
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
        weight_centre=(rounded(cx), rounded(cy)),
        weight_position=position,
        nearest_anchor=anchor,
        anchor_distance=rounded(distance),
        symmetry=rounded(symmetry),
        symmetry_level=level,
        lines=_lines(gx, gy),
        edge_density=rounded(density),
        detail_level=detail,
        focal_point=(rounded(fx), rounded(fy)),
        focal_strength=rounded(strength, 2),
        focal_area=focal,
        grid=grid,
    )
