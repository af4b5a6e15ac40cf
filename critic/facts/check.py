"""Check an analysis against the picture: flag the claims the measurements clearly contradict.

The checker reads four kinds of claim — colour (a named hue dominating, or absent), value
(dark or light overall, high or low contrast), temperature (warm or cool overall) and
symmetry — and flags one only when the measurement sits far on the other side of the word's
threshold. Claims that are negated, hedged, asked, local to a detail, or about colour
contrast rather than value contrast are skipped: a missed contradiction costs less than a
false accusation. The thresholds are the `FLAG_*` constants below; `critic.facts` documents
them in words.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from critic.facts.measure import Facts

# A hue said to dominate is flagged when its loose coverage is below this share of the canvas.
FLAG_DOMINANT_BELOW = 0.02
# A hue said to be absent is flagged when its core coverage is at least this share.
FLAG_ABSENT_ABOVE = 0.15
# "Greyscale"/"colourless" is flagged when the most vivid tenth of the canvas reaches this C*.
FLAG_COLOURLESS_VIVID = 36.0
# "Dark overall" is flagged above this mean L* (and "light overall" below the other), provided
# few pixels sit on the claimed side.
FLAG_DARK_MEAN_ABOVE = 62.0
FLAG_DARK_SHARE_BELOW = 0.15
FLAG_LIGHT_MEAN_BELOW = 38.0
FLAG_LIGHT_SHARE_BELOW = 0.10
# Value contrast (5th–95th percentile range of L*).
FLAG_HIGH_CONTRAST_BELOW = 25.0
FLAG_LOW_CONTRAST_ABOVE = 75.0
# Temperature balance (-1 cool .. +1 warm).
FLAG_WARM_BALANCE_BELOW = -0.4
FLAG_COOL_BALANCE_ABOVE = 0.4
# Left–right symmetry (-1 .. 1).
FLAG_SYMMETRIC_BELOW = -0.1
FLAG_ASYMMETRIC_ABOVE = 0.85


@dataclass(frozen=True)
class Flag:
    """One claim the measurements contradict."""

    kind: str  # "colour" | "value" | "temperature" | "symmetry"
    sentence: str
    claim: str
    measurement: str
    start: int  # the sentence's offsets in the checked text
    end: int

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


HUE_WORDS: dict[str, str] = {
    "red": "red", "reds": "red", "crimson": "red", "crimsons": "red", "scarlet": "red",
    "vermilion": "red", "carmine": "red",
    "orange": "orange", "oranges": "orange",
    "yellow": "yellow", "yellows": "yellow", "golden": "yellow", "gold": "yellow", "golds": "yellow",
    "green": "green", "greens": "green", "emerald": "green", "emeralds": "green",
    "blue": "blue", "blues": "blue", "azure": "blue", "ultramarine": "blue", "cobalt": "blue",
    "cerulean": "blue", "navy": "blue", "indigo": "blue",
    "purple": "purple", "purples": "purple", "violet": "purple", "violets": "purple",
    "lilac": "purple", "lavender": "purple", "mauve": "purple",
    "pink": "pink", "pinks": "pink", "magenta": "pink",
    "brown": "brown", "browns": "brown", "umber": "brown", "umbers": "brown", "sienna": "brown",
    "earthy": "brown",
    "black": "black", "blacks": "black",
    "white": "white", "whites": "white",
    "grey": "grey", "greys": "grey",
}
_STOP_WORDS = frozenset(
    "with while which that where punctuated accented accents accent touches touch hints hint spots "
    "flecks dabs except but against contrasted contrasting contrast set offset highlighted balanced "
    "interrupted broken small occasional little few". split()
)
_NEGATION = re.compile(
    r"\b(not|no|never|nor|neither|without|lacks?|lacking|absence|absent|avoids?|avoiding|rather than|"
    r"instead of|hardly|barely|isn't|aren't|doesn't|don't|nothing|free of|devoid)\b"
)
_HEDGE = re.compile(r"\b(may|might|perhaps|possibly|could|if|whether|seems? to be|unclear)\b")
_GLOBAL = re.compile(
    r"\b(palette|overall|dominat\w*|predominant\w*|primarily|mostly|largely|mainly|throughout|entire|"
    r"whole|colou?r scheme|the (painting|image|picture|canvas|work|composition|scene))\b"
)
_COLOUR_TALK = re.compile(r"\b(colou?rs?|hues?|warm|cool|complementary|saturat\w*|" + "|".join(HUE_WORDS) + r")\b")
_VALUE_TALK = re.compile(
    r"\b(light and (dark|shadow)|dark and light|tonal|tones? contrast|values?|chiaroscuro|tenebris\w*|"
    r"shadows?|darkness|brightness|lights and darks|darks and lights)\b"
)


def _normalise(text: str) -> str:
    """Lower case, American spellings folded into British, hyphens to spaces."""
    text = text.lower().replace("-", " ").replace("’", "'")
    text = re.sub(r"\bcolor", "colour", text)
    return re.sub(r"\bgray", "grey", text)


def _sentences(text: str) -> list[tuple[int, int]]:
    """Offsets of each sentence: split after . ! ? or a line break."""
    spans, start = [], 0
    for match in re.finditer(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n|\n(?=\s*[-*•\d])", text):
        if text[start : match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _negated(sentence: str, at: int, window: int = 40) -> bool:
    """A negation in the same clause, shortly before position `at`."""
    before = re.split(r"[,;:]|\bbut\b|\bwhile\b|\bwhereas\b", sentence[max(0, at - window) : at])[-1]
    return bool(_NEGATION.search(before))


def _hue_phrase(words: str, limit: int = 8) -> list[str]:
    """Families named in the noun phrase at the start of `words`, up to a stop word."""
    families: list[str] = []
    for token in re.findall(r"[a-z']+|[,;:.()]", words)[: limit + 4]:
        if token in _STOP_WORDS or token in (";", ":", ".", "("):
            break
        if token in HUE_WORDS and HUE_WORDS[token] not in families:
            families.append(HUE_WORDS[token])
        if len(families) >= 4:
            break
    return families


def _plural(family: str) -> str:
    return {"black": "black", "white": "white", "grey": "grey"}.get(family, family + "s")


def _colour_claims(sentence: str, facts: Facts) -> list[tuple[str, str]]:
    claims: list[tuple[str, str]] = []
    dominant: list[tuple[str, str]] = []  # (family, claim text)
    for match in re.finditer(r"\bdominated by\b|\b(palette|colour scheme) (of|in)\b", sentence):
        if _negated(sentence, match.start()):
            continue
        for family in _hue_phrase(sentence[match.end() :]):
            dominant.append((family, match.group(0) + " " + family))
    for match in re.finditer(r"\b([a-z]+)(?: and ([a-z]+))? (?:tones |hues |colours |shades )?(dominates?|prevails?|predominates?)\b", sentence):
        for word in (match.group(1), match.group(2)):
            if word in HUE_WORDS and not _negated(sentence, match.start()):
                dominant.append((HUE_WORDS[word], match.group(0)))
    if _GLOBAL.search(sentence):
        for match in re.finditer(r"\b(predominantly|primarily|mainly|mostly|largely|overwhelmingly) ([a-z]+)", sentence):
            if match.group(2) in HUE_WORDS and not _negated(sentence, match.start()):
                dominant.append((HUE_WORDS[match.group(2)], match.group(0)))
    seen = set()
    for family, claim in dominant:
        coverage = facts.colour.coverage(family)
        if family in seen or coverage.loose >= FLAG_DOMINANT_BELOW:
            continue
        seen.add(family)
        claims.append(
            (claim, f"{_plural(family)} cover only {coverage.loose:.1%} of the canvas, counting every shade "
             "that could be called so")
        )
    for match in re.finditer(
        r"\b(no|without|absence of|absent|devoid of|lacks|lacking|lack of|free of|free from)"
        r"(?: any| a| trace of| hint of| sign of)? ([a-z]+)\b",
        sentence,
    ):
        word = match.group(2)
        if word not in HUE_WORDS or _HEDGE.search(sentence[: match.start()]):
            continue
        family = HUE_WORDS[word]
        coverage = facts.colour.coverage(family)
        accent = next((a for a in facts.accents if a.family == family), None)
        if coverage.core >= FLAG_ABSENT_ABOVE:
            claims.append(
                (match.group(0), f"clear {_plural(family)} cover {coverage.core:.0%} of the canvas")
            )
        elif accent is not None:  # a vivid accent is clearly there, however small its share
            claims.append(
                (match.group(0), f"vivid {accent.name} accents cover {accent.share:.1%} of the canvas "
                 f"(chroma {accent.chroma:.0f})")
            )
    for match in re.finditer(r"\b(greyscale|grisaille|colourless|achromatic|devoid of colour|monochrome grey)\b", sentence):
        if _negated(sentence, match.start()):
            continue
        if facts.colour.vivid_chroma >= FLAG_COLOURLESS_VIVID:
            claims.append(
                (match.group(0), f"the most vivid tenth of the canvas reaches chroma {facts.colour.vivid_chroma:.0f} "
                 f"({facts.colour.saturation})")
            )
    return claims


def _value_claims(sentence: str, facts: Facts) -> list[tuple[str, str]]:
    value = facts.value
    claims: list[tuple[str, str]] = []
    dark = re.search(
        r"\blow key\b|\bdark (palette|tonality)\b|\b(predominantly|overwhelmingly|mostly|largely) dark\b|"
        r"\bdominated by (dark|deep shadow|shadow|darkness)|\bdark (tones|values) (dominate|prevail)",
        sentence,
    )
    if dark and not _negated(sentence, dark.start()):
        if value.mean > FLAG_DARK_MEAN_ABOVE and value.dark_share < FLAG_DARK_SHARE_BELOW:
            claims.append(
                (dark.group(0), f"mean lightness is {value.mean:.0f} of 100 and only {value.dark_share:.0%} "
                 "of the canvas is darker than 25")
            )
    light = re.search(
        r"\bhigh key\b|\b(light|pale) (palette|tonality)\b|\b(predominantly|overwhelmingly|mostly|largely) "
        r"(light|pale)\b|\bdominated by (light|pale) (tones|values|colours)|\b(light|pale) (tones|values) "
        r"(dominate|prevail)",
        sentence,
    )
    if light and not _negated(sentence, light.start()):
        if value.mean < FLAG_LIGHT_MEAN_BELOW and value.light_share < FLAG_LIGHT_SHARE_BELOW:
            claims.append(
                (light.group(0), f"mean lightness is {value.mean:.0f} of 100 and only {value.light_share:.0%} "
                 "of the canvas is lighter than 75")
            )
    about_value = bool(_VALUE_TALK.search(sentence))
    about_colour = bool(_COLOUR_TALK.search(sentence))
    explicit = re.search(r"\bchiaroscuro\b|\btenebris\w*", sentence)
    high = explicit or re.search(
        r"\b(high|strong|stark|dramatic|sharp|striking|bold|intense|pronounced|extreme) "
        r"(tonal |value )?contrasts?\b", sentence
    )
    if high and not _negated(sentence, high.start()) and (explicit or (about_value and not about_colour)):
        if value.contrast < FLAG_HIGH_CONTRAST_BELOW:
            claims.append(
                (high.group(0), f"the middle 90% of pixels span only {value.contrast:.0f} points of lightness "
                 "(of 100)")
            )
    low = re.search(
        r"\b(low|little|minimal|subtle|soft|gentle|limited|muted) (tonal |value )?contrasts?\b|"
        r"\black of (tonal |value )?contrast\b",
        sentence,
    )
    if low and not _negated(sentence, low.start()) and (about_value or not about_colour):
        if value.contrast > FLAG_LOW_CONTRAST_ABOVE:
            claims.append(
                (low.group(0), f"the middle 90% of pixels span {value.contrast:.0f} points of lightness (of 100)")
            )
    return claims


def _temperature_claims(sentence: str, facts: Facts) -> list[tuple[str, str]]:
    has_warm = re.search(r"\bwarm", sentence)
    has_cool = re.search(r"\b(cool|cold)", sentence)
    if bool(has_warm) == bool(has_cool) or not _GLOBAL.search(sentence):
        return []
    word = "warm" if has_warm else "cool"
    pattern = (
        rf"\b{'warm' if has_warm else '(?:cool|cold)'}(?:er)?\b(?: [a-z]+){{0,2}}? (palette|tones|colours|hues|"
        r"colour scheme|tonality|temperature)\b|"
        rf"\b(palette|colour scheme|tonality|colours|tones)\b(?: [a-z]+){{0,3}}? "
        rf"(is|are|remains?|feels?|reads?|appears?|stays?|seems?)(?: [a-z]+){{0,2}}? "
        rf"{'warm' if has_warm else '(?:cool|cold)'}\b|\bdominated by (?:[a-z]+ )?{'warm' if has_warm else '(?:cool|cold)'}"
    )
    match = re.search(pattern, sentence)
    if not match or _negated(sentence, match.start()):
        return []
    balance = facts.colour.temperature_balance
    if word == "warm" and balance <= FLAG_WARM_BALANCE_BELOW:
        return [(match.group(0), f"the chroma-weighted temperature balance is {balance:+.2f} (−1 cool to +1 warm)")]
    if word == "cool" and balance >= FLAG_COOL_BALANCE_ABOVE:
        return [(match.group(0), f"the chroma-weighted temperature balance is {balance:+.2f} (−1 cool to +1 warm)")]
    return []


_SYMMETRY_BROKEN = re.compile(
    r"\b(break\w*|broken|disrupt\w*|interrupt\w*|undermin\w*|depart\w*|subvert\w*|upset\w*|tension|"
    r"almost|nearly|near|slight\w*|loose\w*)\b"
)


def _symmetry_claims(sentence: str, facts: Facts) -> list[tuple[str, str]]:
    symmetry = facts.composition.symmetry
    claims: list[tuple[str, str]] = []
    if _SYMMETRY_BROKEN.search(sentence):
        return claims
    asym = re.search(r"\basymmetr\w*", sentence)
    sym = re.search(r"\b(symmetr\w*|mirror(s|ed|ing)? (image|each other|one another))", sentence)
    if sym and not asym and not _negated(sentence, sym.start()) and not re.search(r"\bradial\b", sentence):
        if symmetry <= FLAG_SYMMETRIC_BELOW:
            claims.append(
                (sym.group(0), f"left–right symmetry is {symmetry:+.2f} (1 a mirror image, 0 unrelated halves)")
            )
    if asym and not sym and not _negated(sentence, asym.start()):
        if symmetry >= FLAG_ASYMMETRIC_ABOVE:
            claims.append(
                (asym.group(0), f"left–right symmetry is {symmetry:+.2f} (1 a mirror image, 0 unrelated halves)")
            )
    return claims


_CHECKS = (
    ("colour", _colour_claims),
    ("value", _value_claims),
    ("temperature", _temperature_claims),
    ("symmetry", _symmetry_claims),
)


def check_analysis(text: str, facts: Facts) -> list[Flag]:
    """Flags for the claims in `text` that the measured `facts` clearly contradict."""
    flags: list[Flag] = []
    for start, end in _sentences(text):
        original = text[start:end].strip()
        offset = start + (len(text[start:end]) - len(text[start:end].lstrip()))
        sentence = _normalise(original)
        if sentence.rstrip().endswith("?") or _HEDGE.search(sentence):
            continue
        for kind, find in _CHECKS:
            for claim, measurement in find(sentence, facts):
                flags.append(Flag(kind, original, claim, measurement, offset, offset + len(original)))
    return flags
