"""The perspectives of formal analysis, defined once.

annotate/ asks LLMs for analyses under these names, train/ builds instructions from the
same wording, and `critic analyze --aspect` asks the model with it, so a perspective means
the same thing at every stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from critic.core.errors import UsageError, did_you_mean

DEFAULT_QUESTION = (
    "Please compose a coherent paragraph of formal analysis focusing on visual characteristics."
)
"""The paper's evaluation prompt, and critic's default question."""

BRIEF_SUFFIX = " Keep it brief: only the essential points, in two or three sentences."


@dataclass(frozen=True)
class Perspective:
    """One aspect of visual form."""

    key: str
    name: str
    focus: str

    @property
    def question(self) -> str:
        """The question critic asks the model for this perspective."""
        return (
            f"Please compose a coherent paragraph of formal analysis focusing on the {self.name} "
            f"of this painting: {self.focus}."
        )


PERSPECTIVES: tuple[Perspective, ...] = (
    Perspective("composition", "composition",
                "how the elements are arranged, where the eye is led, and how the picture is structured"),
    Perspective("color", "color palette",
                "the hues, their saturation and temperature, and how the colours relate to each other"),
    Perspective("light", "light and shadow",
                "the light source, the values from light to dark, contrast and modelling"),
    Perspective("line", "line",
                "the character and direction of lines and contours and how they move the eye"),
    Perspective("form", "form and shape",
                "the shapes, their volume or flatness, and how they are simplified or modelled"),
    Perspective("space", "space and depth",
                "how depth is suggested or denied: overlap, scale, perspective and atmosphere"),
    Perspective("texture", "texture and brushwork",
                "the surface, the handling of paint or medium, and the visible marks"),
    Perspective("balance", "balance and proportion",
                "how visual weight is distributed and the proportions of the parts to the whole"),
    Perspective("rhythm", "rhythm and movement",
                "repetition, pattern and the sense of motion across the surface"),
)

_BY_KEY = {p.key: p for p in PERSPECTIVES}
_BY_NAME = {p.name: p for p in PERSPECTIVES}


def perspective(name: str) -> Perspective:
    """Find a perspective by key, full name or number (1-9, as in chat), case-insensitively."""
    wanted = " ".join(name.lower().replace("_", " ").replace("-", " ").split())
    wanted = wanted.replace("colour", "color")
    if wanted.isdigit() and 1 <= int(wanted) <= len(PERSPECTIVES):
        return PERSPECTIVES[int(wanted) - 1]
    found = _BY_KEY.get(wanted) or _BY_NAME.get(wanted)
    if found is None:
        for p in PERSPECTIVES:
            if wanted and (p.name.startswith(wanted) or wanted in p.name.split(" and ")):
                return p
        names = ", ".join(p.key for p in PERSPECTIVES)
        hint = did_you_mean(wanted, [*_BY_KEY, *_BY_NAME])
        raise UsageError(f"unknown aspect '{name}'{hint}: choose one of {names}, or 1-{len(PERSPECTIVES)} "
                         "(`critic analyze --aspects`)")
    return found


def expand_aspects(aspects: list[str] | None) -> list[str | None]:
    """The perspectives asked for (`all`: every one, in order); [None] for the default question."""
    if not aspects:
        return [None]
    keys: list[str | None] = []
    for aspect in aspects:
        for key in ([p.key for p in PERSPECTIVES] if aspect.strip().lower() == "all" else [perspective(aspect).key]):
            if key not in keys:
                keys.append(key)
    return keys


def compose_question(
    aspect: str | None = None, ask: str | None = None, brief: bool = False, lang: str | None = None
) -> str:
    """The question for one request, from the analyze/chat options."""
    if aspect and ask:
        raise UsageError("--aspect and --ask ask two different questions: give one of them")
    question = ask.strip() if ask else perspective(aspect).question if aspect else DEFAULT_QUESTION
    if brief:
        question += BRIEF_SUFFIX
    if lang:
        question += f" Answer in {lang}."
    return question
