"""A chat conversation as an illustrated HTML page (what ctrl+s writes to a .html name in `critic chat`)."""

from __future__ import annotations

from pathlib import Path

from critic.core.names import safe_name
from critic.core.regions import CROP_NOTE, region_label
from critic.report.build import conversation_report


def conversation_html(conversation) -> str:
    """`conversation` (a `critic.tui.conversation.Conversation`) as one self-contained HTML page."""
    header = conversation.header()
    painting = conversation.painting
    model = {"name": header.model, "quantization": header.quantization, "sha256": header.model_sha256}
    name = safe_name(Path(header.image_path).name) if header.image_path else "no painting"
    number = conversation.id
    note = f"critic chat conversation {number} (`critic chat --resume {number}`)" if number is not None else "critic chat"
    title = f"Conversation about {name}"
    if header.region:  # the picture shown is the crop, its facts the crop's
        title = f"Conversation about a detail of {name}"
        note = f"{note} · {region_label(header.region)}: {CROP_NOTE}"
    return conversation_report(painting.image if painting else None, painting.facts if painting else None,
                               conversation.turns, model, header.settings, title, note)
