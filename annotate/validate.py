"""Is an answer what the stage asked for? The checks that keep non-analyses out of PaintingForm.

An analysis is kept only if it is English prose of some length about what can be seen. The
checks run in this order and the first that fails names the rejection:

  json           the answer is a JSON object or array (fenced or not), not prose
  list           two or more lines are bullets, numbered items, Markdown or bold headings, or
                 "Composition: ..." labels
  refusal        first-person refusal or AI disclaimer: "I can't", "I cannot", "I am unable",
                 "I'm not able", "I don't have access", "As an AI", "as a language model" ...
  apology        "I'm sorry", "I apologize", "my apologies", "sorry, but" with no refusal
  yes_no         the answer opens with yes / no / yeah / nope and a stop ("Yes, I know it.")
  preamble       the answer opens by addressing the request ("Sure!", "Certainly,", "Of
                 course", "Here is a formal analysis ...") — chatter the model would learn
  wrong_language fewer than MIN_ENGLISH_SHARE of the words are common English function words,
                 or fewer than MIN_LATIN_SHARE of the letters are Latin
  too_short      fewer than MIN_WORDS words
  off_topic      fewer than MIN_VISUAL_TERMS different words of visual vocabulary (VISUAL)

Only English is checked: the pipeline has no language setting, its prompts are English and
`critic train` trains on English. Supporting another language means a function-word list for
it (FUNCTION_WORDS) and a visual vocabulary (VISUAL) in it, chosen by a run setting.

Thresholds, and what they were calibrated on: the analyses and bad answers in
tests/annotate_samples.py (14 real formal analyses, overall paragraphs of 100-160 words and
perspective paragraphs of 45-80, written the way GPT-4-class models answer the pipeline's
prompts; 19 non-analyses: refusals, chatter, lists, JSON, biography and provenance prose, and
French, German, Spanish, Italian and Chinese analyses) and the 8 reference analyses of
critic/data/sample_refs.json (160-175 words), measured with `measure`:

- MIN_WORDS = 40. The prompt asks for a paragraph; the shortest real one there has 45 words,
  while the chatter (yes/no, "composition, light, colour", a refusal) has 3-14. A single
  sentence of visual description (20-30 words) is not the paragraph the model is trained to
  write, so it is dropped too.
- MIN_ENGLISH_SHARE = 0.20 of the words in FUNCTION_WORDS. The real analyses have 0.35-0.49;
  the French, German, Spanish and Italian ones 0.00-0.02 (the shared "a", "in", "on" are all
  they hit). Judged only from 8 words up: a shorter answer is too short anyway.
- MIN_LATIN_SHARE = 0.8 of letters. English prose is all Latin letters; a Chinese, Japanese,
  Greek or Russian answer has almost none (and too few spaces for its words to be counted).
- MIN_VISUAL_TERMS = 3 different words of VISUAL. The real analyses use 5-31; the off-topic
  prose 0-1 (what it hits are idioms such as "in light of"). Words that prose about a
  painting's history uses all the time ("painting", "canvas", "painted", "work", "artist")
  are deliberately not in VISUAL.

A pick answer is rejected as `no_perspective` when it names no key of critic.core.perspectives
(the parser has already dropped every name it does not know).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from critic.annotate.prompts import OVERALL, PERSPECTIVE, PICKS, find_json

MIN_WORDS = 40
MIN_ENGLISH_SHARE = 0.20
MIN_LATIN_SHARE = 0.8
MIN_VISUAL_TERMS = 3

REASONS: dict[str, str] = {
    "json": "JSON instead of prose",
    "list": "a list instead of a paragraph",
    "refusal": "a refusal",
    "apology": "an apology",
    "yes_no": "a yes/no answer",
    "preamble": "chatter before the analysis",
    "wrong_language": "not in English",
    "too_short": f"shorter than {MIN_WORDS} words",
    "off_topic": "not about what can be seen",
    "no_perspective": "no known perspective named",
}
"""Every rejection reason, in the order reports list them, with the words reports use."""

FUNCTION_WORDS = frozenset("""
the of and a an in to is are was were with that this these those its it by as on from which
at into their while where be been has have for or but than so each through across between
against toward towards both more most not only there they them over under up down his her
whose who what when how one other such very also just then yet into upon about around behind
""".split())
"""Common English function words: a paragraph of English prose is a third or more of them.

Written here rather than taken from a language-identification library (langdetect, lingua,
the fastText ones, which also download a model): the only question is "is this paragraph
English?", which the share of these words settles with a margin of ten to one."""

VISUAL = (
    r"compos\w*", r"colou?r\w*", r"hues?", r"palette", r"tint\w*", r"tones?", r"tonal\w*",
    r"saturat\w*", r"chroma\w*", r"monochrom\w*", r"warm\w*", r"cool\w*",
    r"light\w*", r"shadows?", r"shad\w+", r"illumin\w*", r"chiaroscuro", r"highlights?",
    r"luminous\w*", r"glow\w*", r"dark\w*", r"bright\w*", r"contrast\w*", r"values?",
    r"lines?", r"linear\w*", r"contours?", r"outlines?", r"edges?", r"curv\w*", r"diagonal\w*",
    r"vertical\w*", r"horizontal\w*", r"horizon", r"arcs?", r"swirl\w*", r"spiral\w*",
    r"forms?", r"shapes?", r"volumes?", r"mass\w*", r"geometr\w*", r"silhouett\w*",
    r"model(?:l)?ed", r"model(?:l)?ing", r"flat\w*",
    r"space", r"spatial\w*", r"depth", r"perspective", r"foreground", r"background",
    r"middle ?ground", r"planes?", r"reced\w*", r"overlap\w*", r"atmospher\w*",
    r"textur\w*", r"brush\w*", r"strokes?", r"impasto", r"surface\w*", r"glaz\w*", r"daubs?",
    r"dabs?", r"scumbl\w*", r"handling",
    r"balanc\w*", r"symmetr\w*", r"asymmetr\w*", r"proportion\w*", r"rhythm\w*", r"pattern\w*",
    r"repet\w*", r"repeat\w*", r"movement", r"focal", r"frame\w*", r"framing", r"axis",
    r"triang\w*", r"circular", r"verticals", r"grid",
    r"blues?", r"reds?", r"yellows?", r"greens?", r"ochres?", r"oranges?", r"violets?",
    r"purples?", r"golds?", r"golden", r"whites?", r"blacks?", r"gr[ae]ys?", r"browns?",
    r"crimson", r"ultramarine", r"vermilion", r"umber", r"sienna", r"cobalt", r"pinks?",
    r"turquoise", r"teal", r"scarlet", r"indigo",
)
"""Words of formal analysis (regular expressions matched as whole words, case-folded)."""

_VISUAL_RE = re.compile(r"\b(?:" + "|".join(VISUAL) + r")\b")
_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")

_REFUSAL_RE = re.compile(
    r"\bI\s*(?:can(?:no|[\u2019']|)t|am\s+(?:not\s+able|unable)|['\u2019]m\s+(?:not\s+able|unable)"
    r"|(?:do|does)\s*(?:n[\u2019']t|not)\s+(?:have\s+(?:access|the\s+ability|enough|information|"
    r"any\s+(?:information|knowledge|details))|know|recogni[sz]e)"
    r"|won[\u2019']t|will\s+not|must\s+decline|(?:['\u2019]m|am)\s+not\s+(?:familiar|sure\s+which|aware))"
    r"|\bas\s+an?\s+(?:AI|artificial\s+intelligence|(?:large\s+)?language\s+model|assistant)\b",
    re.I,
)
_APOLOGY_RE = re.compile(
    r"\bI\s*(?:['\u2019]m|am)\s+(?:so\s+|very\s+|truly\s+)?sorry\b|\bI\s+apologi[sz]e\b"
    r"|\b(?:my\s+)?apologies\b|^\W*sorry\b|\bsorry,\s+but\b|\bsorry\s+for\s+the\s+confusion\b",
    re.I,
)
_YES_NO_RE = re.compile(r"^\W*(?:yes|no|yeah|yep|nope|nah)\b\s*[,.!;:\u2014-]", re.I)
_PREAMBLE_RE = re.compile(
    r"^\W*(?:(?:sure|certainly|of\s+course|absolutely|gladly|great\s+question)\b\s*[,.!:\u2014-]"
    r"|here(?:\s+is|['\u2019]s)\s+(?:a|an|the|my)\s+(?:\w+\s+){0,2}"
    r"(?:analysis|paragraph|description|look|overview)\b)",
    re.I,
)
_ITEM_RE = re.compile(
    r"^\s*(?:[-*+\u2022\u2013\u2014]\s+|\d+[.)]\s+|[a-z][.)]\s+|#{1,6}\s|\*\*[^*\n]+\*\*"
    r"|[a-z][a-z &/-]{0,30}:\s)",
    re.I,
)


@dataclass(frozen=True)
class Measures:
    """The numbers the checks compare with their thresholds."""

    words: int
    english_share: float
    latin_share: float
    visual_terms: int
    list_lines: int


def _letters_latin(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
    return latin / len(letters)


def measure(text: str) -> Measures:
    """Word count, English share, Latin share, distinct visual terms and list lines of `text`."""
    words = [w.casefold().replace("\u2019", "'") for w in _WORD_RE.findall(text)]
    english = sum(1 for w in words if w in FUNCTION_WORDS)
    terms = {m.group(0) for m in _VISUAL_RE.finditer(text.casefold())}
    items = sum(1 for line in text.splitlines() if _ITEM_RE.match(line))
    return Measures(len(words), english / len(words) if words else 0.0, _letters_latin(text),
                    len(terms), items)


def _is_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped.startswith(("{", "[", "```")):
        return False
    return isinstance(find_json(stripped), (dict, list))


def check_analysis(text: str) -> str | None:
    """Why `text` is not a formal analysis to keep (a key of REASONS), or None when it is one."""
    if _is_json(text):
        return "json"
    m = measure(text)
    if m.list_lines >= 2:
        return "list"
    if _REFUSAL_RE.search(text):
        return "refusal"
    if _APOLOGY_RE.search(text):
        return "apology"
    if _YES_NO_RE.match(text):
        return "yes_no"
    if _PREAMBLE_RE.match(text):
        return "preamble"
    if m.latin_share < MIN_LATIN_SHARE or (m.words >= 8 and m.english_share < MIN_ENGLISH_SHARE):
        return "wrong_language"
    if m.words < MIN_WORDS:
        return "too_short"
    if m.visual_terms < MIN_VISUAL_TERMS:
        return "off_topic"
    return None


def check_picks(keys: list[str]) -> str | None:
    """Why a parsed pick answer is not kept, or None when it names a known perspective."""
    return None if keys else "no_perspective"


def check(stage: str, text: str | None, value: Any) -> str | None:
    """The rejection reason of a parsed answer of `stage`, or None (always None for knowledge)."""
    if stage in (OVERALL, PERSPECTIVE):
        return check_analysis(text if text is not None else str(value))
    if stage == PICKS:
        return check_picks(list(value or []))
    return None
