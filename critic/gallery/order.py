"""Sorting and filtering a gallery by what was measured: value key, temperature, colourfulness, hue.

The filter is a few words typed in the gallery, all of which must hold:

    key=low            value key: low, middle or high
    temperature=warm   (or temp=) warm, cool, balanced or neutral
    hue=blue           the dominant hue's colour family (see `dominant_hue`)
    colourfulness>40   (or colour>, colorfulness>) Hasler and Süsstrunk's M, with > or <
    lightness<45       mean L*, with > or <
    wave               any other word: part of the file name

Pictures not measured yet (or unreadable) pass only a filter of names, and sort last.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from critic.facts.colour import MIN_CHROMA_FOR_HUE
from critic.facts.colour_names import FAMILIES
from critic.facts.palette import NEUTRAL_FAMILIES
from critic.facts.records import Facts
from critic.gallery.catalog import Entry

SORTS: tuple[str, ...] = ("name", "key", "temperature", "colourfulness", "hue")
"""The sort orders, in the order the gallery's `s` key steps through them."""

SORT_LABELS = {
    "name": "name",
    "key": "value key, dark to light",
    "temperature": "temperature, warm to cool",
    "colourfulness": "colourfulness, most first",
    "hue": "dominant hue, round the wheel from red",
}


def hue_angle(lab: tuple[float, float, float]) -> float:
    """The CIELAB hue angle in degrees, 0–360."""
    return math.degrees(math.atan2(lab[2], lab[1])) % 360.0


def dominant_hue(facts: Facts) -> tuple[str, float] | None:
    """(family, hue angle) of the largest palette colour that has a hue; None for a grey picture."""
    for swatch in facts.palette.swatches:
        if math.hypot(swatch.lab[1], swatch.lab[2]) >= MIN_CHROMA_FOR_HUE and swatch.family not in NEUTRAL_FAMILIES:
            return swatch.family, hue_angle(swatch.lab)
    return None


def _sort_value(name: str, facts: Facts) -> float:
    if name == "key":
        return facts.value.mean
    if name == "temperature":
        return -facts.colour.temperature_balance
    if name == "colourfulness":
        return -facts.colour.colourfulness
    return dominant_hue(facts)[1]


def sort_entries(entries: list[Entry], by: str = "name", reverse: bool = False) -> list[Entry]:
    """`entries` in the order `by` (one of SORTS), ties by name; the unmeasured last either way."""
    if by not in SORTS:
        raise ValueError(f"unknown sort {by!r}: one of {', '.join(SORTS)}")
    by_name = sorted(entries, key=lambda e: str(e.path).lower())
    if by == "name":
        return list(reversed(by_name)) if reverse else by_name
    # Pictures with nothing to sort by (not measured yet, unreadable, or a grey with no hue) go last.
    measured = [e for e in by_name if e.facts is not None and (by != "hue" or dominant_hue(e.facts))]
    rest = [e for e in by_name if e not in measured]
    measured.sort(key=lambda e: _sort_value(by, e.facts), reverse=reverse)
    return measured + rest


@dataclass(frozen=True)
class Term:
    """One word of a filter."""

    field: str  # "name" or one of the measured fields
    op: str  # "=", "<", ">" or "~" (part of the name)
    value: str | float


_FIELDS = {
    "key": "key", "temperature": "temperature", "temp": "temperature", "hue": "hue",
"colourfulness": "colourfulness", "colorfulness": "colourfulness",
    "colour": "colourfulness", "color": "colourfulness", "lightness": "lightness", "mean": "lightness",
}
_NUMERIC = {"colourfulness", "lightness"}
_WORDS = {
    "key": ("low", "middle", "high"),
    "temperature": ("warm", "cool", "balanced", "neutral"),
    "hue": tuple(f for f in FAMILIES if f not in NEUTRAL_FAMILIES),
}


def parse_filter(text: str) -> list[Term]:
    """The terms of a filter (see the module docstring); ValueError with a one-line reason."""
    terms = []
    for word in text.lower().split():
        match = re.fullmatch(r"([a-z]+)\s*([=<>:])\s*(.+)", word)
        if not match:
            terms.append(Term("name", "~", word))
            continue
        raw, op, value = match.groups()
        field = _FIELDS.get(raw)
        if field is None:
            raise ValueError(f"unknown filter {raw!r}: use key, temperature, hue, colourfulness or lightness")
        op = "=" if op == ":" else op
        if field in _NUMERIC:
            if op == "=":
                raise ValueError(f"{raw} takes < or > and a number, as in {raw}>40")
            try:
                terms.append(Term(field, op, float(value)))
            except ValueError:
                raise ValueError(f"{raw}{op}{value}: {value!r} is not a number") from None
            continue
        if op != "=":
            raise ValueError(f"{raw} takes = and a word, as in {raw}={_WORDS[field][0]}")
        if value not in _WORDS[field]:
            raise ValueError(f"{raw}={value}: one of {', '.join(_WORDS[field])}")
        terms.append(Term(field, op, value))
    return terms


def _holds(term: Term, entry: Entry) -> bool:
    if term.field == "name":
        return str(term.value) in entry.path.name.lower()
    facts = entry.facts
    if facts is None:
        return False
    if term.field in _NUMERIC:
        number = facts.colour.colourfulness if term.field == "colourfulness" else facts.value.mean
        return number > term.value if term.op == ">" else number < term.value
    if term.field == "key":
        return facts.value.key == term.value
    if term.field == "temperature":
        return facts.colour.temperature == term.value
    hue = dominant_hue(facts)
    return hue is not None and hue[0] == term.value


def matcher(text: str) -> Callable[[Entry], bool]:
    """A predicate for the filter `text` (every term must hold); ValueError for a filter it cannot read."""
    terms = parse_filter(text)
    return lambda entry: all(_holds(term, entry) for term in terms)
