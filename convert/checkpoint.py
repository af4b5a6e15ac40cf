"""The order convert/ writes a checkpoint's LLM tensors in (the checkpoint itself is read by `critic.llava.checkpoint`)."""

from __future__ import annotations

import re
from typing import Iterator

from critic.llava.checkpoint import Checkpoint

LAYER_RE = re.compile(r"\.layers\.(\d+)\.")


def iter_llm_names(ckpt: Checkpoint) -> Iterator[str]:
    """LLM tensor names in a stable order: embeddings, layers in order, norm, output."""
    names = ckpt.names("llm")

    def key(name: str) -> tuple[int, int, str]:
        match = LAYER_RE.search(name)
        if "embed_tokens" in name:
            return (0, 0, name)
        if match:
            return (1, int(match.group(1)), name)
        return (2, 0, name)

    yield from sorted(names, key=key)
