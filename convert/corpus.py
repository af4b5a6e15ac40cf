"""A few hundred English sentences about paintings, to train the tiny model's tokenizer.

The tiny reference model needs a real SentencePiece vocabulary (scores, byte fallback,
LLaMA's special ids) so that tokenization is tested for real; the words here cover the
prompt format, the perspectives and the colour names the pipeline test trains on.
"""

from __future__ import annotations

import itertools

from critic.core.perspectives import DEFAULT_QUESTION, PERSPECTIVES
from critic.core.prompt import SYSTEM

COLOURS = ("red", "blue", "green", "yellow", "orange", "purple", "black", "white", "brown", "grey")
SUBJECTS = ("The sky", "The sea", "The figure", "The background", "The foreground", "The canvas",
            "The field", "The wave", "The face", "The horizon", "The light", "The shadow")
VERBS = ("is dominated by", "glows with", "is painted in", "is built from", "leans toward", "rests on")
QUALITIES = ("warm", "cool", "bright", "dark", "soft", "bold", "calm", "restless", "flat", "deep")
NOUNS = ("strokes", "lines", "shapes", "tones", "masses", "contours", "curves", "planes", "forms")


def sentences() -> list[str]:
    """The tokenizer's training text."""
    # "</s>USER:" as training text has it after an answer, where a legacy: false tokenizer
    # encodes USER without the dummy prefix: the vocabulary learns that piece as LLaMA's has it.
    lines = [SYSTEM, DEFAULT_QUESTION, "USER: <image>", "ASSISTANT:", "</s>USER: And the light? ASSISTANT:"]
    lines += [p.question for p in PERSPECTIVES]
    for i, (subject, verb, colour) in enumerate(itertools.product(SUBJECTS, VERBS, COLOURS)):
        quality = QUALITIES[i % len(QUALITIES)]
        noun = NOUNS[i % len(NOUNS)]
        lines.append(f"{subject} {verb} {quality} {colour} {noun}.")
        if i % 7 == 0:
            lines.append(f"The dominant colour is {colour}; the palette is {quality}.\n")
    lines += [f"Numbers 0123456789, {n} marks, {n * 3} lines and ({n}%)." for n in range(30)]
    return lines
