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
from critic.facts.palette import NEUTRAL_FAMILIES

# A hue said to dominate ("dominated by blues", "a palette of reds", "the palette is red
# throughout") is contradicted when it is neither among the largest families nor a substantial
# share: its loose coverage (every shade that could be called so) is under FLAG_DOMINANT_BELOW
# of the canvas *and* under FLAG_DOMINANT_OF_LARGEST of the largest family's loose coverage.
# A red boat on 3% of a grey harbour, or a blue boat on 2% of a foggy river, fails both; the
# brown half of a warm-over-cool picture (37%) or the blues of Hokusai's wave (23%) pass.
# Tuned on the tuning set in tests/test_facts_check.py.
FLAG_DOMINANT_BELOW = 0.10
FLAG_DOMINANT_OF_LARGEST = 0.25
# A hue said to be absent ("no yellow", "devoid of blue") is contradicted by a patch of it that
# no viewer would call anything else: core coverage (the strict rule) of at least
# FLAG_ABSENT_HUE_ABOVE — 0.3% of the canvas is a small boat in a seascape, about 230 pixels
# at the 320-pixel working size, far more than a photograph's stray pixels reach — or by a
# vivid accent of it (`critic.facts.palette.ACCENT_*`). Black, white and grey have no vivid
# form, so they need FLAG_ABSENT_NEUTRAL_ABOVE of the canvas.
FLAG_ABSENT_HUE_ABOVE = 0.003
FLAG_ABSENT_NEUTRAL_ABOVE = 0.05
# "Greyscale"/"colourless" is flagged when the most vivid tenth of the canvas reaches this C*.
FLAG_COLOURLESS_VIVID = 36.0
# "Dark overall" / "low-key" is flagged when the picture is high-key (mean L* above 60, see
# `critic.facts.value.HIGH_KEY_ABOVE`) and its value distribution sits clearly on the light
# side: median L* above FLAG_DARK_MEDIAN_ABOVE with less than FLAG_OTHER_SIDE_BELOW of the canvas
# darker than L* 40. "Light overall" / "high-key" mirrors it: low-key, median below 40, under a quarter
# of the canvas lighter than L* 60. A dark room with one lit face (9% light) is still dark; a
# picture half dark and half light is neither, and is never flagged either way.
FLAG_DARK_MEDIAN_ABOVE = 60.0
FLAG_LIGHT_MEDIAN_BELOW = 40.0
FLAG_OTHER_SIDE_BELOW = 0.25
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


def _hue_phrase(words: str, limit: int = 8, skip: int = 12) -> list[str]:
    """Families named in the noun phrase at the start of `words`, up to a stop word.

    Up to `skip` leading words that are not hues may pass ("dominated by *swirling* blues");
    after a verb ("the palette is *fiery* red") fewer are allowed, so a later noun phrase is
    not read as the palette's colour.
    """
    families: list[str] = []
    for token in re.findall(r"[a-z']+|[,;:.()]", words)[: limit + 4]:
        if token in _STOP_WORDS or token in (";", ":", ".", "("):
            break
        if token in HUE_WORDS:
            if HUE_WORDS[token] not in families:
                families.append(HUE_WORDS[token])
        elif not families and token not in (",", "and", "of", "in", "the", "a", "an"):
            if skip <= 0:
                break
            skip -= 1
        if len(families) >= 4:
            break
    return families


def _plural(family: str) -> str:
    return {"black": "black", "white": "white", "grey": "grey"}.get(family, family + "s")


def _dominance_claims(sentence: str) -> list[tuple[str, str]]:
    """(family, claim text) for each hue said to rule the canvas."""
    found: list[tuple[str, str]] = []
    for match in re.finditer(r"\bdominated by\b|\b(palette|colour scheme) (of|in)\b", sentence):
        if _negated(sentence, match.start()):
            continue
        rest = sentence[match.end() :]
        for family in _hue_phrase(rest):
            found.append((family, match.group(0) + " " + family))
    for match in re.finditer(
        r"\b([a-z]+)(?: and ([a-z]+))? (?:tones |hues |colours |shades )?(dominates?|prevails?|predominates?)\b",
        sentence,
    ):
        for group in (1, 2):
            word = match.group(group)
            if word in HUE_WORDS and not _negated(sentence, match.start()):
                found.append((HUE_WORDS[word], match.group(0)))
    if _GLOBAL.search(sentence):
        for match in re.finditer(r"\b(predominantly|primarily|mainly|mostly|largely|overwhelmingly) ([a-z]+)", sentence):
            if match.group(2) in HUE_WORDS and not _negated(sentence, match.start()):
                found.append((HUE_WORDS[match.group(2)], match.group(0)))
    # "The palette is fiery red throughout", "the colour scheme remains blue and green".
    for match in re.finditer(
        r"\b(palette|colour scheme|colouring)\b(?: [a-z]+){0,2}? (is|are|remains?|stays?|consists of|runs to)\b",
        sentence,
    ):
        if _negated(sentence, match.start()) or _negated(sentence, match.end() + 12):
            continue
        for family in _hue_phrase(sentence[match.end() :], skip=3):
            found.append((family, match.group(0) + " " + family))
    # "a red palette", "an all-blue colour scheme", "reds throughout".
    for match in re.finditer(
        r"\b([a-z]+)(?: and ([a-z]+))? (palette|colour scheme)\b|\b([a-z]+)(?: and ([a-z]+))? throughout\b",
        sentence,
    ):
        for group in (1, 2, 4, 5):
            word = match.group(group)
            if word in HUE_WORDS and not _negated(sentence, match.start()):
                found.append((HUE_WORDS[word], match.group(0)))
    return found


def _colour_claims(sentence: str, facts: Facts) -> list[tuple[str, str]]:
    claims: list[tuple[str, str]] = []
    coverage = {f.family: f for f in facts.colour.families}
    largest = max(f.tinted for f in facts.colour.families)
    seen: set[str] = set()
    for family, claim in _dominance_claims(sentence):
        tinted = coverage[family].tinted
        if family in seen:
            continue
        seen.add(family)
        if tinted < FLAG_DOMINANT_BELOW and tinted < FLAG_DOMINANT_OF_LARGEST * largest:
            claims.append(
                (claim, f"{_plural(family)} cover only {tinted:.1%} of the canvas, counting every shade "
                 f"that could be called so, greyed ones too, against {largest:.0%} for the largest colour family")
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
        core = coverage[family].core
        neutral = family in NEUTRAL_FAMILIES
        accent = next((a for a in facts.accents if a.family == family), None)
        if core >= (FLAG_ABSENT_NEUTRAL_ABOVE if neutral else FLAG_ABSENT_HUE_ABOVE):
            claims.append(
                (match.group(0), f"unmistakable {_plural(family)} cover {core:.1%} of the canvas")
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
                 f"({facts.colour.colourfulness_label}, colourfulness {facts.colour.colourfulness:.0f})")
            )
    return claims


_DARK_OVERALL = re.compile(
    r"\blow key\b|\blow in key\b|\bdark (palette|tonality)\b|\b(predominantly|overwhelmingly|mostly|largely) "
    r"dark\b|\bdominated by (dark|deep shadow|shadow|darkness)|\bdark (tones|values) (dominate|prevail)|"
    r"\b(deep )?shadows? (dominates?|prevails?)\b|\bdark overall\b|\boverall,? (dark|sombre)\b|"
    r"\b(painting|picture|image|canvas|scene|work) is dark\b"
)
_LIGHT_OVERALL = re.compile(
    r"\bhigh key\b|\bhigh in key\b|\b(light|pale|airy|luminous)(, [a-z]+)? (palette|tonality)\b|"
    r"\b(predominantly|overwhelmingly|mostly|largely) (light|pale)\b|\bdominated by (light|pale) "
    r"(tones|values|colours)|\b(light|pale) (tones|values) (dominate|prevail)|\bpalette of (light|pale) "
    r"(tones|values)\b|\b(light|pale|bright) overall\b|\boverall,? (light|pale)\b|"
    r"\b(painting|picture|image|canvas|scene|work) is (light|pale)\b"
)


def _value_claims(sentence: str, facts: Facts) -> list[tuple[str, str]]:
    value = facts.value
    claims: list[tuple[str, str]] = []
    # Shares of the canvas darker than L* 40 and lighter than L* 60, from the ten-band histogram.
    below_40, above_60 = sum(value.histogram[:4]), sum(value.histogram[6:])
    dark = _DARK_OVERALL.search(sentence)
    if dark and not _negated(sentence, dark.start()):
        if value.key == "high" and value.median > FLAG_DARK_MEDIAN_ABOVE and below_40 < FLAG_OTHER_SIDE_BELOW:
            claims.append(
                (dark.group(0), f"half the canvas is lighter than {value.median:.0f} of 100 and only "
                 f"{below_40:.0%} of it is darker than 40")
            )
    light = _LIGHT_OVERALL.search(sentence)
    if light and not _negated(sentence, light.start()):
        if value.key == "low" and value.median < FLAG_LIGHT_MEDIAN_BELOW and above_60 < FLAG_OTHER_SIDE_BELOW:
            claims.append(
                (light.group(0), f"half the canvas is darker than {value.median:.0f} of 100 and only "
                 f"{above_60:.0%} of it is lighter than 60")
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


_HUE_ALTERNATION = "|".join(sorted(HUE_WORDS, key=len, reverse=True))
_PART = re.compile(
    r"\b(the|its|a|an|one) (sky|skies|sea|water|river|field|fields|foreground|background|distance|horizon|"
    r"figure|figures|face|faces|dress|robe|hat|hair|clothing|garment|flowers?|trees?|building|house|"
    r"upper|lower|left|right|top|bottom|corner|corners|edges?|centre|middle|detail|details)\b"
)


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
    if not match:
        # A temperature word attached to hues that rule the canvas: "cool blues and greens
        # dominate". Read only when nothing in the sentence narrows it to a part of the picture.
        hue = re.search(rf"\b{'warm' if has_warm else '(?:cool|cold)'}(?:er)? (?:[a-z]+ )?({_HUE_ALTERNATION})\b", sentence)
        match = hue if hue and not _PART.search(sentence) else None
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
