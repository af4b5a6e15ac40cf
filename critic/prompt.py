"""The LLaVA v1 (Vicuna) conversation format GalleryGPT was trained with, and its tokenization.

Text form of one turn:

    {SYSTEM} USER: <image>\n{question} ASSISTANT: {answer}</s>USER: {question2} ASSISTANT:

Token form, which train/ builds for training and critic/'s engine builds for inference, so
the two cannot drift apart. LLaVA's training code splits the prompt at ``<image>`` and
tokenizes each piece with SentencePiece on its own, so every piece starts with the dummy
prefix ``▁`` and only the first carries BOS. A later turn follows the model's own ``</s>``:

    [BOS] sp("{SYSTEM} USER: ")  <image embeddings>  sp("\n{question} ASSISTANT:")
    answer tokens  [EOS]  sp("USER: {question2} ASSISTANT:")  ...

``sp(text)`` is the tokenizer's plain encoding of ``text`` with no special tokens; with
llama.cpp that is ``tokenize(text.encode(), add_bos=False, special=False)`` on a vocabulary
whose ``add_space_prefix`` is on, with transformers ``tokenizer(text,
add_special_tokens=False)`` on LLaMA's slow (legacy) tokenizer. The convert parity test
proves the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
IMAGE_TOKEN = "<image>"
PROMPT_FORMAT = "llava_v1"

# Jinja chat template in the same format, stored in the LLM GGUF so that other llama.cpp
# front ends (llama-server, llama-cli) build the same text.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }} "
    "{% elif message['role'] == 'user' %}USER: {{ message['content'] }} "
    "{% else %}ASSISTANT: {{ message['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


@dataclass(frozen=True)
class Turn:
    """One exchange; `answer` is None for the turn being asked."""

    question: str
    answer: str | None = None


def prompt_text(turns: Sequence[Turn], image: bool = True) -> str:
    """The whole conversation as text, with `<image>` where the painting goes."""
    parts = [SYSTEM + " "]
    for i, turn in enumerate(turns):
        lead = f"{IMAGE_TOKEN}\n" if (i == 0 and image) else ""
        parts.append(f"USER: {lead}{turn.question} ASSISTANT:")
        if turn.answer is not None:
            parts.append(f" {turn.answer}</s>")
    return "".join(parts)


def head_text() -> str:
    """The text before the image: system prompt and the first `USER: `."""
    return SYSTEM + " USER: "


def first_question_text(question: str) -> str:
    """The text right after the image in the first turn."""
    return f"\n{question} ASSISTANT:"


def later_question_text(question: str) -> str:
    """The text of a later turn, after the previous answer's `</s>`."""
    return f"USER: {question} ASSISTANT:"


def text_only_head_text() -> str:
    """The text before the first question when there is no image."""
    return SYSTEM + " USER:"


def text_only_question_text(question: str) -> str:
    """The first turn when there is no image (its leading ▁ is the space after `USER:`)."""
    return f"{question} ASSISTANT:"


Tokenize = Callable[[str], list[int]]
"""Plain SentencePiece encoding of a piece: leading ``▁`` kept, no BOS/EOS."""


@dataclass(frozen=True)
class TokenLayout:
    """Token ids of a conversation around one image: `before` + image + `after`.

    `answer_spans` are the `[start, stop)` offsets in `after` of each answer with its EOS:
    the only tokens training computes a loss on.
    """

    before: list[int]
    after: list[int]
    answer_spans: list[tuple[int, int]] = field(default_factory=list)


def layout_tokens(
    tokenize: Tokenize, bos_id: int, eos_id: int, turns: Sequence[Turn],
    answer_ids: Callable[[str], list[int]] | None = None,
) -> TokenLayout:
    """Token ids for `turns` around the image, in the training layout.

    `answer_ids` encodes a past answer (default: `tokenize(" " + answer)`'s pieces without
    the leading space token, which is how the answer follows ``ASSISTANT:``).
    """
    encode_answer = answer_ids or (lambda a: tokenize(a))
    before = [bos_id, *tokenize(head_text())]
    after: list[int] = []
    spans: list[tuple[int, int]] = []
    for i, turn in enumerate(turns):
        text = first_question_text(turn.question) if i == 0 else later_question_text(turn.question)
        after += tokenize(text)
        if turn.answer is not None:
            start = len(after)
            after += encode_answer(turn.answer) + [eos_id]
            spans.append((start, len(after)))
    return TokenLayout(before, after, spans)
