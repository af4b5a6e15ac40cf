"""The small files of a transformers-native export: config, tokenizer, image processor, chat template.

Written as the JSON that ``llava-hf/llava-1.5-7b-hf`` ships (transformers 4.4x field names),
which transformers 5, vLLM and SGLang all read; transformers 5's own ``save_pretrained``
writes names older readers do not know (``TokenizersBackend``, ``rope_parameters``).

Decisions:

- **The image token.** LLaVA's code splices image features at the id -200, which no
  tokenizer can produce. transformers' LLaVA (and vLLM, SGLang, TGI after it) instead
  adds ``<image>`` to the vocabulary and its processor expands it to one token per image
  feature, (336 / 14)² = 576 for LLaVA-1.5. ``<image>`` takes the next id after the
  tokenizer's pieces (32000 for the release), and the embedding and output matrices get a
  row for it (or reuse a padding row no piece uses). Both rows are the mean of the
  existing rows: the input row is never read (the image features replace it), and with
  the mean as output row the token's logit is the mean logit, so by Jensen's inequality
  its probability is at most 1 / vocab and it never wins an argmax over the real pieces.
- **The tokenizer** is transformers' conversion of ``tokenizer.model`` with SentencePiece's
  ``▁`` put before every piece of text between special tokens (``"legacy": true``). The
  serving engines tokenize the whole rendered prompt at once, ``<s>`` included, where
  LLaVA's training tokenized each ``<image>``-separated chunk on its own, each with the
  dummy prefix. With ``legacy: false`` (the release's slow tokenizer setting) transformers'
  fast tokenizer puts ``▁`` only at the very start of the string, so ``A chat…`` after
  ``<s>`` and ``\\n{question}`` after ``<image>`` lose the ``▁`` training had: two wrong
  tokens in every prompt. With ``legacy: true`` a one-turn prompt (all critic sends, and
  every eval prompt) tokenizes exactly as in training; a later turn of a chat starts with
  ``▁USER`` where training, after ``</s>``, had ``USER`` (measured by verify).
- **Padding to square.** transformers' ``LlavaImageProcessor`` has ``do_pad`` (read in
  transformers 5.24): pad with the mean colour as ``int(mean × 255)``, then resize and
  crop, exactly LLaVA's ``expand2square``; it is on. A transformers too old to have that
  class cannot load the processor. SGLang reads ``image_aspect_ratio: pad`` from config.json
  instead (it defaults to ``anyres`` without it). critic's ``--server`` client pads
  before sending as well (critic/engine/server.py), so a server that does not pad still
  sees the trained square.
"""

from __future__ import annotations

import json
from pathlib import Path

from critic.core.prompt import SYSTEM
from critic.llava.checkpoint import Checkpoint

IMAGE_TOKEN = "<image>"
HF_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] != 'system' %}" + SYSTEM + " {% endif %}"
    "{% for message in messages %}"
    "{% if message['content'] is string %}{% set text = message['content'] %}"
    "{% else %}{% set ns = namespace(text='') %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] in ('image', 'image_url') %}{% set ns.text = ns.text + '<image>\\n' %}{% endif %}"
    "{% endfor %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{% set ns.text = ns.text + part['text'] %}{% endif %}"
    "{% endfor %}{% set text = ns.text %}{% endif %}"
    "{% if message['role'] == 'system' %}{{ text }} "
    "{% elif message['role'] == 'user' %}USER: {{ text }} "
    "{% else %}ASSISTANT: {{ text }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
"""Vicuna v1 (``conv_vicuna_v1``) for transformers' and the engines' chat APIs.

Like critic.core.prompt.CHAT_TEMPLATE, and also for message content given as a list of parts
(transformers' processors, vLLM's OpenAI format): every image part becomes ``<image>\\n``
before the text, where LLaVA put it."""

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "chat_template.json")


def image_seq_length(ckpt: Checkpoint) -> int:
    """Image tokens per picture: one per patch, the class token dropped (``default``)."""
    return (ckpt.vision.image_size // ckpt.vision.patch_size) ** 2


def _json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_config(ckpt: Checkpoint, folder: Path, vocab: int, image_token_id: int, dtype: str) -> None:
    """config.json and generation_config.json for `LlavaForConditionalGeneration`."""
    t, v = ckpt.llm, ckpt.vision
    text = {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": vocab, "hidden_size": t.hidden,
        "intermediate_size": t.ffn, "num_hidden_layers": t.layers, "num_attention_heads": t.heads,
        "num_key_value_heads": t.kv_heads, "hidden_act": "silu", "rms_norm_eps": t.rms_eps,
        "rope_theta": t.rope_theta, "max_position_embeddings": t.context, "bos_token_id": 1, "eos_token_id": 2,
        "pad_token_id": 0, "tie_word_embeddings": False, "torch_dtype": dtype,
    }
    vision = {
        "model_type": "clip_vision_model", "hidden_size": v.hidden, "intermediate_size": v.ffn,
        "num_hidden_layers": v.layers, "num_attention_heads": v.heads, "image_size": v.image_size,
        "patch_size": v.patch_size, "hidden_act": v.act, "layer_norm_eps": v.eps, "projection_dim": v.hidden,
        "num_channels": 3, "torch_dtype": dtype,
    }
    _json(folder / "config.json", {
        "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
        "text_config": text, "vision_config": vision,
        "image_token_index": image_token_id, "image_seq_length": image_seq_length(ckpt),
        "projector_hidden_act": "gelu", "multimodal_projector_bias": True,
        "vision_feature_layer": v.select_layer, "vision_feature_select_strategy": "default",
        "image_aspect_ratio": "pad" if ckpt.preprocess == "pad" else "square",
        "tie_word_embeddings": False, "torch_dtype": dtype,
    })
    _json(folder / "generation_config.json", {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0})


def _added(content: str) -> dict:
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
            "special": True}


def write_tokenizer(ckpt: Checkpoint, folder: Path) -> int:
    """tokenizer.json (+ the SentencePiece model and the config files); return ``<image>``'s id."""
    import shutil

    from tokenizers import AddedToken, pre_tokenizers
    from transformers import AutoTokenizer

    from critic.core.errors import BadCheckpoint

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(ckpt.path), use_fast=True, legacy=True)
    except (OSError, ValueError, TypeError) as err:
        raise BadCheckpoint(f"{ckpt.path}: transformers cannot read its tokenizer ({err})") from None
    backend = tokenizer.backend_tokenizer
    # Every text piece between special tokens starts with ▁, as each chunk did in training.
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    if backend.token_to_id(IMAGE_TOKEN) is None:
        backend.add_special_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)])
    image_id = backend.token_to_id(IMAGE_TOKEN)
    backend.save(str(folder / "tokenizer.json"))
    shutil.copyfile(ckpt.tokenizer_model, folder / "tokenizer.model")
    decoder = {str(i): _added(piece) for i, piece in ((0, "<unk>"), (1, "<s>"), (2, "</s>"), (image_id, IMAGE_TOKEN))}
    _json(folder / "tokenizer_config.json", {
        "tokenizer_class": "LlamaTokenizer", "legacy": True, "add_bos_token": True, "add_eos_token": False,
        "add_prefix_space": None, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>",
        "added_tokens_decoder": decoder, "additional_special_tokens": [IMAGE_TOKEN], "image_token": IMAGE_TOKEN,
        "clean_up_tokenization_spaces": False, "model_max_length": ckpt.llm.context, "padding_side": "left",
        "sp_model_kwargs": {}, "chat_template": HF_CHAT_TEMPLATE,
    })
    _json(folder / "special_tokens_map.json", {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>",
        "additional_special_tokens": [IMAGE_TOKEN]})
    return image_id


def write_processor(ckpt: Checkpoint, folder: Path) -> None:
    """preprocessor_config.json (pad to square, CLIP's resize, crop and normalisation) and the processor's files."""
    v = ckpt.vision
    _json(folder / "preprocessor_config.json", {
        "image_processor_type": "LlavaImageProcessor", "processor_class": "LlavaProcessor",
        "do_pad": ckpt.preprocess == "pad", "do_resize": True, "size": {"shortest_edge": v.image_size},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": v.image_size, "width": v.image_size},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": list(v.mean), "image_std": list(v.std), "do_convert_rgb": True,
    })
    _json(folder / "processor_config.json", {
        "processor_class": "LlavaProcessor", "patch_size": v.patch_size, "vision_feature_select_strategy": "default",
        "num_additional_image_tokens": 1, "image_token": IMAGE_TOKEN})
    _json(folder / "chat_template.json", {"chat_template": HF_CHAT_TEMPLATE})
