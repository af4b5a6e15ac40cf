"""What the pipeline asks the LLMs, and how their answers are read.

Each stage's prompt is built from title and artist only (the model's own knowledge of the
painting is the point); each parser turns an answer into a value or raises `Malformed`, which
the runner retries and then records as a failure. Whether a parsed answer is what was asked
for (an analysis, not a refusal; a pick naming a known perspective) is annotate.validate's
question: the pipeline regenerates those with a reminder of what was wrong (`_again`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from critic.annotate.paintings import Painting, fold
from critic.core.errors import UsageError
from critic.core.perspectives import PERSPECTIVES, Perspective, perspective

KNOWLEDGE, OVERALL, PICKS, PERSPECTIVE = "knowledge", "overall", "picks", "perspective"
STAGES = (KNOWLEDGE, OVERALL, PICKS, PERSPECTIVE)
MAX_PERSPECTIVES = 5

SYSTEM = "You are an art historian who writes precise formal analyses of paintings."
RULES = (
    "Describe only what a viewer can see in the picture itself, as if to someone looking at it "
    "who does not know which painting it is. Do not mention the title, the artist, the date, "
    "or any history or biography, and never name the painting or the painter. "
    "Answer with the paragraph only."
)
OVERALL_ASPECTS = (
    "composition, colour, light and shadow, line, form and shape, space and depth, "
    "texture and brushwork"
)


class Malformed(ValueError):
    """An answer that does not say what the stage asked for."""


@dataclass(frozen=True)
class Prompt:
    """One chat request's content: messages plus sampling settings."""

    messages: tuple[tuple[str, str], ...]
    temperature: float
    max_tokens: int
    schema: dict[str, Any] | None = None
    schema_name: str = ""

    def message_dicts(self) -> list[dict[str, str]]:
        """Messages as the OpenAI API takes them."""
        return [{"role": role, "content": content} for role, content in self.messages]

    def body(self, model: str, response_format: str) -> dict[str, Any]:
        """The request body sent to a provider (with its way of asking for JSON)."""
        body: dict[str, Any] = {
            "model": model,
            "messages": self.message_dicts(),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.schema is not None and response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": self.schema_name, "schema": _strict(self.schema), "strict": True},
            }
        elif self.schema is not None and response_format == "json_object":
            # llama-cpp-python's server turns "schema" into a grammar; others ignore it.
            body["response_format"] = {"type": "json_object", "schema": self.schema}
        return body


def _strict(schema: Any) -> Any:
    """The schema without length limits, which strict structured outputs do not all accept
    (the parsers enforce the limits anyway)."""
    if isinstance(schema, dict):
        return {k: _strict(v) for k, v in schema.items() if k not in ("maxItems", "minItems")}
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def prompt_sha(body: dict[str, Any]) -> str:
    """sha256 of a request body in canonical JSON: the identity of a request in the store."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _work(painting: Painting) -> str:
    return f"the painting \u201c{painting.title}\u201d by {painting.artist}"


def knowledge_prompt(painting: Painting) -> Prompt:
    """Does the model know this painting?"""
    question = (
        f"Do you know {_work(painting)}? Answer with JSON only: {{\"known\": true}} if you know "
        "this particular painting well enough to describe what it looks like, otherwise "
        "{\"known\": false}."
    )
    schema = {
        "type": "object",
        "properties": {"known": {"type": "boolean"}},
        "required": ["known"],
        "additionalProperties": False,
    }
    return Prompt(((("user", question)),), 0.0, 32, schema, "knowledge")


def overall_prompt(
    painting: Painting, attempt: int = 0, max_tokens: int = 512, problem: str | None = None
) -> Prompt:
    """One paragraph on the painting's visual characteristics (`problem`: what was wrong with
    the previous attempt, when it was not that it named the work)."""
    question = (
        f"Write one paragraph of formal analysis of {_work(painting)}, on its visual "
        f"characteristics only: {OVERALL_ASPECTS}. {RULES}"
    )
    return Prompt((("system", SYSTEM), ("user", question + _again(attempt, problem))), 0.7, max_tokens)


def picks_prompt(painting: Painting, limit: int = MAX_PERSPECTIVES, attempt: int = 0) -> Prompt:
    """Which perspectives matter most for this painting? (Again, after an answer naming none.)"""
    listing = "\n".join(f"- {p.key}: {p.name} ({p.focus})" for p in PERSPECTIVES)
    question = (
        f"Which perspectives of formal analysis matter most for {_work(painting)}? Choose at "
        f"most {limit} from this list, most important first:\n{listing}\n"
        "Answer with JSON only, using the keys before the colons: "
        "{\"perspectives\": [\"key\", ...]}"
    )
    if attempt > 0:
        question += (f"\n\n(Attempt {attempt + 1}: an earlier answer named no perspective from the "
                     "list. Use only the keys before the colons.)")
    schema = {
        "type": "object",
        "properties": {
            "perspectives": {
                "type": "array",
                "items": {"type": "string", "enum": [p.key for p in PERSPECTIVES]},
                "minItems": 1,  # bounds a grammar-driven local model's answer
                "maxItems": limit,
            },
        },
        "required": ["perspectives"],
        "additionalProperties": False,
    }
    return Prompt(((("user", question)),), 0.0, 100, schema, "perspectives")


def perspective_prompt(
    painting: Painting, aspect: Perspective, attempt: int = 0, max_tokens: int = 512,
    problem: str | None = None,
) -> Prompt:
    """One paragraph on one perspective of the painting (`problem` as for overall_prompt)."""
    question = (
        f"Write one paragraph of formal analysis of the {aspect.name} of {_work(painting)}: "
        f"{aspect.focus}. {RULES}"
    )
    return Prompt((("system", SYSTEM), ("user", question + _again(attempt, problem))), 0.7, max_tokens)


def _again(attempt: int, problem: str | None = None) -> str:
    """The reminder added when an analysis is regenerated: after naming the work (no
    `problem`), or after an answer that was not an analysis (`problem` says what it was)."""
    if attempt <= 0:
        return ""
    if problem:
        return (
            f"\n\n(Attempt {attempt + 1}: an earlier answer was {problem}. Answer with the "
            "paragraph of formal analysis itself, in English prose, on what can be seen.)"
        )
    return (
        f"\n\n(Attempt {attempt + 1}: an earlier answer named the painting or its artist. "
        "Leave out the title and every part of the artist's name.)"
    )


def _strip_fences(text: str) -> str:
    text = text.strip()
    fenced = re.match(r"^```[\w-]*\s*\n?(.*?)\n?```$", text, re.S)
    return fenced.group(1).strip() if fenced else text


def find_json(text: str) -> Any:
    """The first JSON object or array in a text (fenced or embedded), or None."""
    text = _strip_fences(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        return value
    return None


_YES = {"yes", "true", "known", "y"}
_NO = {"no", "false", "unknown", "n", "not"}


def _verdict(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        words = fold(value).split()
        if words and words[0] in _YES:
            return True
        if words and words[0] in _NO:
            return False
    return None


def parse_known(text: str) -> bool:
    """The knowledge answer: JSON {"known": bool} or a plain yes/no as its first word."""
    value = find_json(text)
    if isinstance(value, dict):
        for key, item in value.items():
            if fold(str(key)) in ("known", "know", "knows", "answer"):
                verdict = _verdict(item)
                if verdict is not None:
                    return verdict
        raise Malformed(f"no boolean 'known' in {text[:80]!r}")
    verdict = _verdict(value) if value is not None else _verdict(_strip_fences(text))
    if verdict is None:
        raise Malformed(f"neither yes nor no: {text[:80]!r}")
    return verdict


def parse_picks(text: str, limit: int = MAX_PERSPECTIVES) -> list[str]:
    """Perspective keys named in the answer (JSON list or plain list), at most `limit`.

    An answer naming no known perspective gives [] (annotate.validate rejects it and the
    pipeline asks again with a reminder), not Malformed (which would resend the same request).
    """
    value = find_json(text)
    if isinstance(value, dict):
        value = next((v for k, v in value.items() if fold(str(k)).startswith("perspective")), None)
    if isinstance(value, list):
        names = [str(item) for item in value]
    else:
        names = re.split(r"[,;\n]", _strip_fences(text))
    keys: list[str] = []
    for name in names:
        name = re.sub(r"^\s*(?:[-*\u2022]|\d+[.)])\s*", "", name).split(":")[0].strip(" .\"'`")
        if not name:
            continue
        try:
            key = perspective(name).key
        except UsageError:
            continue
        if key not in keys:
            keys.append(key)
    return keys[:limit]


def parse_analysis(text: str) -> str:
    """The analysis as one paragraph; empty answers are malformed (whether the text is an
    analysis at all is annotate.validate's question, asked of the reply as it came)."""
    text = _strip_fences(text).strip().strip('"\u201c\u201d').strip()
    paragraph = " ".join(text.split())
    if not paragraph:
        raise Malformed("an empty answer")
    return paragraph


PARSERS: dict[str, Callable[[str], Any]] = {
    KNOWLEDGE: parse_known,
    OVERALL: parse_analysis,
    PICKS: parse_picks,
    PERSPECTIVE: parse_analysis,
}


TYPICAL_OUT = {KNOWLEDGE: 6, OVERALL: 220, PICKS: 25, PERSPECTIVE: 180}
"""Typical completion tokens per stage, for cost estimates before any answer is stored."""


def estimate_in(prompt: Prompt) -> int:
    """Prompt tokens, roughly."""
    return sum(len(content) for _, content in prompt.messages) // 4 + 8 * len(prompt.messages)
