"""A detail's facts set against the whole painting's: "the detail is darker and warmer than the painting overall".

Each comparison speaks only when the difference is past its threshold, so a detail that is
much like the whole is said to be so. The numbers in brackets are the detail's and the
whole's measures, in the units `critic.facts` documents.
"""

from __future__ import annotations

from critic.facts.describe import family_words
from critic.facts.records import Facts

LIGHTNESS_STEP = 5.0
"""Mean L* apart before one is called darker or lighter."""
TEMPERATURE_STEP = 0.15
"""Temperature balance (−1 cool … +1 warm) apart before one is called warmer or cooler."""
COLOURFULNESS_STEP = 10.0
"""Hasler and Süsstrunk's M apart before one is called more or less colourful."""
CONTRAST_STEP = 10.0
"""Contrast (p95 − p5 of L*) apart before one is said to have more or less contrast."""
EDGE_STEP = 0.05
"""Edge density (share of edge pixels) apart before one is called busier or calmer."""


def _words(detail: Facts, whole: Facts) -> tuple[list[str], list[str]]:
    """The comparative words that hold, and the measurements behind them."""
    words, numbers = [], []
    dv, wv = detail.value, whole.value
    if abs(dv.mean - wv.mean) >= LIGHTNESS_STEP:
        words.append("darker" if dv.mean < wv.mean else "lighter")
        numbers.append(f"mean lightness {dv.mean:.0f} against {wv.mean:.0f}")
    dc, wc = detail.colour, whole.colour
    greys = dc.temperature == "neutral" and wc.temperature == "neutral"
    if not greys and abs(dc.temperature_balance - wc.temperature_balance) >= TEMPERATURE_STEP:
        words.append("warmer" if dc.temperature_balance > wc.temperature_balance else "cooler")
        numbers.append(f"temperature {dc.temperature_balance:+.2f} against {wc.temperature_balance:+.2f}")
    if abs(dc.colourfulness - wc.colourfulness) >= COLOURFULNESS_STEP:
        words.append("more colourful" if dc.colourfulness > wc.colourfulness else "more muted")
        numbers.append(f"colourfulness {dc.colourfulness:.0f} against {wc.colourfulness:.0f}")
    if abs(dv.contrast - wv.contrast) >= CONTRAST_STEP:
        words.append("more contrasted" if dv.contrast > wv.contrast else "softer in contrast")
        numbers.append(f"contrast {dv.contrast:.0f} against {wv.contrast:.0f}")
    de, we = detail.composition.edge_density, whole.composition.edge_density
    if abs(de - we) >= EDGE_STEP:
        words.append("busier" if de > we else "calmer")
        numbers.append(f"edges on {de:.0%} of it against {we:.0%}")
    return words, numbers


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def compare_to_whole(detail: Facts, whole: Facts, brief: bool = False) -> str:
    """A few sentences on how the detail's measures differ from the whole painting's (`brief`: the first
    sentence alone, without its numbers)."""
    words, numbers = _words(detail, whole)
    if words:
        sentences = [f"The detail is {_and(words)} than the painting overall"
                     + ("." if brief else f" ({'; '.join(numbers)}).")]
    else:
        sentences = ["The detail is much like the painting overall in lightness, colour temperature, "
                     "colourfulness, contrast and detail."]
    if brief:
        return sentences[0]
    lead, overall = detail.palette.families[:1], whole.palette.families[:1]
    if lead and overall and lead[0].family != overall[0].family:
        sentences.append(f"{family_words(detail, lead[0].family).capitalize()} lead here ({lead[0].share:.0%}) "
                         f"where {family_words(whole, overall[0].family)} lead the painting "
                         f"({overall[0].share:.0%}).")
    lines, all_lines = detail.composition.lines, whole.composition.lines
    if lines.dominant not in ("mixed", "none") and lines.dominant != all_lines.dominant:
        share = getattr(lines, lines.dominant)
        where = ("no single direction leads" if all_lines.dominant == "mixed"
                 else "there are no clear edges" if all_lines.dominant == "none"
                 else f"{all_lines.dominant} lines lead")
        sentences.append(f"Its lines are mostly {lines.dominant} ({share:.0%} of the edge energy) where in the "
                         f"whole painting {where}.")
    return " ".join(sentences)
