"""The model being fine-tuned: transformers' LLaVA from the shared checkpoint reader, peft LoRA on the LLM.

The base loads through `critic.llava.checkpoint.open_checkpoint` (either layout, one tensor at a
time, straight into the training dtype), so train/ and convert/ agree on which tensor is
which. LoRA layers go into every target linear of the LLM; they and the projector are the
only trainable parameters and are kept in float32, the frozen weights in bf16 or fp32.

The adapter is written in the layout `critic convert --lora` and LLaVA's own loader read:
``adapter_model.safetensors`` with peft's names relative to a LLaMA causal LM
(``base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight``),
``non_lora_trainables.bin`` with the projector as ``base_model.model.model.mm_projector.{0,2}.*``,
and ``adapter_config.json``.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Iterator

import torch

from critic.core.errors import BadCheckpoint
from critic.core.store import atomic_path, write_atomic
from critic.llava.checkpoint import Checkpoint, canonical, open_checkpoint
from critic.llava.hf_config import llava_config
from critic.llava.tensors import load_torch_pickle, read_json
from critic.train.encode import IGNORE

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PROJECTOR_FILE = "non_lora_trainables.bin"

_LORA_NAME = re.compile(r"^llava\.model\.language_model\.(.+)\.lora_([AB])\.default\.weight$")
_PROJECTOR_NAME = re.compile(r"^llava\.model\.multi_modal_projector\.linear_([12])\.(weight|bias)$")


@contextlib.contextmanager
def _empty_init(dtype) -> Iterator[None]:
    """Build modules without random initialisation, in `dtype` (every weight is loaded next)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        from transformers.modeling_utils import no_init_weights
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with no_init_weights():
            yield
    finally:
        torch.set_default_dtype(previous)


def use_sdpa(config):
    """`config` with attention through PyTorch's scaled_dot_product_attention, said explicitly rather than
    left to transformers' default: flash / memory-efficient kernels on a GPU, no (batch, heads, n, n) matrix."""
    for part in (config, getattr(config, "text_config", None), getattr(config, "vision_config", None)):
        if part is not None:
            part._attn_implementation = "sdpa"
    return config


def load_llava(ckpt: Checkpoint | str | Path, vision_tower: str | Path | None = None, dtype=None):
    """(LlavaForConditionalGeneration, Checkpoint): the base loaded tensor by tensor in `dtype`.

    `ckpt` is an opened checkpoint, or a base folder to open (with `vision_tower`).
    """
    from transformers import LlavaForConditionalGeneration

    dtype = dtype or torch.float32
    if not isinstance(ckpt, Checkpoint):
        ckpt = open_checkpoint(ckpt, vision_tower)
    with _empty_init(dtype):
        model = LlavaForConditionalGeneration(use_sdpa(llava_config(ckpt)))
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            name = canonical(key)
            if name is None or name not in ckpt.tensors:
                raise BadCheckpoint(f"{ckpt.path}: no tensor for {key}; is this a LLaVA-1.5 checkpoint?")
            tensor.copy_(ckpt.load(name))
    return model, ckpt


def attach_lora(model, rank: int, alpha: int, dropout: float, targets: list[str], train_projector: bool = True) -> None:
    """Freeze everything, add LoRA to the LLM's `targets`, make LoRA (and the projector) trainable in fp32."""
    from peft import LoraConfig, inject_adapter_in_model

    model.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), bias="none")
    language = model.model.language_model
    inject_adapter_in_model(config, language)
    lora = [p for n, p in language.named_parameters() if ".lora_A." in n or ".lora_B." in n]
    if not lora:
        raise BadCheckpoint(f"no LoRA target among {', '.join(targets)} in the LLM")
    trainable = lora + (list(model.model.multi_modal_projector.parameters()) if train_projector else [])
    for param in trainable:
        param.data = param.data.to(torch.float32)
        param.requires_grad_(True)


def enable_checkpointing(model) -> None:
    """Gradient (activation) checkpointing on the LLM's decoder layers, non-reentrant."""
    language = model.model.language_model
    kwargs = {"use_reentrant": False}
    if hasattr(language, "activation_checkpointing_enable"):
        language.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:  # transformers 4.x
        language.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


class LlavaTrainer(torch.nn.Module):
    """The LLaVA model with its training forward: image features spliced in, loss on the labels."""

    def __init__(self, llava, feature_layer: int = -2) -> None:
        super().__init__()
        self.llava = llava
        self.feature_layer = feature_layer

    def train(self, mode: bool = True) -> "LlavaTrainer":
        """Train mode for the LLM and projector; the frozen tower stays in eval mode."""
        super().train(mode)
        self.llava.model.vision_tower.eval()
        return self

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projector output for preprocessed pixels: (batch, patches, hidden); the tower runs without grad."""
        inner = self.llava.model
        tower = inner.vision_tower
        with torch.no_grad():
            dtype = next(tower.parameters()).dtype
            states = tower(pixel_values.to(dtype), output_hidden_states=True).hidden_states
            patches = states[self.feature_layer][:, 1:]
        return inner.multi_modal_projector(patches)

    def forward(self, input_ids, labels, attention_mask, image_mask, pixel_values, **_) -> torch.Tensor:
        """Mean cross entropy over the labelled tokens of the batch."""
        language = self.llava.model.language_model
        features = self.image_features(pixel_values)
        embeds = language.get_input_embeddings()(input_ids)
        embeds = embeds.masked_scatter(image_mask.unsqueeze(-1), features.to(embeds.dtype))
        hidden = language(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False).last_hidden_state
        targets = labels[:, 1:]
        keep = targets != IGNORE
        # Only labelled positions go through lm_head: the full (batch, length, 32000) logits
        # of a 16 × 1000-token batch would take gigabytes for nothing.
        logits = self.llava.lm_head(hidden[:, :-1][keep]).float()
        return torch.nn.functional.cross_entropy(logits, targets[keep])


def trainable_names(module) -> list[str]:
    """Names of the trainable parameters, in module order."""
    return [n for n, p in module.named_parameters() if p.requires_grad]


def to_adapter_layout(state: dict) -> tuple[dict, dict]:
    """(LoRA tensors, projector tensors) under the names `critic convert --lora` reads."""
    adapter, projector = {}, {}
    for name, tensor in state.items():
        if match := _LORA_NAME.match(name):
            adapter[f"base_model.model.model.{match.group(1)}.lora_{match.group(2)}.weight"] = tensor
        elif match := _PROJECTOR_NAME.match(name):
            index = "0" if match.group(1) == "1" else "2"
            projector[f"base_model.model.model.mm_projector.{index}.{match.group(2)}"] = tensor
        else:
            raise KeyError(f"trainable parameter {name} has no place in the adapter layout")
    return adapter, projector


def from_adapter_layout(adapter: dict, projector: dict) -> dict:
    """The inverse of `to_adapter_layout`: trainable-parameter names of the training module."""
    state = {}
    for key, tensor in adapter.items():
        module, kind = key.removeprefix("base_model.model.model.").rsplit(".lora_", 1)
        state[f"llava.model.language_model.{module}.lora_{kind[0]}.default.weight"] = tensor
    for key, tensor in projector.items():
        index, leaf = key.removeprefix("base_model.model.model.mm_projector.").split(".")
        state[f"llava.model.multi_modal_projector.linear_{1 if index == '0' else 2}.{leaf}"] = tensor
    return state


def adapter_config(rank: int, alpha: int, dropout: float, targets: list[str], base: str) -> dict:
    """peft's adapter_config.json for this LoRA."""
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base,
        "r": rank, "lora_alpha": alpha, "lora_dropout": dropout, "target_modules": list(targets),
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "use_rslora": False, "use_dora": False,
        "modules_to_save": None,
    }


def write_adapter(folder: Path, state: dict, config: dict, base_config: Path | None = None) -> None:
    """Write the adapter folder; each file atomically, adapter_config.json last so it marks a whole adapter."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    adapter, projector = to_adapter_layout({k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()})
    with atomic_path(folder / ADAPTER_WEIGHTS) as tmp:
        save_file(adapter, str(tmp), metadata={"format": "pt"})
    if projector:
        with atomic_path(folder / PROJECTOR_FILE) as tmp:
            torch.save(projector, tmp)
    else:
        (folder / PROJECTOR_FILE).unlink(missing_ok=True)
    if base_config is not None and base_config.exists():
        write_atomic(folder / "config.json", base_config.read_text())
    write_atomic(folder / ADAPTER_CONFIG, json.dumps(config, indent=2) + "\n")


def read_adapter(folder: Path) -> dict:
    """The trainable state saved by `write_adapter`, under the training module's names."""
    from safetensors.torch import load_file

    read_json(folder / ADAPTER_CONFIG)  # raises BadCheckpoint if the adapter was never finished
    adapter = load_file(str(folder / ADAPTER_WEIGHTS))
    projector = load_torch_pickle(folder / PROJECTOR_FILE) if (folder / PROJECTOR_FILE).exists() else {}
    return from_adapter_layout(adapter, projector)


def image_token_count(ckpt: Checkpoint) -> int:
    """Image positions per sample: one per patch (576 for CLIP ViT-L/14-336)."""
    return (ckpt.vision.image_size // ckpt.vision.patch_size) ** 2
