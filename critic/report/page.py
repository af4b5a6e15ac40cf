"""One self-contained HTML page: each painting with its facts, overlay, analyses and their provenance.

The page makes no request of its own: pictures are data URIs, styles inline, no script, and
a Content-Security-Policy that allows nothing else (`CSP`), so a report opened offline, or
from a mail attachment, shows all it has and calls nowhere. Every text that came from a
file, a model or a user passes through `html.escape`.

Contradicted sentences are found with `critic.facts.check_analysis` against the facts
measured now from the picture (the checker of this version, not of the run that wrote the
record); without the picture, the facts stored in the record are used, and without those,
the flags the record carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import Iterable, Sequence

from PIL import Image

from critic import __version__
from critic.facts.check import check_analysis
from critic.facts.measure import Facts
from critic.core.regions import CROP_NOTE
from critic.report.figures import data_uri, histogram_svg, overlay_svg, swatches_html

DETAIL_SIDE = 560
"""Longest side of a detail's crop in a report."""
PLACE_SIDE = 280
"""Longest side of the thumbnail that marks where a detail is."""

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")
"""Nothing but the page's own inline styles and data-URI pictures."""


@dataclass(frozen=True)
class Mark:
    """One contradicted sentence of an analysis: where it is, and what was measured against it."""

    start: int
    end: int
    kind: str
    claim: str
    measurement: str


@dataclass
class DetailView:
    """What a reading of a detail shows beside it: the crop, and its place on a thumbnail of the whole."""

    label: str
    place: tuple[float, float, float, float]
    """x, y, w, h as fractions of the painting."""
    crop: Image.Image | None = None
    whole: Image.Image | None = None
    compared: str = ""


@dataclass
class Reading:
    """One analysis (or one chat answer) of a painting, with what produced it."""

    question: str
    text: str
    model: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)
    note: str = ""
    partial: bool = False
    created: float | None = None
    detail: DetailView | None = None
    """Set for an analysis of a detail (its marks are checked against the detail's own facts)."""


@dataclass
class PaintingReport:
    """One painting of a report."""

    name: str
    path: str
    sha256: str
    image: Image.Image | None
    facts: Facts | None
    readings: list[Reading] = field(default_factory=list)
    problem: str = ""  # why the picture is not shown, or is not the one analysed
    size: tuple[int, int] | None = None


def marks_for(text: str, facts: Facts | None, stored: Iterable[dict] = ()) -> list[Mark]:
    """The contradicted sentences of `text`: checked against `facts`, else taken from `stored` flags."""
    if facts is not None:
        return [Mark(f.start, f.end, f.kind, f.claim, f.measurement) for f in check_analysis(text, facts)]
    marks = []
    for flag in stored:
        try:
            marks.append(Mark(int(flag["start"]), int(flag["end"]), str(flag.get("kind", "")),
                              str(flag.get("claim", "")), str(flag.get("measurement", ""))))
        except (KeyError, TypeError, ValueError):
            continue
    return marks


# -- markup -----------------------------------------------------------------------------------------

STYLE = """
:root { color-scheme: light; --ink: #1d1d1f; --muted: #6b6b70; --line: #dcdcdf; --flag: #fff1b8; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px; font: 15px/1.5 Georgia, 'DejaVu Serif', serif;
       color: var(--ink); background: #fbfaf7; overflow-wrap: anywhere; }
header.report { border-bottom: 2px solid var(--ink); margin-bottom: 24px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 22px; margin: 0 0 4px; }
h3 { font: 600 13px/1.4 system-ui, sans-serif; text-transform: uppercase; letter-spacing: .06em;
     color: var(--muted); margin: 18px 0 6px; }
.meta, .provenance, figcaption, .note { font: 13px/1.45 system-ui, sans-serif; color: var(--muted); }
code { font: 12px ui-monospace, 'DejaVu Sans Mono', monospace; }
section.painting { border-bottom: 1px solid var(--line); padding: 8px 0 32px; margin-bottom: 24px;
                   break-inside: avoid-page; }
.plates { display: grid; grid-template-columns: minmax(0, 3fr) minmax(260px, 2fr); gap: 28px; }
figure { margin: 0; }
.frame { position: relative; line-height: 0; box-shadow: 0 1px 6px rgba(0,0,0,.25); }
.frame img { width: 100%; height: auto; display: block; }
.overlay { position: absolute; inset: 0; width: 100%; height: 100%; }
.overlay line, .overlay circle, .overlay rect { vector-effect: non-scaling-stroke; fill: none; }
.overlay .halo { stroke: rgba(0,0,0,.55); stroke-width: 3; }
.overlay .third { stroke: rgba(255,255,255,.85); stroke-width: 1; stroke-dasharray: 6 5; }
.overlay .focus { stroke: #ffd23f; stroke-width: 2; stroke-dasharray: 3 3; }
.overlay .rose { stroke: #ff4f79; stroke-width: 3; stroke-linecap: round; }
.overlay .weight circle { stroke: #fff; stroke-width: 3; fill: rgba(255,79,121,.8); }
.overlay .cross { stroke: #fff; stroke-width: 2; }
.overlay .place { stroke: #ffd23f; stroke-width: 2.5; }
.overlay .shade { fill: rgba(0,0,0,.45); stroke: none; }
article.reading.detail { border-top: 1px dashed var(--line); padding-top: 14px; }
.detail-plates { display: grid; grid-template-columns: minmax(0, 3fr) minmax(140px, 2fr); gap: 20px;
                 align-items: start; margin-bottom: 10px; }
.missing { padding: 40px 16px; background: #eee; text-align: center; font: 14px system-ui, sans-serif; }
.strip { display: flex; height: 22px; border-radius: 3px; overflow: hidden; margin-bottom: 8px; }
.strip span { display: block; }
ul.swatches { list-style: none; padding: 0; margin: 0; }
ul.swatches li { display: grid; grid-template-columns: 22px 1fr auto 44px; gap: 8px; align-items: center;
                 font: 14px/1.9 system-ui, sans-serif; }
.chip { width: 18px; height: 18px; border-radius: 3px; border: 1px solid rgba(0,0,0,.2); }
.share { text-align: right; font-variant-numeric: tabular-nums; }
.histogram { max-width: 100%; height: auto; }
.histogram .plate { fill: #efeeea; }
.histogram text { font: 11px system-ui, sans-serif; fill: var(--muted); }
dl.measures { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 0;
              font: 14px/1.5 system-ui, sans-serif; }
dl.measures dt { font-weight: 600; }
dl.measures dd { margin: 0; }
article.reading { margin-top: 18px; }
.reading-body { display: grid; grid-template-columns: minmax(0, 3fr) minmax(220px, 2fr); gap: 28px; }
.analysis { white-space: pre-wrap; }
mark.flag { background: var(--flag); border-bottom: 2px solid #e0a800; padding: 0 2px; }
mark.flag sup { font: 700 11px system-ui, sans-serif; color: #9a6b00; }
aside.notes ol { margin: 0; padding-left: 22px; font: 13px/1.5 system-ui, sans-serif; }
aside.notes li { margin-bottom: 8px; }
aside.notes .kind { font-weight: 600; text-transform: capitalize; }
.question { font-style: italic; margin: 0 0 6px; }
@media (max-width: 760px) { .plates, .reading-body { grid-template-columns: 1fr; } }
@media print { body { background: #fff; } }
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _measures(facts: Facts) -> str:
    value, colour, comp = facts.value, facts.colour, facts.composition
    rows = [
        ("value", f"{value.key} key · mean L* {value.mean:.0f} · contrast {value.contrast:.0f} "
                  f"({value.contrast_level})" + (" · two-sided" if value.two_sided else "")),
        ("colour", f"{colour.temperature} (balance {colour.temperature_balance:+.2f}) · colourfulness "
                   f"{colour.colourfulness:.0f} ({colour.colourfulness_label})"
                   + f" · C* p90 {colour.vivid_chroma:.0f}"),
        ("weight", f"{comp.weight_position} (x {comp.weight_centre[0]:.2f}, y {comp.weight_centre[1]:.2f}); "
                   f"nearest the {comp.nearest_anchor}"),
        ("lines", f"{comp.lines.dominant} · horizontal {comp.lines.horizontal:.0%}, vertical "
                  f"{comp.lines.vertical:.0%}, diagonal {comp.lines.diagonal:.0%}, curving {comp.lines.curving:.0%}"),
        ("detail", f"{comp.detail_level} edges ({comp.edge_density:.0%}) · focus: {comp.focal_area}"),
        ("symmetry", f"{comp.symmetry_level} ({comp.symmetry:+.2f})"),
    ]
    return '<dl class="measures">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows) + "</dl>"


def _marked_text(text: str, marks: Sequence[Mark], prefix: str) -> tuple[str, str]:
    """The analysis with each contradicted sentence in a <mark>, and the notes beside it."""
    spans = sorted({(m.start, m.end) for m in marks if 0 <= m.start < m.end <= len(text)})
    parts, notes, cursor = [], [], 0
    for number, (start, end) in enumerate(spans, 1):
        if start < cursor:
            continue  # overlapping spans: the first one shown
        parts.append(_e(text[cursor:start]))
        parts.append(f'<mark class="flag" id="{prefix}-{number}">{_e(text[start:end])}<sup>[{number}]</sup></mark>')
        cursor = end
        for mark in (m for m in marks if (m.start, m.end) == (start, end)):
            notes.append(f'<li value="{number}"><span class="kind">{_e(mark.kind)}</span>: “{_e(mark.claim)}” — '
                         f'measured: {_e(mark.measurement)}</li>')
    parts.append(_e(text[cursor:]))
    return "".join(parts), "".join(notes)


def _provenance(reading: Reading) -> str:
    model = reading.model or {}
    bits = []
    if model:
        name = " ".join(str(model.get(k, "")) for k in ("name", "quantization")).strip() or "a model"
        bits.append(f"model {name}")
        if model.get("sha256"):
            bits.append(f"sha256 {str(model['sha256'])[:12]}…")
    else:
        bits.append("no model")
    settings = reading.settings or {}
    if settings:
        bits.append(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in settings.items() if v is not None))
    if reading.created:
        bits.append(datetime.fromtimestamp(reading.created, timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    return " · ".join(bits)


def _place_svg(place: tuple[float, float, float, float], width: int, height: int) -> str:
    """The detail's rectangle over a thumbnail of the whole, the rest of the painting shaded."""
    x, y, w, h = (place[0] * width, place[1] * height, place[2] * width, place[3] * height)
    shade = (f"M0 0H{width}V{height}H0Z M{x:.1f} {y:.1f}v{h:.1f}h{w:.1f}v{-h:.1f}Z")
    return (f'<svg class="overlay" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
            f'aria-label="where the detail is"><path class="shade" fill-rule="evenodd" d="{shade}"/>'
            f'<rect class="halo" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"/>'
            f'<rect class="place" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"/></svg>')


def _detail(detail: DetailView) -> str:
    """The crop beside a thumbnail of the painting with the detail's place marked, and the measured comparison."""
    if detail.crop is not None:
        uri, (width, height) = data_uri(detail.crop, DETAIL_SIDE)
        crop = (f'<figure><div class="frame"><img src="{uri}" width="{width}" height="{height}" '
                f'alt="{_e(detail.label)}"></div><figcaption>{_e(detail.label)}: {_e(CROP_NOTE)}.</figcaption>'
                '</figure>')
    else:
        crop = f'<div class="missing">{_e(detail.label)}: the picture is not shown</div>'
    place = ""
    if detail.whole is not None:
        uri, (width, height) = data_uri(detail.whole, PLACE_SIDE)
        place = (f'<figure><div class="frame"><img src="{uri}" width="{width}" height="{height}" '
                 f'alt="the whole painting">{_place_svg(detail.place, width, height)}</div>'
                 '<figcaption>Where the detail is on the painting.</figcaption></figure>')
    compared = f'<p class="note">{_e(detail.compared)}</p>' if detail.compared else ""
    return f'<div class="detail-plates">{crop}{place}</div>{compared}'


def _reading(reading: Reading, prefix: str) -> str:
    body, notes = _marked_text(reading.text, reading.marks, prefix)
    aside = (f'<aside class="notes"><h3>Contradicted by the measurements</h3><ol>{notes}</ol></aside>'
             if notes else '<aside class="notes"></aside>')
    extra = []
    if reading.partial:
        extra.append('<p class="note">Stopped before the end: a partial answer.</p>')
    if reading.note:
        extra.append(f'<p class="note">{_e(reading.note)}</p>')
    kind, plates = ("reading detail", _detail(reading.detail)) if reading.detail else ("reading", "")
    return (f'<article class="{kind}">{plates}'
            f'<p class="question">{_e(reading.question)}</p>'
            f'<p class="provenance">{_e(_provenance(reading))}</p>'
            f'<div class="reading-body"><div class="analysis">{body}</div>{aside}</div>{"".join(extra)}</article>')


def _painting(number: int, painting: PaintingReport) -> str:
    prefix = f"p{number}"
    meta = [_e(painting.path)]
    if painting.size:
        meta.append(f"{painting.size[0]}×{painting.size[1]} px")
    if painting.sha256:
        meta.append(f"sha256 <code>{_e(painting.sha256[:16])}…</code>")
    if painting.image is not None:
        uri, (width, height) = data_uri(painting.image)
        overlay = overlay_svg(painting.facts, width, height) if painting.facts else ""
        figure = (f'<figure><div class="frame"><img src="{uri}" width="{width}" height="{height}" '
                  f'alt="{_e(painting.name)}">{overlay}</div>'
                  '<figcaption>Dashed: the thirds. Disc: the centre of visual weight (edge energy); its '
                  'strokes: the share of edges running horizontally, vertically, diagonally and (circle) '
                  'curving. Yellow square: the focal area, where detail peaks.</figcaption></figure>')
    else:
        figure = f'<div class="missing">{_e(painting.problem or "no picture")}</div>'
    problem = (f'<p class="note">{_e(painting.problem)}</p>'
               if painting.problem and painting.image is not None else "")
    if painting.facts is not None:
        facts = (f'<h3>Palette</h3>{swatches_html(painting.facts)}<h3>Values</h3>{histogram_svg(painting.facts)}'
                 f'<h3>Measures</h3>{_measures(painting.facts)}')
    else:
        facts = '<p class="note">No measured facts: the picture is missing and the record has none.</p>'
    readings = "".join(_reading(r, f"{prefix}-{i}") for i, r in enumerate(painting.readings, 1))
    return (f'<section class="painting" id="painting-{number}" data-sha256="{_e(painting.sha256)}">'
            f'<h2>{_e(painting.name)}</h2><p class="meta">{" · ".join(meta)}</p>{problem}'
            f'<div class="plates">{figure}<div class="facts">{facts}</div></div>{readings}</section>')


def render_page(title: str, paintings: Sequence[PaintingReport], source: str = "",
                generated: datetime | None = None) -> str:
    """The whole report as one HTML document."""
    generated = generated or datetime.now(timezone.utc)
    count = f"{len(paintings)} painting{'s' if len(paintings) != 1 else ''}"
    about = [count, f"written {generated.strftime('%Y-%m-%d %H:%M UTC')} by critic {__version__}"]
    if source:
        about.append(f"from {source}")
    body = "".join(_painting(n, p) for n, p in enumerate(paintings, 1))
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="referrer" content="no-referrer">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
            f'<header class="report"><h1>{_e(title)}</h1><p class="meta">{_e(" · ".join(about))}</p></header>'
            f"{body}</body></html>\n")
