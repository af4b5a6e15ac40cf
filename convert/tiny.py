"""The tiny reference model: a random LLaVA-1.5 laid out file for file like the GalleryGPT release.

    python -m critic.convert.tiny OUT [--hidden N] [--vision tiny|clip-l] [--layers N] [--vocab N] [--share4v]

writes, in seconds, the three folders a user downloads (see ../shared/DESIGN.md, "The real
release, file by file"), with tiny random weights:

- ``OUT/base/``: ShareGPT4V-7B with GalleryGPT's ``config.json`` put in its place
  (``LLaVALlamaForCausalLM`` / ``llava``, ``mm_vision_tower
  Lin-Chen/ShareGPT4V-7B_Pretrained_vit-large336-l12``, ``mlp2x_gelu``, select layer -2,
  ``patch`` features, ``pad``, the ShareGPT4V training extras; ``--share4v`` writes the
  hub's own ``Share4VLlamaForCausalLM`` / ``share4v`` instead): two
  ``pytorch_model-0000X-of-00002.bin`` pickles of bf16 tensors with
  ``pytorch_model.bin.index.json``, one float32 ``rotary_emb.inv_freq`` per layer,
  ``model.mm_projector.{0,2}.*``, no vision tower inside; a SentencePiece
  ``tokenizer.model`` with LLaMA's ids 0/1/2 and a slow ``LlamaTokenizer`` config with
  ``"legacy": false``;
- ``OUT/vision-tower/``: a ``CLIPVisionModel`` (quick_gelu) as a bf16 ``pytorch_model.bin``
  without ``position_ids``, its ``config.json`` naming itself
  ``Lin-Chen/ShareGPT4V-7B_Pretrained_vit-large336-l12`` and ``preprocessor_config.json``;
- ``OUT/lora/``: what LLaVA's ``train.py`` leaves with a current peft: ``adapter_config.json``,
  ``adapter_model.safetensors`` (bf16, peft's saved names), ``non_lora_trainables.bin``
  with only ``base_model.model.model.mm_projector.{0,2}.*`` in bf16 and a *changed*
  projector (so a converter that forgets it is caught), the training ``config.json``,
  peft's ``README.md``, ``trainer_state.json`` and a ``checkpoint-N/`` folder, which (as in
  training) holds no ``non_lora_trainables.bin``.

Weights are drawn at a scale where the logits are far from flat. ``--hidden 256`` makes
every matmul input width a multiple of 256, so K-quants really quantize.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from critic.core.images import CLIP_MEAN, CLIP_STD

RELEASE_TOWER = "Lin-Chen/ShareGPT4V-7B_Pretrained_vit-large336-l12"
LORA_TARGETS = ["down_proj", "o_proj", "k_proj", "up_proj", "gate_proj", "q_proj", "v_proj"]
"""LLaVA's find_all_linear_names: every LLM linear but lm_head (peft saves the set in no fixed order)."""
TRAIN_STEPS = 4


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
    share4v_config: bool = False  # the hub's Share4V config instead of GalleryGPT's

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

    from critic.convert.corpus import sentences

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


def _added_token(content: str) -> dict:
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": False,
            "rstrip": False, "single_word": False}


def _write_tokenizer_files(out: Path) -> None:
    """The release's slow LlamaTokenizer files (transformers 4.3x, ``legacy: false``)."""
    (out / "tokenizer_config.json").write_text(json.dumps({
        "add_bos_token": True, "add_eos_token": False,
        "bos_token": _added_token("<s>"), "clean_up_tokenization_spaces": False,
        "eos_token": _added_token("</s>"), "legacy": False, "model_max_length": 2048,
        "pad_token": None, "padding_side": "right", "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer", "unk_token": _added_token("<unk>"),
    }, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<unk>", "unk_token": "<unk>"}, indent=2))
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "transformers_version": "4.31.0"}, indent=2))


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


def _save_bin_shards(tensors: dict, out: Path, shards: int = 2) -> None:
    """Save tensors as `pytorch_model-0000X-of-0000Y.bin` pickles with their index, as the hub has them."""
    import torch

    names = list(tensors)
    per = math.ceil(len(names) / shards)
    weight_map, total = {}, 0
    for i in range(shards):
        part = names[i * per:(i + 1) * per]
        file = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
        torch.save({n: tensors[n].contiguous() for n in part}, out / file)
        weight_map.update({n: file for n in part})
        total += sum(tensors[n].numel() * tensors[n].element_size() for n in part)
    (out / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def release_config(text_config: dict, spec: TinySpec) -> dict:
    """GalleryGPT's config.json field for field, with the tiny model's sizes (or the hub's Share4V one)."""
    config = {
        "_name_or_path": "ShareGPT4V-7B", "architectures": ["LLaVALlamaForCausalLM"],
        "bos_token_id": 1, "eos_token_id": 2, "freeze_mm_mlp_adapter": False, "hidden_act": "silu",
        "hidden_size": text_config["hidden_size"], "image_aspect_ratio": "pad", "image_grid_pinpoints": None,
        "initializer_range": 0.02, "intermediate_size": text_config["intermediate_size"],
        "max_position_embeddings": 4096, "mm_hidden_size": spec.vision.hidden, "mm_projector_lr": None,
        "mm_projector_type": "mlp2x_gelu", "mm_use_im_patch_token": False, "mm_use_im_start_end": False,
        "mm_vision_select_feature": "patch", "mm_vision_select_layer": -2, "mm_vision_tower": RELEASE_TOWER,
        "model_type": "llava", "num_attention_heads": spec.heads, "num_hidden_layers": spec.layers,
        "num_key_value_heads": spec.heads, "pad_token_id": 0, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
        "rope_scaling": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.31.0", "tune_entire_model": False, "tune_mm_mlp_adapter": False,
        "tune_vision_tower": False, "use_cache": True, "use_mm_proj": True, "vision_tower_lr": None,
        "vocab_size": text_config["vocab_size"],
    }
    if spec.share4v_config:
        config.update({"_name_or_path": "Lin-Chen/ShareGPT4V-7B", "architectures": ["Share4VLlamaForCausalLM"],
                       "model_type": "share4v"})
    return config


def _write_lora(lora: Path, llm, spec: TinySpec, config: dict, projector: dict, generator) -> None:
    """The LoRA folder as LLaVA's train.py writes it (peft save_pretrained + its own extras)."""
    import torch
    from safetensors.torch import save_file

    adapter = {}
    for name, param in llm.named_parameters():
        module = name.removesuffix(".weight")
        if module.rsplit(".", 1)[-1] in LORA_TARGETS:
            out_f, in_f = param.shape
            key = f"base_model.model.{module}"
            adapter[f"{key}.lora_A.weight"] = (torch.randn(spec.lora_rank, in_f, generator=generator)
                                               / math.sqrt(in_f)).to(torch.bfloat16)
            adapter[f"{key}.lora_B.weight"] = (torch.randn(out_f, spec.lora_rank, generator=generator)
                                               * 0.05).to(torch.bfloat16)
    adapter_config = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "./share4v/llava-7b", "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layers_pattern": None,
        "layers_to_transform": None, "loftq_config": {}, "lora_alpha": spec.lora_alpha, "lora_dropout": 0.05,
        "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA",
        "r": spec.lora_rank, "rank_pattern": {}, "revision": None, "target_modules": LORA_TARGETS,
        "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
    }
    trained = {**config, "_name_or_path": "./share4v/llava-7b", "mm_projector_lr": 2e-05,
               "tokenizer_model_max_length": 2048, "tokenizer_padding_side": "right", "use_cache": False}
    state = {"best_metric": None, "best_model_checkpoint": None, "epoch": 2.0, "global_step": TRAIN_STEPS,
             "is_hyper_param_search": False, "is_local_process_zero": True, "is_world_process_zero": True,
             "log_history": [{"epoch": 0.5 * (i + 1), "learning_rate": 2e-05, "loss": 1.5 - 0.1 * i, "step": i + 1}
                             for i in range(TRAIN_STEPS)],
             "logging_steps": 1.0, "max_steps": TRAIN_STEPS, "num_train_epochs": 2, "save_steps": TRAIN_STEPS // 2}
    step = lora / f"checkpoint-{TRAIN_STEPS // 2}"
    for folder in (lora, step):
        folder.mkdir(parents=True, exist_ok=True)
        save_file(adapter, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
        (folder / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
        (folder / "README.md").write_text("---\nlibrary_name: peft\n---\n## Training procedure\n")
        (folder / "trainer_state.json").write_text(json.dumps(state, indent=2))
    torch.save({f"base_model.model.model.mm_projector.{k}": t.to(torch.bfloat16) for k, t in projector.items()},
               lora / "non_lora_trainables.bin")
    (lora / "config.json").write_text(json.dumps(trained, indent=2))


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
    torch.save({k: t.to(torch.bfloat16) for k, t in vision.state_dict().items() if not k.endswith("position_ids")},
               tower / "pytorch_model.bin")
    tower_config = {**vision_config.to_dict(), "_name_or_path": RELEASE_TOWER, "architectures": ["CLIPVisionModel"],
                    "model_type": "clip_vision_model", "torch_dtype": "bfloat16", "transformers_version": "4.31.0"}
    (tower / "config.json").write_text(json.dumps(tower_config, indent=2))
    (tower / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": v.image_size, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": list(CLIP_MEAN),
        "image_std": list(CLIP_STD), "resample": 3, "size": v.image_size,
    }, indent=2))

    def projector() -> dict:
        return {
            "0.weight": torch.randn(spec.hidden, v.hidden, generator=generator) * scale / math.sqrt(v.hidden) * 2,
            "0.bias": torch.randn(spec.hidden, generator=generator) * 0.1,
            "2.weight": torch.randn(spec.hidden, spec.hidden, generator=generator) * scale / math.sqrt(spec.hidden) * 2,
            "2.bias": torch.randn(spec.hidden, generator=generator) * 0.1,
        }

    tensors = {}
    for name, t in llm.state_dict().items():
        tensors[name] = t.to(torch.bfloat16)
        if name.endswith("self_attn.q_proj.weight"):  # what LLaMA checkpoints of transformers 4.3x carry
            head_dim = spec.hidden // spec.heads
            inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
            tensors[name.replace("q_proj.weight", "rotary_emb.inv_freq")] = inv_freq
    tensors.update({f"model.mm_projector.{k}": t.to(torch.bfloat16) for k, t in projector().items()})
    _save_bin_shards(tensors, base)
    config = release_config(text_config.to_dict(), spec)
    (base / "config.json").write_text(json.dumps(config, indent=2))
    _write_lora(lora, llm, spec, config, projector(), generator)
    (out / "tiny-spec.json").write_text(json.dumps(asdict(spec), indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line for the tiny model builder."""
    parser = argparse.ArgumentParser(prog="python -m critic.convert.tiny", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--hidden", type=int, default=64, help="LLM width (256 for K-quant tests)")
    parser.add_argument("--ffn", type=int, default=0)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=0, help="pad the vocabulary to this size")
    parser.add_argument("--vision", choices=sorted(VISION_PRESETS), default="tiny")
    parser.add_argument("--share4v", action="store_true", help="the hub's Share4V config.json, not GalleryGPT's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    spec = TinySpec(hidden=args.hidden, ffn=args.ffn, layers=args.layers, heads=args.heads, vocab=args.vocab,
                    vision=VISION_PRESETS[args.vision], seed=args.seed, share4v_config=args.share4v)
    print(build(args.out, spec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
