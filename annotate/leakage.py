"""Stage 5: does an analysis name the painting or its artist?

Matching is on folded text (case and accents ignored, punctuation as spaces) and on whole
words, so "Van Gogh's" and "VAN GOGH" both match "Vincent van Gogh" and "Goghish" does not.
The title matches as a whole phrase, and also without a leading article when two or more
words remain ("Starry Night" for "The Starry Night"); the artist matches by full name or by
surname (the last word of the name, suffixes like "the Elder" left out; both parts of
"Surname, Given" and of "Name (Alias)").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from critic.annotate.paintings import Painting, fold

ARTICLES = {"the", "a", "an", "la", "le", "les", "l", "il", "lo", "el", "los", "las", "der", "die", "das", "de", "het", "een"}
SUFFIXES = {"elder", "younger", "the", "jr", "sr", "ii", "iii", "iv", "i", "il", "vecchio", "giovane"}


@dataclass(frozen=True)
class Leak:
    """What an analysis named: "title" or "artist", and the words found."""

    kind: str
    words: str


def title_phrases(title: str) -> list[str]:
    """Folded phrases that count as naming the title."""
    words = fold(title).split()
    phrases = [" ".join(words)] if words else []
    if len(words) >= 3 and words[0] in ARTICLES:
        phrases.append(" ".join(words[1:]))
    return phrases


def _name_forms(name: str) -> list[str]:
    if "," in name:
        surname, _, given = name.partition(",")
        name = f"{given} {surname}"
        surname_words = fold(surname).split()
    else:
        surname_words = []
    words = fold(name).split()
    while len(words) > 1 and words[-1] in SUFFIXES:
        words.pop()
    forms = [" ".join(words)] if words else []
    surname = surname_words[-1:] if surname_words else words[-1:]
    if surname and len(surname[0]) >= 2:
        forms.append(surname[0])
    return forms


def artist_names(artist: str) -> list[str]:
    """Folded names that count as naming the artist."""
    names: list[str] = []
    for part in re.split(r"[()\[\]]", artist):
        if part.strip():
            names.extend(n for n in _name_forms(part) if n not in names)
    return names


def find_leaks(text: str, painting: Painting) -> list[Leak]:
    """Every mention of the painting's title or artist in `text`."""
    haystack = f" {fold(text)} "
    leaks = [Leak("title", p) for p in title_phrases(painting.title) if f" {p} " in haystack]
    leaks += [Leak("artist", n) for n in artist_names(painting.artist) if f" {n} " in haystack]
    return leaks
