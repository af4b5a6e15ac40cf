"""The tiny reference model: a random LLaVA-1.5 laid out exactly like the GalleryGPT release.

    python -m convert.tiny OUT [--hidden N] [--vision tiny|clip-l] [--layers N] [--vocab N]

writes, in seconds:

- ``OUT/base/``: the original LLaVA layout ShareGPT4V-7B uses (``config.json`` with
  ``mm_projector_type: mlp2x_gelu`` and friends, sharded safetensors with
  ``model.mm_projector.0/2.*``, a SentencePiece tokenizer with LLaMA's ids 0/1/2);
- ``OUT/vision-tower/``: a ``CLIPVisionModel`` folder (quick_gelu) with its
  ``preprocessor_config.json``;
- ``OUT/lora/``: a GalleryGPT-style LoRA folder: ``adapter_config.json``,
  ``adapter_model.bin`` and ``non_lora_trainables.bin`` holding a *changed* projector, so
  that a converter that forgets it is caught.

Weights are drawn at a scale where the logits are far from flat. ``--hidden 256`` makes
every matmul input width a multiple of 256, so K-quants really quantize.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class VisionSpec:
    """Shape of the CLIP vision tower."""

    hidden: int = 32
    ffn: int = 48
    layers: int = 3
    heads: int = 2
    image_size: int = 56
    patch_size: int = 14


VISION_PRESETS = {
    "tiny": VisionSpec(),
    # CLIP ViT-L/14-336, the tower every LLaVA-1.5 uses.
    "clip-l": VisionSpec(hidden=1024, ffn=4096, layers=24, heads=16, image_size=336, patch_size=14),
}


@dataclass(frozen=True)
class TinySpec:
    """Shape of the whole tiny model."""

    hidden: int = 64
    ffn: int = 0  # 0: derived from hidden
    layers: int = 2
    heads: int = 4
    vocab: int = 0  # 0: the tokenizer's own size; larger pads the vocabulary
    sp_vocab: int = 512
    vision: VisionSpec = field(default_factory=VisionSpec)
    lora_rank: int = 8
    lora_alpha: int = 16
    init_scale: float = 0.0  # 0: chosen so logits are not flat
    seed: int = 0

    @property
    def ffn_size(self) -> int:
        """LLM feed-forward width: 2.5× hidden, rounded up to a multiple of 256 past 256."""
        if self.ffn:
            return self.ffn
        size = int(self.hidden * 2.5)
        return size if self.hidden < 256 else math.ceil(size / 256) * 256


def _train_tokenizer(out: Path, vocab_size: int) -> Path:
    """Train a LLaMA-style SentencePiece BPE model (byte fallback, ids 0/1/2) on the corpus."""
    import io

    import sentencepiece as spm

    from convert.corpus import sentences

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences()),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    path = out / "tokenizer.model"
    path.write_bytes(model.getvalue())
    return path


def _write_tokenizer_files(out: Path) -> None:
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer",
        "add_bos_token": True, "add_eos_token": False, "legacy": True,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
        "model_max_length": 2048, "padding_side": "right", "clean_up_tokenization_spaces": False,
    }, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, indent=2))


def _randomize(module, scale: float, generator) -> None:
    """Fill every parameter with noise at `scale`; norms near 1 so a wrong norm is caught."""
    import torch

    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if "norm" in name and name.endswith("weight"):
                param.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias"):
                param.copy_(0.1 * noise)
            else:
                # Unit gain keeps the residual stream near unit scale through the layers;
                # the output head gets more, so the next-token distribution is peaked.
                fan_in = param.shape[-1] if param.dim() > 1 else param.shape[0]
                gain = 3.0 if name.startswith("lm_head") else 1.0
                param.copy_(noise * scale * gain / math.sqrt(max(fan_in, 1)))


def _save_sharded(tensors: dict, out: Path, shards: int = 2) -> None:
    """Save tensors as sharded safetensors with an index, like a hub checkpoint."""
    from safetensors.torch import save_file

    names = list(tensors)
    per = math.ceil(len(names) / shards)
    weight_map = {}
    for i in range(shards):
        part = names[i * per:(i + 1) * per]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n].contiguous() for n in part}, str(out / file), metadata={"format": "pt"})
        weight_map.update({n: file for n in part})
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2))


def build(out: str | Path, spec: TinySpec = TinySpec()) -> Path:
    """Write the tiny model's three folders under `out`; return `out`."""
    import sentencepiece as spm
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    out = Path(out)
    base, tower, lora = out / "base", out / "vision-tower", out / "lora"
    for folder in (base, tower, lora):
        folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(spec.seed)
    scale = spec.init_scale or 1.0

    sp_path = _train_tokenizer(base, spec.sp_vocab)
    _write_tokenizer_files(base)
    sp_size = spm.SentencePieceProcessor(model_file=str(sp_path)).vocab_size()
    vocab = max(spec.vocab, sp_size)

    text_config = LlamaConfig(
        vocab_size=vocab, hidden_size=spec.hidden, intermediate_size=spec.ffn_size,
        num_hidden_layers=spec.layers, num_attention_heads=spec.heads, num_key_value_heads=spec.heads,
        max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0,
        bos_token_id=1, eos_token_id=2, pad_token_id=None, tie_word_embeddings=False,
    )
    llm = LlamaForCausalLM(text_config).to(torch.float32)
    _randomize(llm, scale, generator)

    v = spec.vision
    vision_config = CLIPVisionConfig(
        hidden_size=v.hidden, intermediate_size=v.ffn, num_hidden_layers=v.layers,
        num_attention_heads=v.heads, image_size=v.image_size, patch_size=v.patch_size,
        hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=v.hidden,
    )
    vision = CLIPVisionModel(vision_config)
    _randomize(vision, scale, generator)
    vision.save_pretrained(tower, safe_serialization=True)
    (tower / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": v.image_size},
        "do_center_crop": True, "crop_size": {"height": v.image_size, "width": v.image_size},
        "do_normalize": True, "image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD),
        "do_rescale": True, "rescale_factor": 1 / 255, "resample": 3, "do_convert_rgb": True,
    }, indent=2))

    def projector() -> dict:
        return {
            "0.weight": torch.randn(spec.hidden, v.hidden, generator=generator) * scale / math.sqrt(v.hidden) * 2,
            "0.bias": torch.randn(spec.hidden, generator=generator) * 0.1,
            "2.weight": torch.randn(spec.hidden, spec.hidden, generator=generator) * scale / math.sqrt(spec.hidden) * 2,
            "2.bias": torch.randn(spec.hidden, generator=generator) * 0.1,
        }

    tensors = {name: t.to(torch.float16) for name, t in llm.state_dict().items()}
    tensors.update({f"model.mm_projector.{k}": t.to(torch.float16) for k, t in projector().items()})
    _save_sharded(tensors, base)
    config = text_config.to_dict()
    for key in ("architectures", "model_type", "transformers_version", "dtype", "torch_dtype"):
        config.pop(key, None)
    config.update({
        "architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava", "torch_dtype": "float16",
        "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch",
        "mm_hidden_size": v.hidden, "mm_vision_tower": "openai/clip-vit-large-patch14-336",
        "image_aspect_ratio": "pad", "mm_use_im_start_end": False, "mm_use_im_patch_token": False,
        "tokenizer_model_max_length": 2048, "tokenizer_padding_side": "right", "use_mm_proj": True,
        "freeze_mm_mlp_adapter": False, "tune_mm_mlp_adapter": False,
    })
    (base / "config.json").write_text(json.dumps(config, indent=2))

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    adapter = {}
    for name, param in llm.named_parameters():
        module = name.removesuffix(".weight")
        if module.rsplit(".", 1)[-1] in targets:
            out_f, in_f = param.shape
            key = f"base_model.model.{module}"
            adapter[f"{key}.lora_A.weight"] = torch.randn(spec.lora_rank, in_f, generator=generator) / math.sqrt(in_f)
            adapter[f"{key}.lora_B.weight"] = torch.randn(out_f, spec.lora_rank, generator=generator) * 0.05
    torch.save(adapter, lora / "adapter_model.bin")
    torch.save({f"base_model.model.model.mm_projector.{k}": t.to(torch.float16) for k, t in projector().items()},
               lora / "non_lora_trainables.bin")
    (lora / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": str(base),
        "r": spec.lora_rank, "lora_alpha": spec.lora_alpha, "lora_dropout": 0.05, "bias": "none",
        "target_modules": targets, "fan_in_fan_out": False, "inference_mode": True,
    }, indent=2))
    (lora / "config.json").write_text(json.dumps(config, indent=2))
    (out / "tiny-spec.json").write_text(json.dumps(asdict(spec), indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line for the tiny model builder."""
    parser = argparse.ArgumentParser(prog="python -m convert.tiny", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--hidden", type=int, default=64, help="LLM width (256 for K-quant tests)")
    parser.add_argument("--ffn", type=int, default=0)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=0, help="pad the vocabulary to this size")
    parser.add_argument("--vision", choices=sorted(VISION_PRESETS), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    spec = TinySpec(hidden=args.hidden, ffn=args.ffn, layers=args.layers, heads=args.heads,
                    vocab=args.vocab, vision=VISION_PRESETS[args.vision], seed=args.seed)
    print(build(args.out, spec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
