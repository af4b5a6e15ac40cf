"""Two paintings' facts side by side: one row per measure, in words and numbers."""

from __future__ import annotations

from critic.facts.measure import Facts
from critic.gallery.order import dominant_hue


def _palette(facts: Facts) -> str:
    return ", ".join(f"{s.name} {s.share:.0%}" for s in facts.palette.swatches[:3])


def _hue(facts: Facts) -> str:
    hue = dominant_hue(facts)
    return f"{hue[0]} (h {hue[1]:.0f}°)" if hue else "none (grey)"


def _colourfulness(facts: Facts) -> str:
    return f"{facts.colour.colourfulness_label} (M {facts.colour.colourfulness:.0f})"


def compare_rows(a: Facts, b: Facts) -> list[tuple[str, str, str]]:
    """(measure, first painting, second painting) for the measures worth setting side by side."""
    rows = []

    def row(label: str, describe) -> None:
        rows.append((label, describe(a), describe(b)))

    row("value key", lambda f: f"{f.value.key} (mean L* {f.value.mean:.0f})")
    row("contrast", lambda f: f"{f.value.contrast_level} ({f.value.contrast:.0f})")
    row("dark / light", lambda f: f"{f.value.dark_share:.0%} / {f.value.light_share:.0%}")
    row("temperature", lambda f: f"{f.colour.temperature} ({f.colour.temperature_balance:+.2f})")
    row("vivid chroma", lambda f: f"C* p90 {f.colour.vivid_chroma:.0f}")
    row("colourfulness", _colourfulness)
    row("dominant hue", _hue)
    row("palette", _palette)
    row("accents", lambda f: ", ".join(a.name for a in f.accents) or "none")
    row("lines", lambda f: f.composition.lines.dominant)
    row("weight", lambda f: f.composition.weight_position)
    row("focus", lambda f: f.composition.focal_area)
    row("symmetry", lambda f: f"{f.composition.symmetry_level} ({f.composition.symmetry:+.2f})")
    return rows
