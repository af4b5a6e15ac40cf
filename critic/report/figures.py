"""The report's pictures, as text: the painting as a data URI, and SVG drawn from its measured facts.

Everything here returns markup that the page embeds as it is, so a report is one file
that needs nothing else: no image files beside it and no network. Numbers in the SVG are
the facts themselves (`critic.facts` documents them); nothing is measured here.
"""

from __future__ import annotations

import base64
import math
from html import escape
from io import BytesIO

from PIL import Image

from critic.facts.composition import FOCAL_STRENGTH, FOCAL_WINDOW
from critic.facts.records import Facts

REPORT_SIDE = 800
"""Longest side of a painting embedded in a report: sharp on a laptop screen, ~100 kB as JPEG."""
JPEG_QUALITY = 82


def data_uri(image: Image.Image, side: int = REPORT_SIDE) -> tuple[str, tuple[int, int]]:
    """`image` downscaled to `side` and encoded as a JPEG data URI; also the size it was encoded at."""
    copy = image.convert("RGB")
    if max(copy.size) > side:
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = BytesIO()
    copy.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), copy.size


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line class="{cls}" x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}"/>'


def overlay_svg(facts: Facts, width: int, height: int) -> str:
    """The composition over a picture of `width` × `height`: thirds, visual-weight centre, focal area, line rose.

    The rose's strokes run in each measured direction, as long as that direction's share
    of the coherent edges (the longest reaching 18% of the picture's short side): one
    horizontal, one vertical, both diagonals for the diagonal share (the measure does not
    tell them apart), a circle for the curving share. It stands on the visual-weight centre.
    """
    comp = facts.composition
    parts = [f'<svg class="overlay" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
             'role="img" aria-label="composition overlay">']
    for i in (1, 2):
        x, y = width * i / 3, height * i / 3
        for cls in ("halo", "third"):
            parts.append(_line(x, 0, x, height, cls))
            parts.append(_line(0, y, width, y, cls))
    short = min(width, height)
    fx, fy = comp.focal_point[0] * width, comp.focal_point[1] * height
    if comp.focal_strength >= FOCAL_STRENGTH:  # the window the focal area was found with
        half = FOCAL_WINDOW * max(width, height) / 2
        parts.append(f'<rect class="focus" x="{_num(fx - half)}" y="{_num(fy - half)}" width="{_num(2 * half)}" '
                     f'height="{_num(2 * half)}"><title>focal area: {escape(comp.focal_area)}</title></rect>')
    cx, cy = comp.weight_centre[0] * width, comp.weight_centre[1] * height
    lines = comp.lines
    top = max(lines.horizontal, lines.vertical, lines.diagonal, lines.curving, 1e-9)
    reach = short * 0.18 / top
    rose = []
    for share, angles, cls in ((lines.horizontal, (0,), "horizontal"), (lines.vertical, (90,), "vertical"),
                               (lines.diagonal, (45, 135), "diagonal")):
        length = share * reach
        for angle in angles:
            dx, dy = length * math.cos(math.radians(angle)), length * math.sin(math.radians(angle))
            rose.append(_line(cx - dx, cy - dy, cx + dx, cy + dy, f"rose {cls}"))
    if lines.curving > 0:
        rose.append(f'<circle class="rose curving" cx="{_num(cx)}" cy="{_num(cy)}" '
                    f'r="{_num(lines.curving * reach)}"/>')
    parts.append(f'<g class="lines"><title>lines: {escape(lines.dominant)} · horizontal {lines.horizontal:.0%}, '
                 f'vertical {lines.vertical:.0%}, diagonal {lines.diagonal:.0%}, curving {lines.curving:.0%}'
                 f'</title>{"".join(rose)}</g>')
    radius = short * 0.025
    parts.append(f'<g class="weight"><title>visual-weight centre: {escape(comp.weight_position)}</title>'
                 f'<circle cx="{_num(cx)}" cy="{_num(cy)}" r="{_num(radius)}"/>'
                 f'{_line(cx - 2 * radius, cy, cx + 2 * radius, cy, "cross")}'
                 f'{_line(cx, cy - 2 * radius, cx, cy + 2 * radius, "cross")}</g>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(facts: Facts, width: int = 320, height: int = 90) -> str:
    """The lightness histogram: one bar per band of L*, dark to light, each filled with its band's grey."""
    bins = facts.value.histogram
    top = max(bins) or 1.0
    step = width / len(bins)
    bars = []
    for i, share in enumerate(bins):
        level = round(255 * (i + 0.5) / len(bins))
        bar = (height - 14) * share / top
        bars.append(f'<rect x="{_num(i * step + 1)}" y="{_num(height - 14 - bar)}" width="{_num(step - 2)}" '
                    f'height="{_num(bar)}" fill="#{level:02x}{level:02x}{level:02x}">'
                    f'<title>L* {i * 10}–{i * 10 + 10}: {share:.1%}</title></rect>')
    return (f'<svg class="histogram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            'role="img" aria-label="value histogram">'
            f'<rect class="plate" x="0" y="0" width="{width}" height="{height - 14}"/>{"".join(bars)}'
            f'<text x="0" y="{height - 2}">dark</text>'
            f'<text x="{width}" y="{height - 2}" text-anchor="end">light</text></svg>')


def swatches_html(facts: Facts) -> str:
    """The palette as a list of colour chips with their names, hex values and shares; accents marked."""
    items = []
    for swatch in facts.palette.swatches:
        items.append(f'<li><span class="chip" style="background:{escape(swatch.hex)}"></span>'
                     f'<span class="name">{escape(swatch.name)}</span><code>{escape(swatch.hex)}</code>'
                     f'<span class="share">{swatch.share:.0%}</span></li>')
    for accent in facts.accents:
        items.append(f'<li class="accent"><span class="chip" style="background:{escape(accent.hex)}"></span>'
                     f'<span class="name">{escape(accent.name)} <em>accent</em></span>'
                     f'<code>{escape(accent.hex)}</code><span class="share">{accent.share:.1%}</span></li>')
    total = sum(s.share for s in facts.palette.swatches) + sum(a.share for a in facts.accents) or 1.0
    strip = "".join(f'<span style="background:{escape(s.hex)};flex-grow:{s.share / total:.4f}"></span>'
                    for s in [*facts.palette.swatches, *facts.accents])
    return f'<div class="strip">{strip}</div><ul class="swatches">{"".join(items)}</ul>'
