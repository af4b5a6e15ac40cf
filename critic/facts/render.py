"""Rich renderables for the measured facts: swatches, value histogram, flagged sentences."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from critic.facts.check import Flag
from critic.facts.describe import MEASURED_LABEL, facts_paragraph
from critic.facts.measure import Facts

_BARS = " ▁▂▃▄▅▆▇█"


def _ink(rgb: tuple[int, int, int]) -> str:
    """Black or white text, whichever reads on a swatch of this colour."""
    r, g, b = rgb
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "white"


def palette_strip(facts: Facts, width: int = 60) -> Text:
    """One line of colour blocks, each as wide as its share of the palette, the vivid accents last."""
    swatches = [*facts.palette.swatches, *facts.accents]
    total = sum(s.share for s in swatches) or 1.0
    exact = [width * s.share / total for s in swatches]
    cells = [max(1, int(x)) for x in exact]
    # Largest remainders take the cells rounding left over, so the strip is exactly `width`.
    for i in sorted(range(len(cells)), key=lambda i: exact[i] - int(exact[i]), reverse=True):
        if sum(cells) >= width:
            break
        cells[i] += 1
    while sum(cells) > width and max(cells) > 1:
        cells[cells.index(max(cells))] -= 1
    strip = Text()
    for swatch, cell in zip(swatches, cells):
        strip.append(" " * cell, style=f"on {swatch.hex}")
    return strip


def value_bar(facts: Facts, width: int = 30) -> Text:
    """The lightness histogram as a row of bars from dark (left) to light (right)."""
    histogram = facts.value.histogram
    top = max(histogram) or 1.0
    per_bin = max(1, width // len(histogram))
    bar = Text()
    for i, share in enumerate(histogram):
        level = round(255 * (i + 0.5) / len(histogram))
        grey = f"#{level:02x}{level:02x}{level:02x}"
        glyph = _BARS[min(len(_BARS) - 1, round(share / top * (len(_BARS) - 1)))]
        bar.append(glyph * per_bin, style=f"{grey} on grey15")
    return bar


def _swatch_table(facts: Facts) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(width=8)
    table.add_column()
    table.add_column(justify="right")
    for swatch in facts.palette.swatches:
        table.add_row(
            Text(swatch.hex, style=f"{_ink(swatch.rgb)} on {swatch.hex}"),
            swatch.name,
            f"{swatch.share:.0%}",
        )
    for accent in facts.accents:
        rgb = tuple(int(accent.hex[i:i + 2], 16) for i in (1, 3, 5))
        table.add_row(Text(accent.hex, style=f"{_ink(rgb)} on {accent.hex}"), f"{accent.name} (accent)",
                      f"{accent.share:.1%}")
    return table


def _measures_table(facts: Facts) -> Table:
    value, colour, comp = facts.value, facts.colour, facts.composition
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row(
        "value",
        f"{value.key} key · mean L* {value.mean:.0f} · contrast {value.contrast:.0f} ({value.contrast_level})"
        + (" · two-sided" if value.two_sided else ""),
    )
    table.add_row("", value_bar(facts))
    table.add_row(
        "colour",
        f"{colour.temperature} (balance {colour.temperature_balance:+.2f}) · {colour.colourfulness_label} "
        f"(M {colour.colourfulness:.0f}) · mean C* {colour.mean_chroma:.0f}",
    )
    lines = comp.lines
    table.add_row(
        "lines",
        f"{lines.dominant} · horizontal {lines.horizontal:.0%} vertical {lines.vertical:.0%} "
        f"diagonal {lines.diagonal:.0%} curving {lines.curving:.0%}",
    )
    table.add_row(
        "weight",
        f"{comp.weight_position} (x {comp.weight_centre[0]:.2f}, y {comp.weight_centre[1]:.2f}; "
        f"nearest the {comp.nearest_anchor})",
    )
    table.add_row("detail", f"{comp.detail_level} edges ({comp.edge_density:.0%}) · focus: {comp.focal_area}")
    table.add_row("symmetry", f"{comp.symmetry_level} ({comp.symmetry:+.2f})")
    return table


def render_facts(facts: Facts, title: str | None = None, colour: bool = True) -> RenderableType:
    """Swatches, value histogram, the other measures and the labelled paragraph.

    `colour` False (output without colour, such as a pipe) leaves out the palette strip, which
    is drawn in background colour alone and would be a blank line; the swatch table names each
    colour with its hex value.
    """
    strip = [palette_strip(facts), Text("")] if colour else []
    body = Group(
        *strip,
        _swatch_table(facts),
        Text(""),
        _measures_table(facts),
        Text(""),
        Text(facts_paragraph(facts)),
    )
    return Panel(body, title=title or MEASURED_LABEL, title_align="left", subtitle=MEASURED_LABEL if title else None)


def render_flag_notes(flags: list[Flag]) -> RenderableType:
    """Each contradicted sentence beside the measurement that contradicts it."""
    notes = Text()
    for flag in flags:
        notes.append("• ", style="bold yellow")
        notes.append(f"“{flag.sentence}”", style="yellow")
        notes.append(f"\n  {flag.kind}: “{flag.claim}” — measured: {flag.measurement}\n")
    return Group(Text(""), Text("Contradicted by the measurements:", style="bold"), notes)


def render_flags(text: str, flags: list[Flag]) -> RenderableType:
    """The analysis with each contradicted sentence marked, and the measurements after it."""
    if not flags:
        return Text(text)
    marked = Text(text)
    notes = Text()
    spans = sorted({(f.start, f.end) for f in flags})
    for start, end in spans:
        marked.stylize("bold yellow underline", start, end)
    marked_with_refs = Text()
    cursor = 0
    for number, (start, end) in enumerate(spans, 1):
        marked_with_refs.append_text(marked[cursor:end])
        marked_with_refs.append(f" [{number}]", style="bold yellow")
        cursor = end
    marked_with_refs.append_text(marked[cursor:])
    for number, (start, end) in enumerate(spans, 1):
        for flag in (f for f in flags if (f.start, f.end) == (start, end)):
            notes.append(f"[{number}] ", style="bold yellow")
            notes.append(f"{flag.kind}: “{flag.claim}” — measured: {flag.measurement}\n")
    return Group(marked_with_refs, Text(""), Text("Contradicted by the measurements:", style="bold"), notes)
