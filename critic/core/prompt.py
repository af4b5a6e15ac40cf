"""The Vicuna v1 conversation format GalleryGPT was trained with, and its tokenization.

GalleryGPT's training script passes ``--version v1``, which in LLaVA's ``conversation.py``
is ``conv_vicuna_v1`` (not ``conv_llava_v1``, whose system prompt says "human"). Text of
a conversation:

    {SYSTEM} USER: <image>\n{question} ASSISTANT: {answer}</s>USER: {question2} ASSISTANT:

Token form, which train/ builds for training and critic/'s engine builds for inference, so
the two cannot drift apart. LLaVA's ``tokenizer_image_token`` splits the prompt at
``<image>`` and tokenizes each piece on its own, so each piece starts with SentencePiece's
dummy prefix ``▁`` and only the first keeps its BOS:

    [BOS] sp("{SYSTEM} USER: ")  <image embeddings>  sp("\n{question} ASSISTANT:")
    answer tokens  [EOS]  after_eos("USER: {question2} ASSISTANT:")  ...

``sp(text)`` is the plain encoding of ``text`` with no special tokens; with llama.cpp that
is ``tokenize(text.encode(), add_bos=False, special=False)`` on a vocabulary whose
``add_space_prefix`` is on, with transformers ``tokenizer(text, add_special_tokens=False)``.

``after_eos`` is how the training tokenizer encodes the text that follows the ``</s>`` of
the previous answer. The release's tokenizer (``LlamaTokenizer`` with ``"legacy": false``)
puts no dummy ``▁`` there: ``USER:`` after ``</s>`` is ``USER`` ``:``, not ``▁US`` ``ER``
``:``; a ``legacy: true`` tokenizer does put it there. llama.cpp always adds the prefix
after a special token, so for ``legacy: false`` the prefix-free encoding is derived from
the plain one (`without_prefix`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
IMAGE_TOKEN = "<image>"
LEGACY_KEY = "critic.tokenizer.legacy"
"""LLM GGUF key: the checkpoint tokenizer's ``legacy`` setting (absent: the release's, false)."""
PROMPT_FORMAT = "vicuna_v1"

# Jinja chat template in the same format, stored in the LLM GGUF so that other llama.cpp
# front ends (llama-server, llama-cli) build the same text; with no system message it
# uses GalleryGPT's.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] != 'system' %}" + SYSTEM + " {% endif %}"
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

# A character no LLaMA-family vocabulary merges with its neighbours (it is a byte-fallback
# token), put in front of a text so that the dummy ``▁`` lands on it instead of the text.
_SENTINELS = ("\n", "\x01")


def without_prefix(tokenize: Tokenize, text: str) -> list[int]:
    """`text` encoded as SentencePiece encodes it with no dummy prefix (``legacy: false``
    after a special token), using only a tokenizer that always adds the prefix.

    Encodes sentinel + text and drops the sentinel's own tokens. That is exact when those
    tokens come out unchanged, i.e. no merge crossed the boundary (BPE merges inside the
    text then happen in the same order as without the sentinel); checked, never assumed.
    """
    if not text:
        return []
    for sentinel in _SENTINELS:
        lead = tokenize(sentinel)
        ids = tokenize(sentinel + text)
        if ids[:len(lead)] == lead:
            return ids[len(lead):]
    raise ValueError(f"cannot encode {text[:40]!r} without the SentencePiece prefix on this vocabulary")


def after_eos(tokenize: Tokenize, legacy: bool) -> Tokenize:
    """The encoding of text that follows ``</s>`` in training (see the module docstring)."""
    return tokenize if legacy else (lambda text: without_prefix(tokenize, text))


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
    answer_ids: Callable[[str], list[int]] | None = None, legacy: bool = False,
) -> TokenLayout:
    """Token ids for `turns` around the image, in the training layout.

    `answer_ids` encodes a past answer (default: `tokenize(answer)`, the way an answer
    follows ``ASSISTANT: ``). `legacy` is the checkpoint tokenizer's ``legacy`` setting,
    which decides how later turns are encoded after ``</s>``.
    """
    encode_answer = answer_ids or tokenize
    later = after_eos(tokenize, legacy)
    before = [bos_id, *tokenize(head_text())]
    after: list[int] = []
    spans: list[tuple[int, int]] = []
    for i, turn in enumerate(turns):
        after += tokenize(first_question_text(turn.question)) if i == 0 else later(later_question_text(turn.question))
        if turn.answer is not None:
            start = len(after)
            after += encode_answer(turn.answer) + [eos_id]
            spans.append((start, len(after)))
    return TokenLayout(before, after, spans)
