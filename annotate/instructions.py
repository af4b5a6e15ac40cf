"""The human turns of train.json: varied phrasings of the overall and perspective questions.

The first phrasing of each is the one critic itself asks (DEFAULT_QUESTION, a perspective's
`.question`), so the model sees the runtime's wording often; the others keep it from tying
the answer to one sentence. The choice is a hash of the record id, stable across runs.
"""

from __future__ import annotations

import hashlib

from critic.core.perspectives import DEFAULT_QUESTION, Perspective, perspective

OVERALL_PHRASINGS: tuple[str, ...] = (
    DEFAULT_QUESTION,
    "Write a paragraph of formal analysis of this painting, describing only what can be seen.",
    "Describe the visual characteristics of this painting in one coherent paragraph.",
    "Analyze the formal qualities of this artwork: composition, color, light, line, form, "
    "space and texture.",
    "What does this painting look like? Give a formal analysis in a single paragraph.",
    "Offer a formal analysis of the painting, focusing on its visual elements rather than its "
    "subject's story.",
)

PERSPECTIVE_PHRASINGS: tuple[str, ...] = (
    "{question}",
    "Analyze the {name} of this painting in one paragraph: {focus}.",
    "Focusing on {name}, write a paragraph of formal analysis of this painting.",
    "Describe the {name} of this artwork, looking at {focus}.",
    "How does this painting use {name}? Answer with a paragraph of formal analysis.",
)


def _pick(record_id: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:4], "big") % count


def instruction(kind: str, record_id: str) -> str:
    """The question for one training record: overall when `kind` is "overall", else that perspective."""
    if kind == "overall":
        return OVERALL_PHRASINGS[_pick(record_id, len(OVERALL_PHRASINGS))]
    aspect: Perspective = perspective(kind)
    template = PERSPECTIVE_PHRASINGS[_pick(record_id, len(PERSPECTIVE_PHRASINGS))]
    return template.format(question=aspect.question, name=aspect.name, focus=aspect.focus)
