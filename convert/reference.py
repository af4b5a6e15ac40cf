"""The transformers reference: a checkpoint loaded into `LlavaForConditionalGeneration`.

Used by `critic convert verify` (the parity it proves is against this model, with the LoRA
merged by peft, independently of convert/'s own streaming merge). Both layouts load
through `critic.llava.checkpoint` into the config of `critic.llava.hf_config`, the same reader and config
train/ fine-tunes with, so there is one definition of which tensor is which.
"""

from __future__ import annotations

from pathlib import Path

from critic.convert.lora import Lora, open_lora
from critic.llava.checkpoint import canonical, open_checkpoint
from critic.llava.hf_config import llava_config


def load_reference(base: str | Path, vision_tower: str | Path | None = None, lora: str | Path | None = None,
                   dtype=None):
    """(model, checkpoint): the base in transformers, with `lora` merged through peft."""
    import torch
    from transformers import LlavaForConditionalGeneration

    ckpt = open_checkpoint(base, vision_tower)
    adapter = open_lora(lora, ckpt) if lora else None  # also swaps in the trained projector
    model = LlavaForConditionalGeneration(llava_config(ckpt)).to(torch.float32)
    state = {}
    for key in model.state_dict():
        name = canonical(key)
        if name is None or name not in ckpt.tensors:
            raise KeyError(f"reference parameter {key} has no checkpoint tensor ({name})")
        state[key] = ckpt.load(name)
    model.load_state_dict(state, strict=True)
    if adapter is not None:
        merge_with_peft(model, adapter)
    model.eval()
    if dtype is not None:
        model.to(dtype)
    return model, ckpt


def merge_with_peft(model, adapter: Lora) -> None:
    """Merge `adapter` into `model.model.language_model` with peft's own merge."""
    from peft import LoraConfig, get_peft_model

    language = model.model.language_model
    config = LoraConfig(r=adapter.rank, lora_alpha=adapter.alpha, target_modules=adapter.targets, lora_dropout=0.0)
    wrapped = get_peft_model(language, config)
    weights = {}
    for name, (a, b) in adapter.factors.items():
        module = name.split(":", 1)[1].removeprefix("model.").removesuffix(".weight")
        weights[f"base_model.model.{module}.lora_A.default.weight"] = a.float()
        weights[f"base_model.model.{module}.lora_B.default.weight"] = b.float()
    missing = set(weights) - set(wrapped.state_dict())
    if missing:
        raise KeyError(f"peft did not create {sorted(missing)[:3]}")
    wrapped.load_state_dict(weights, strict=False)
    model.model.language_model = wrapped.merge_and_unload()


def image_features(model, pixel_values):
    """The projector's output for preprocessed pixels: (batch, patches, hidden)."""
    features = model.model.get_image_features(pixel_values=pixel_values, vision_feature_layer=-2,
                                              vision_feature_select_strategy="default")
    if hasattr(features, "pooler_output") and not hasattr(features, "shape"):
        features = features.pooler_output
    if isinstance(features, (list, tuple)):  # one tensor per image in recent transformers
        import torch

        features = torch.stack([f.reshape(-1, f.shape[-1]) for f in features])
    return features if features.dim() == 3 else features.unsqueeze(0)


def splice_logits(model, before_ids: list[int], features, after_ids: list[int]):
    """Logits at every position of before + image + after, as LLaVA computes them."""
    import torch

    embed = model.model.language_model.get_input_embeddings()
    parts = [embed(torch.tensor([before_ids])), features.reshape(1, -1, features.shape[-1]),
             embed(torch.tensor([after_ids]))]
    inputs = torch.cat(parts, dim=1)
    return model(inputs_embeds=inputs).logits[0]
