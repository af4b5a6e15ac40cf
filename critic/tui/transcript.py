"""A conversation as text: the Markdown file `save` writes, and answers with contradicted sentences marked.

Plain functions over records, no Textual: the app, the tests and anything else can call them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from critic.core.names import safe_name
from critic.core.regions import CROP_NOTE, region_label
from critic.engine.base import TurnRecord, describe_runtime
from critic.facts.check import Flag
from critic.history import Provenance

PARTIAL_NOTE = "stopped before the end: partial answer"

# C0 and C1 control characters other than tab and newline: a model can emit them, a terminal
# would act on them, and an XML (SVG) screenshot cannot hold them.
_CONTROL = dict.fromkeys([*range(0, 9), 11, 12, *range(13, 32), 127, *range(128, 160)])


def printable(text: str) -> str:
    """`text` without control characters (tab and newline kept)."""
    return text.translate(_CONTROL)


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines() or [""])


def to_markdown(header: Provenance, turns: Sequence[TurnRecord], conversation_id: int | None = None,
                saved_at: datetime | None = None) -> str:
    """The whole conversation as a Markdown document."""
    saved_at = saved_at or datetime.now(timezone.utc)
    name = safe_name(Path(header.image_path).name)
    settings = ", ".join(f"{key} {value}" for key, value in header.settings.items()) or "defaults"
    model = f"{header.model} ({header.quantization})" if header.quantization else header.model
    lines = [
        f"# Conversation about {name}",
        "",
        f"- Painting: `{safe_name(header.image_path)}`",
        f"- Painting sha256: `{header.image_sha256}`",
        f"- Model: {model}",
    ]
    if header.region:
        lines[0] = f"# Conversation about a detail of {name}"
        lines.insert(4, f"- Detail: {region_label(header.region)}; {CROP_NOTE}")
    if header.model_sha256:
        lines.append(f"- Model sha256: `{header.model_sha256}`")
    lines.append(f"- Settings: {settings}")
    ran_on = next((describe_runtime(t.runtime) for t in turns if getattr(t, "runtime", None)), "")
    if ran_on:
        lines.append(f"- Ran on: {ran_on}")
    if conversation_id is not None:
        lines.append(f"- Conversation: {conversation_id} (`critic chat --resume {conversation_id}`)")
    lines += [f"- Saved: {saved_at.isoformat(timespec='seconds')}", ""]
    for number, turn in enumerate(turns, 1):
        lines += [f"## {number}. Question", "", _quote(turn.question), "", "### Answer", ""]
        lines.append(printable(turn.answer).strip() or "*(no text)*")
        if turn.partial:
            lines += ["", f"*({PARTIAL_NOTE})*"]
        note = sampled_note(turn, header.settings)
        if note:
            lines += ["", f"*({note})*"]
        here = describe_runtime(getattr(turn, "runtime", None) or {})
        if here and here != ran_on:
            lines += ["", f"*(computed with {here})*"]
        lines.append("")
    return "\n".join(lines)


def sampled_note(turn: TurnRecord, settings: dict) -> str | None:
    """How a sampled answer can be drawn again (None for a greedy one); names the temperature when it was
    not the conversation's own."""
    if turn.temperature is not None and turn.temperature > 0:
        note = f"sampled at temperature {turn.temperature:g}, in place of the greedy answer"
        if turn.seed is None:
            return note
        return f"{note}, with seed {turn.seed}: `--temperature {turn.temperature:g} --seed {turn.seed}` draws it again"
    if turn.temperature is None and turn.seed is not None and settings.get("temperature", 0) > 0:
        return f"sampled with seed {turn.seed}: `--seed {turn.seed}` draws it again"
    return None


def mark_flags(text: str, flags: Sequence[Flag]) -> tuple[str, list[str]]:
    """The answer with each contradicted sentence in bold and numbered, and one note per number."""
    spans = sorted({(f.start, f.end) for f in flags})
    if not spans:
        return text, []
    parts: list[str] = []
    notes: list[str] = []
    cursor = 0
    for number, (start, end) in enumerate(spans, 1):
        sentence = text[start:end].strip()
        lead = text[start:end][: len(text[start:end]) - len(text[start:end].lstrip())]
        parts.append(text[cursor:start] + lead)
        # Markdown emphasis cannot hold a sentence that has its own asterisks: show it plain then.
        parts.append(f"**{sentence}** [{number}]" if "*" not in sentence else f"{sentence} [{number}]")
        cursor = end
        for flag in (f for f in flags if (f.start, f.end) == (start, end)):
            notes.append(f"[{number}] {flag.kind}: “{flag.claim}”; measured: {flag.measurement}")
    parts.append(text[cursor:])
    return "".join(parts), notes
