"""When a short answer counts: the normalisation rule for Table 2, and style-name parsing.

AQUA and ArtQuest are scored by exact match: ArtQuest's own evaluation lowercases the
ground truth and the prediction and counts equal strings. A chat model asked "Answer the
question using a single word or phrase." (LLaVA-1.5's short-answer prompt) still writes
"A woman." or "Two", so both sides go through the same normalisation first:

1. Unicode NFKC, lowercase;
2. every character that is not a letter, digit or whitespace becomes a space, except an
   apostrophe, which is deleted ("artist's" -> "artists", "ukiyo-e" -> "ukiyo e");
3. number words zero to twenty become digits ("two" -> "2");
4. the articles a, an and the are dropped;
5. runs of whitespace become one space, ends trimmed.

An answer counts when the two normalised strings are equal (`answer_matches`). A looser
diagnostic, the normalised ground truth appearing as whole words inside the normalised
prediction (`answer_contains`), is reported beside it but is not the paper's number.

This is hand-written because it is a rule to state, not an algorithm a library provides;
the VQA challenge's answer processor is close but is tied to its own answer lists.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

_NUMBER_WORDS = {
    word: str(i)
    for i, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_ARTICLES = frozenset({"a", "an", "the"})
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")


def normalize_answer(text: str) -> str:
    """The normalised form both the prediction and the ground truth are compared in."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _APOSTROPHES.sub("", text)
    text = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in text)
    words = [_NUMBER_WORDS.get(word, word) for word in text.split()]
    return " ".join(word for word in words if word not in _ARTICLES)


def answer_matches(prediction: str, answer: str) -> bool:
    """The paper's count: normalised prediction equals normalised ground truth."""
    return normalize_answer(prediction) == normalize_answer(answer)


def _find_words(needle: str, haystack: str) -> int:
    """Index of `needle` as whole words in `haystack` (both normalised), or -1."""
    if not needle:
        return -1
    match = re.search(rf"(?<!\S){re.escape(needle)}(?!\S)", haystack)
    return match.start() if match else -1


def answer_contains(prediction: str, answer: str) -> bool:
    """Diagnostic only: the normalised ground truth appears as whole words in the prediction."""
    return _find_words(normalize_answer(answer), normalize_answer(prediction)) >= 0


def _forms(option: str) -> list[str]:
    """The normalised ways an answer may name `option` (noun and adjective forms)."""
    base = normalize_answer(option)
    forms = [base]
    if base.endswith("ism"):
        forms.append(base[: -len("ism")] + "ist")  # impressionism -> impressionist
    if base == "romanticism":
        forms.append("romantic")
    if " " in base:
        forms.append(base.replace(" ", ""))  # "ukiyo e" -> "ukiyoe"
    return forms


def parse_choice(text: str, options: Sequence[str]) -> str | None:
    """The option an answer names first, or None; the longer name wins at the same place."""
    said = normalize_answer(text)
    best: tuple[int, int, str] | None = None
    for option in options:
        for form in _forms(option):
            at = _find_words(form, said)
            if at < 0:
                continue
            key = (at, -len(form), option)
            if best is None or key < best:
                best = key
    return best[2] if best else None
