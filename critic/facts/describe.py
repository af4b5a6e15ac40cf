"""Plain words composed from the measurements: a paragraph for people, a summary for prompts."""

from __future__ import annotations

from critic.facts.composition import NEAR_ANCHOR
from critic.facts.records import Facts

MEASURED_LABEL = "Measured from the image, not written by a model"

_PLURAL = {
    "black": "blacks", "white": "whites", "grey": "greys", "red": "reds", "orange": "oranges",
    "yellow": "yellows", "green": "greens", "blue": "blues", "purple": "purples", "pink": "pinks",
    "brown": "browns", "cream": "light neutrals/creams",
}


def family_words(facts: Facts, family: str) -> str:
    """A family in the plural ("blues"); "greyish blues" when every listed swatch of it is a greyish name."""
    names = [s.name for s in facts.palette.swatches if s.family == family]
    plural = _PLURAL.get(family, family)
    return f"greyish {plural}" if names and all("greyish" in name for name in names) else plural


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def _list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _lines_phrase(facts: Facts) -> str:
    lines = facts.composition.lines
    if lines.dominant == "none":
        return "there are no clear edges to give lines a direction"
    if lines.dominant == "mixed":
        return "no single line direction dominates"
    share = getattr(lines, lines.dominant)
    return f"{lines.dominant} lines dominate ({_pct(share)} of the edge energy)"


def _symmetry_phrase(facts: Facts) -> str:
    comp = facts.composition
    words = {
        "symmetric": "the left and right halves nearly mirror each other",
        "roughly symmetric": "the left and right halves roughly mirror each other",
        "partly symmetric": "the left and right halves only partly mirror each other",
        "asymmetric": "the left and right halves do not mirror each other",
    }[comp.symmetry_level]
    return f"{words} (symmetry {comp.symmetry:+.2f} on a −1 to +1 scale)"


def _weight_phrase(facts: Facts) -> str:
    comp = facts.composition
    where = "at the centre" if comp.weight_position == "centred" else comp.weight_position
    near = f", near the {comp.nearest_anchor}" if comp.anchor_distance <= NEAR_ANCHOR else ""
    if comp.nearest_anchor == "centre" and comp.weight_position == "centred":
        near = ""
    return f"the visual weight sits {where}{near}"


def accent_phrases(facts: Facts) -> list[str]:
    """Each accent as "orange (2.7%)"."""
    return [f"{a.name} ({_pct(a.share)})" for a in facts.accents]


def temperature_sentence(facts: Facts) -> str:
    """One sentence on the colour temperature, for each of its four words."""
    balance = facts.colour.temperature_balance
    return {
        "warm": f"The colour reads warm (balance {balance:+.2f} on a −1 cool to +1 warm scale).",
        "cool": f"The colour reads cool (balance {balance:+.2f} on a −1 cool to +1 warm scale).",
        "balanced": f"Warm and cool colours are in balance (balance {balance:+.2f} on a −1 cool to +1 warm scale).",
        "neutral": "The colour is close to neutral grey, with no temperature to speak of.",
    }[facts.colour.temperature]


def colourfulness_sentence(facts: Facts) -> str:
    """One sentence naming Hasler and Süsstrunk's colourfulness category, with M."""
    colour = facts.colour
    return (
        f"On Hasler and Süsstrunk's scale the picture is {colour.colourfulness_label} "
        f"(colourfulness {colour.colourfulness:.0f}; mean chroma {colour.mean_chroma:.0f})."
    )


def facts_paragraph(facts: Facts) -> str:
    """A short plain paragraph composed from the measurements."""
    value, comp, palette = facts.value, facts.composition, facts.palette
    sentences = []
    key = f"{value.key}-key" if value.key != "middle" else "middle-key"
    sentences.append(
        f"{_article(key).capitalize()} {key} picture (mean lightness {value.mean:.0f} of 100) with "
        f"{value.contrast_level} contrast: the middle 90% of its pixels span {value.contrast:.0f} "
        "points of lightness."
    )
    if value.two_sided:
        sentences.append(
            f"Its values split into two separate masses, darks and lights "
            f"({_pct(value.dark_share)} of the canvas below lightness 25, {_pct(value.light_share)} above 75)."
        )
    if palette.families:
        top = palette.families[0]
        named = [f"{s.name} ({_pct(s.share)})" for s in palette.swatches[:3]]
        lead = f"{family_words(facts, top.family).capitalize()} cover {_pct(top.share)} of the canvas"
        sentences.append(f"{lead}; the largest named colours are {_list(named)}.")
    if facts.accents:
        sentences.append(f"Vivid accents stand out from them: {_list(accent_phrases(facts))}.")
    sentences.append(temperature_sentence(facts))
    sentences.append(colourfulness_sentence(facts))
    detail = (
        f"detail concentrates in the {comp.focal_area}"
        if comp.focal_area != "spread across the canvas"
        else "detail is spread across the canvas"
    )
    sentences.append(f"{_weight_phrase(facts).capitalize()}; {detail} ({comp.detail_level} edges).")
    sentences.append(f"{_lines_phrase(facts).capitalize()}, and {_symmetry_phrase(facts)}.")
    return " ".join(sentences)


def grounding_summary(facts: Facts) -> str:
    """A compact block of measured facts to put before a question (`--ground`)."""
    value, colour, comp, palette = facts.value, facts.colour, facts.composition, facts.palette
    swatches = ", ".join(f"{s.name} {_pct(s.share)}" for s in palette.swatches[:4])
    families = ", ".join(f"{family_words(facts, f.family)} {_pct(f.share)}" for f in palette.families[:3])
    lines = comp.lines.dominant if comp.lines.dominant not in ("none", "mixed") else "no single"
    accents = f" Vivid accents: {', '.join(accent_phrases(facts))}." if facts.accents else ""
    parts = [
        f"Palette: {swatches} ({families}).{accents}",
        f"Value: {value.key} key, mean lightness {value.mean:.0f}/100, {value.contrast_level} contrast"
        + (", darks and lights in two separate masses." if value.two_sided else "."),
        f"Colour: {colour.temperature}, {colour.colourfulness_label}.",
        f"Composition: visual weight {comp.weight_position}, detail "
        + (comp.focal_area if comp.focal_area.startswith("spread") else f"in the {comp.focal_area}")
        + f", {lines} line direction, {comp.symmetry_level} left to right.",
    ]
    return "Measured from the image's pixels: " + " ".join(parts)
