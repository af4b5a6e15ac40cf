"""LLaVA's training-time prompt and tokenization, written out in the tests from the upstream code.

Sources: LLaVA's ``llava/conversation.py`` (``conv_vicuna_v1``, what ``--version v1``
selects), ``llava/mm_utils.py`` (``tokenizer_image_token``) and the slow ``LlamaTokenizer``
of transformers 4.31-4.36 (``tokenize`` / ``_tokenize`` with and without ``legacy``), which
the release was trained with. Nothing here calls critic's prompt code, so a test that
compares against it sees critic's mistakes.
"""

from __future__ import annotations

from pathlib import Path

SPIECE_UNDERLINE = "\u2581"
IMAGE_TOKEN_INDEX = -200

# conv_vicuna_v1: sep_style TWO, sep " ", sep2 "</s>", roles USER / ASSISTANT.
VICUNA_V1_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                    "The assistant gives helpful, detailed, and polite answers to the user's questions.")


def conv_vicuna_v1(messages: list[str | None]) -> str:
    """Conversation.get_prompt() for alternating USER / ASSISTANT messages (None: the open turn)."""
    seps = [" ", "</s>"]
    ret = VICUNA_V1_SYSTEM + seps[0]
    for i, message in enumerate(messages):
        role = ("USER", "ASSISTANT")[i % 2]
        ret += f"{role}: {message}{seps[i % 2]}" if message else f"{role}:"
    return ret


class SlowLlamaTokenizer:
    """transformers 4.3x's LlamaTokenizer.tokenize, for the pieces LLaVA's prompts contain."""

    def __init__(self, model_file: Path, legacy: bool) -> None:
        import sentencepiece as spm
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        self.legacy = legacy
        proto = model_pb2.ModelProto()
        proto.ParseFromString(Path(model_file).read_bytes())
        if not legacy:  # get_spm_processor: the dummy prefix is switched off in the normalizer
            proto.normalizer_spec.add_dummy_prefix = False
        self.sp = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
        self.unk_token_length = len(self.sp.encode("<unk>"))

    def _tokenize(self, text: str) -> list[int]:
        if self.legacy or not text.startswith((SPIECE_UNDERLINE, " ")):
            return self.sp.encode(text)
        tokens = self.sp.encode("<unk>" + text)
        return tokens[self.unk_token_length:]

    def __call__(self, text: str) -> list[int]:
        """input_ids with BOS: the special token </s> splits the text, each part tokenized alone."""
        if not self.legacy:
            text = SPIECE_UNDERLINE + text.replace(SPIECE_UNDERLINE, " ")
        ids = [self.sp.bos_id()]
        for i, part in enumerate(text.split("</s>")):
            if i:
                ids.append(self.sp.eos_id())
            if part:
                ids += self._tokenize(part)
        return ids


def tokenizer_image_token(prompt: str, tokenizer: SlowLlamaTokenizer) -> list[int]:
    """LLaVA's tokenizer_image_token: chunks around <image>, the BOS of later chunks dropped."""
    chunks = [tokenizer(chunk) for chunk in prompt.split("<image>")]
    ids = list(chunks[0])
    for chunk in chunks[1:]:
        ids += [IMAGE_TOKEN_INDEX] + chunk[1:]
    return ids
