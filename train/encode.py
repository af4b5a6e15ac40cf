"""A conversation as training tokens: critic's shared layout, labels on the answers only.

The ids come from `critic.core.prompt.layout_tokens`, the definition the runtime uses to ask
the model, so training and inference see the same tokens. Every position is masked
(label -100) except the assistant's answers and the EOS after each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from critic.core.prompt import Tokenize, Turn, layout_tokens

IGNORE = -100
"""The label PyTorch's cross entropy skips."""


@dataclass(frozen=True)
class Example:
    """One training sample: `before` + `image_tokens` image positions + `after`."""

    record: int
    image: Path
    before: tuple[int, ...]
    after: tuple[int, ...]
    labels: tuple[int, ...]
    """Labels of the `after` positions (before and image positions are never labelled)."""
    truncated: bool = False

    def length(self, image_tokens: int) -> int:
        """Total positions, image included."""
        return len(self.before) + image_tokens + len(self.after)


def encode(record: int, image: Path, turns: Sequence[Turn], tokenize: Tokenize, bos_id: int, eos_id: int,
           image_tokens: int, max_length: int, legacy: bool = False) -> Example | None:
    """The sample for one conversation, cut to `max_length`; None if no answer token is left.

    `legacy` is the base tokenizer's setting (`critic.llava.checkpoint.tokenizer_legacy`).
    """
    layout = layout_tokens(tokenize, bos_id, eos_id, turns, legacy=legacy)
    labels = [IGNORE] * len(layout.after)
    for start, stop in layout.answer_spans:
        labels[start:stop] = layout.after[start:stop]
    room = max_length - len(layout.before) - image_tokens
    truncated = len(layout.after) > room
    after = layout.after[:max(room, 0)]
    labels = labels[:len(after)]
    if all(label == IGNORE for label in labels):
        return None
    return Example(record, image, tuple(layout.before), tuple(after), tuple(labels), truncated)


def hf_tokenizer(base: str | Path):
    """LLaMA's SentencePiece tokenizer from the checkpoint, always adding the dummy prefix.

    The prefix-free encoding after ``</s>`` that a ``legacy: false`` tokenizer makes is
    derived from this one by `critic.core.prompt.after_eos`, as the runtime derives it.
    """
    from transformers import LlamaTokenizer

    return LlamaTokenizer.from_pretrained(str(base), legacy=True)


def plain_encoder(tokenizer) -> Tokenize:
    """The plain encoding of one text piece: SentencePiece's leading ▁ kept, no BOS/EOS."""
    return lambda text: list(tokenizer(text, add_special_tokens=False).input_ids)
