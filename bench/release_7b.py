"""A random GalleryGPT at full size, laid out file for file like the release (what `critic convert` reads).

- ``base/``: ShareGPT4V-7B with GalleryGPT's config.json: LLaMA-7B (32 layers, 4096 wide, FFN 11008,
  vocabulary 32000) as two bf16 ``pytorch_model-0000X-of-00002.bin`` pickles with their index, the
  per-layer float32 ``rotary_emb.inv_freq``, the projector, a 32000-piece SentencePiece
  ``tokenizer.model`` (BPE with byte fallback, ids 0/1/2 as LLaMA's, trained on English text found
  on this machine — Python's documentation and docstrings — so prompts have about their true
  length: 65 tokens for the paper's prompt against LLaMA's ~60) and the slow-tokenizer files;
- ``vision-tower/``: a CLIP ViT-L/14-336 ``CLIPVisionModel`` in bf16 with its configs;
- ``lora/``: r 128 / alpha 256 on every linear layer, ``non_lora_trainables.bin``, as LLaVA's train.py
  leaves it.

Written shard by shard from random values, so the builder holds one shard (≤ 10 GB) at a time.
The layout and configuration come from critic.convert.tiny, which the test suite holds to the
release; only the sizes and the streaming differ.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HIDDEN, FFN, LAYERS, HEADS, VOCAB = 4096, 11008, 32, 32, 32000
SHARD_ONE_LAYERS = 23
"""Layers in the first shard: about the release's 9.98 GB / 3.54 GB split."""


def english_corpus(limit: int = 40_000_000) -> list[str]:
    """Lines of English prose from Python's own documentation on this machine (topics and docstrings)."""
    import ast

    import pydoc_data.topics as topics

    lines: list[str] = []
    for text in topics.topics.values():
        lines += text.splitlines()
    library = Path(ast.__file__).parent
    size = sum(len(line) for line in lines)
    for path in sorted(library.rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts or size > limit:
            continue
        try:
            tree = ast.parse(path.read_text(errors="ignore"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
                doc = ast.get_docstring(node)
                if doc:
                    lines += doc.splitlines()
                    size += len(doc)
    return [line for line in lines if line.strip()]


def train_tokenizer(base: Path) -> Path:
    """A 32000-piece LLaMA-style SentencePiece model in `base`."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(english_corpus()), model_writer=model, model_type="bpe", vocab_size=VOCAB,
        byte_fallback=True, split_digits=True, allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", add_dummy_prefix=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        character_coverage=0.9995, input_sentence_size=400_000, shuffle_input_sentence=True,
        max_sentence_length=8000, minloglevel=2,
    )
    path = base / "tokenizer.model"
    path.write_bytes(model.getvalue())
    return path


def _llm_shapes() -> list[tuple[str, tuple[int, ...]]]:
    """The release's LLM tensors in checkpoint order, with their shapes."""
    shapes = [("model.embed_tokens.weight", (VOCAB, HIDDEN))]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        shapes += [(p + "self_attn.q_proj.weight", (HIDDEN, HIDDEN)), (p + "self_attn.k_proj.weight", (HIDDEN, HIDDEN)),
                   (p + "self_attn.v_proj.weight", (HIDDEN, HIDDEN)), (p + "self_attn.o_proj.weight", (HIDDEN, HIDDEN)),
                   (p + "self_attn.rotary_emb.inv_freq", (HIDDEN // HEADS // 2,)),
                   (p + "mlp.gate_proj.weight", (FFN, HIDDEN)), (p + "mlp.up_proj.weight", (FFN, HIDDEN)),
                   (p + "mlp.down_proj.weight", (HIDDEN, FFN)),
                   (p + "input_layernorm.weight", (HIDDEN,)), (p + "post_attention_layernorm.weight", (HIDDEN,))]
    shapes += [("model.norm.weight", (HIDDEN,)), ("lm_head.weight", (VOCAB, HIDDEN))]
    return shapes


def _tensor(name: str, shape: tuple[int, ...], generator):
    import torch

    if name.endswith("inv_freq"):
        head_dim = HIDDEN // HEADS
        return 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    if "norm" in name:
        return (1.0 + 0.2 * torch.randn(shape, generator=generator)).to(torch.bfloat16)
    gain = 3.0 if name.startswith("lm_head") else 1.0
    return (torch.randn(shape, generator=generator, dtype=torch.bfloat16) * (gain / math.sqrt(shape[-1])))


def build(out: Path) -> Path:
    """Write base/, vision-tower/ and lora/ under `out` (skipped when a finished build is there)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from critic.convert.tiny import (RELEASE_TOWER, VISION_PRESETS, TinySpec, _randomize, _write_lora,
                                     _write_tokenizer_files, release_config)
    from critic.core.images import CLIP_MEAN, CLIP_STD

    if (out / "built.json").exists():
        return out
    started = time.perf_counter()
    base, tower, lora = out / "base", out / "vision-tower", out / "lora"
    for folder in (base, tower, lora):
        folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    train_tokenizer(base)
    _write_tokenizer_files(base)
    spec = TinySpec(hidden=HIDDEN, ffn=FFN, layers=LAYERS, heads=HEADS, vocab=VOCAB, lora_rank=128, lora_alpha=256,
                    vision=VISION_PRESETS["clip-l"])
    v = spec.vision
    projector = {"0.weight": torch.randn(HIDDEN, v.hidden, generator=generator) * 2 / math.sqrt(v.hidden),
                 "0.bias": torch.randn(HIDDEN, generator=generator) * 0.1,
                 "2.weight": torch.randn(HIDDEN, HIDDEN, generator=generator) * 2 / math.sqrt(HIDDEN),
                 "2.bias": torch.randn(HIDDEN, generator=generator) * 0.1}
    shapes = _llm_shapes()
    split = next(i for i, (n, _) in enumerate(shapes) if n.startswith(f"model.layers.{SHARD_ONE_LAYERS}."))
    shards = [shapes[:split], shapes[split:]]
    weight_map, total = {}, 0
    for index, part in enumerate(shards):
        file = f"pytorch_model-{index + 1:05d}-of-00002.bin"
        tensors = {name: _tensor(name, shape, generator) for name, shape in part}
        if index == len(shards) - 1:
            tensors.update({f"model.mm_projector.{k}": t.to(torch.bfloat16) for k, t in projector.items()})
        torch.save(tensors, base / file)
        weight_map.update({name: file for name in tensors})
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        del tensors
    (base / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    text_config = {"hidden_size": HIDDEN, "intermediate_size": FFN, "vocab_size": VOCAB}
    config = release_config(text_config, spec)
    (base / "config.json").write_text(json.dumps(config, indent=2))

    vision_config = CLIPVisionConfig(hidden_size=v.hidden, intermediate_size=v.ffn, num_hidden_layers=v.layers,
                                     num_attention_heads=v.heads, image_size=v.image_size, patch_size=v.patch_size,
                                     hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=v.hidden)
    vision = CLIPVisionModel(vision_config)
    _randomize(vision, 1.0, generator)
    torch.save({k: t.to(torch.bfloat16) for k, t in vision.state_dict().items() if not k.endswith("position_ids")},
               tower / "pytorch_model.bin")
    del vision
    (tower / "config.json").write_text(json.dumps({**vision_config.to_dict(), "_name_or_path": RELEASE_TOWER,
                                                   "architectures": ["CLIPVisionModel"],
                                                   "model_type": "clip_vision_model", "torch_dtype": "bfloat16"},
                                                  indent=2))
    (tower / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": v.image_size, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD),
        "resample": 3, "size": v.image_size}, indent=2))
    # the LoRA needs only the LLM's linear layers' names and shapes
    linears = [(n, SimpleNamespace(shape=s)) for n, s in shapes if len(s) == 2 and ".layers." in n]
    _write_lora(lora, SimpleNamespace(named_parameters=lambda: iter(linears)), spec, config, projector, generator)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    (out / "built.json").write_text(json.dumps({"seconds": round(seconds, 1), "bytes": size}))
    print(f"built the release-layout 7B in {seconds:.0f} s: {size / 1e9:.2f} GB", file=sys.stderr)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else "bench-work/release-7b")))
