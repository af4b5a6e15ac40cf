"""The training configuration: one dataclass, read from a file, overridden by flags, saved beside the output.

Defaults are the paper's: LoRA r=128, alpha=256 on every linear layer of the LLM, the
projector trained, learning rate 2e-5 for both, batch 16, cosine schedule with 3% warmup,
bf16, gradient checkpointing fitted to the GPU's memory (train/memory.py), max length 2048.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from critic.core.errors import UsageError

LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every linear layer of a LLaMA decoder block (lm_head is not adapted, as in LLaVA)."""

CONFIG_NAME = "train-config.json"


def _f(default: Any, help: str, metavar: str | None = None) -> Any:
    """A config field with its --help text (and the flag's metavar)."""
    metadata = {"help": help, "metavar": metavar}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything one training run depends on."""

    base: str = _f("", "LLaVA-1.5 checkpoint folder, original LLaVA layout or transformers-native", "DIR")
    data: str = _f("", "LLaVA conversation JSON (PaintingForm's train_samples_tuning.json)", "FILE")
    image_root: str = _f("", "folder the records' image paths are relative to; no path may leave it", "DIR")
    out: str = _f("", "output folder: adapter, checkpoints, logs and the config used", "DIR")
    vision_tower: str | None = _f(None, "CLIP vision tower folder, for an original-layout base without one", "DIR")

    lora_rank: int = _f(128, "LoRA rank r")
    lora_alpha: int = _f(256, "LoRA alpha (scale alpha / r)")
    lora_dropout: float = _f(0.05, "dropout on the LoRA input")
    lora_targets: list[str] = _f(list(LLAMA_LINEAR), "LLM linear layers that get LoRA")
    train_projector: bool = _f(True, "train the two-layer projector too")

    learning_rate: float = _f(2e-5, "peak learning rate of the LoRA weights")
    projector_learning_rate: float = _f(0.0, "peak learning rate of the projector (0: learning_rate)")
    batch_size: int = _f(16, "global batch: samples per optimizer step over all processes")
    micro_batch_size: int = _f(16, "samples per forward pass on one device, the rest accumulated (with "
                                   "gradient_checkpointing auto: the most it may use)")
    max_steps: int = _f(0, "optimizer steps (0: epochs passes over the data)")
    epochs: float = _f(1.0, "passes over the data when max_steps is 0")
    warmup_ratio: float = _f(0.03, "fraction of the steps spent warming up linearly")
    schedule: str = _f("cosine", "learning-rate decay after warmup: cosine, linear or constant", "NAME")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    max_grad_norm: float = _f(1.0, "gradient clipping norm (0: none)")
    max_length: int = _f(2048, "tokens per sample, image tokens included; longer ones are cut and reported")
    bf16: bool = _f(True, "bf16 autocast, frozen weights stored in bf16 (needs a GPU; --no-bf16 for fp32)")
    gradient_checkpointing: str = _f("auto", "recompute decoder activations in the backward pass: auto (on a "
                                             "GPU, the fastest micro-batch and checkpointed layers that fit its "
                                             "free memory, measured before the first step; on every layer "
                                             "elsewhere), on or off", "auto|on|off")
    seed: int = _f(0, "seed of the data order, LoRA initialisation and dropout")

    save_every: int = _f(500, "checkpoint every N optimizer steps (and at the end)")
    keep_checkpoints: int = _f(2, "checkpoints kept (oldest deleted)")
    log_every: int = _f(10, "log the mean loss every N steps")
    report_to: list[str] = _f([], "accelerate trackers: tensorboard, wandb, mlflow, ... (default: none)")
    deepspeed: str | None = _f(None, "zero2, zero3 (shipped configs) or a DeepSpeed JSON file", "NAME|FILE")
    fail_on_bad_images: bool = _f(False, "stop at the first missing or unreadable image instead of skipping it")
    num_workers: int = _f(0, "DataLoader processes decoding images")

    def to_json(self) -> str:
        """The config as indented JSON."""
        return json.dumps(asdict(self), indent=2) + "\n"


RUN_FIELDS = frozenset(
    f.name for f in dataclasses.fields(TrainConfig)
    if f.name not in {"out", "save_every", "keep_checkpoints", "log_every", "report_to", "fail_on_bad_images",
                      "num_workers", "base", "vision_tower", "data", "image_root", "gradient_checkpointing"}
)
"""Fields a resumed run must share with the run it continues (paths, logging, checkpointing and memory settings may change)."""


def field_types() -> dict[str, Any]:
    """Resolved type of each config field."""
    return typing.get_type_hints(TrainConfig)


def _coerce(name: str, value: Any, kind: Any, source: str) -> Any:
    """Check one value from a file against the field's type; ints are accepted for floats."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if value is None and type(None) in args:
        return None
    if origin in (typing.Union, types.UnionType):
        kind = next(a for a in args if a is not type(None))
        origin = typing.get_origin(kind)
    if origin is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{source}: '{name}' must be a list of strings")
        return list(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{source}: '{name}' must be true or false")
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    raise UsageError(f"{source}: '{name}' must be {getattr(kind, '__name__', kind)}, not {value!r}")


CHECKPOINTING = ("auto", "on", "off")


def config_from_dict(data: dict, source: str = "config") -> TrainConfig:
    """A TrainConfig from a mapping; unknown keys and wrong types are a UsageError naming them.
    A saved config from before ``auto`` existed has ``gradient_checkpointing`` true or false: on or off."""
    types = field_types()
    if isinstance(data.get("gradient_checkpointing"), bool):
        data = {**data, "gradient_checkpointing": "on" if data["gradient_checkpointing"] else "off"}
    unknown = sorted(set(data) - set(types))
    if unknown:
        raise UsageError(f"{source}: unknown setting(s) {', '.join(unknown)}; see `critic train --help`")
    return TrainConfig(**{k: _coerce(k, v, types[k], source) for k, v in data.items()})


def read_config_file(path: str | Path) -> dict:
    """The settings in a JSON, TOML or YAML file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such config file")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except Exception as err:  # tomllib, yaml and json each raise their own error type
        raise UsageError(f"{path}: not a valid config file ({err.__class__.__name__}: {err})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the config must be a mapping of settings")
    return data


def load_config(path: str | Path | None, overrides: dict | None = None) -> TrainConfig:
    """The config in `path` (if any) with `overrides` (from flags) applied on top."""
    data = read_config_file(path) if path else {}
    data.update(overrides or {})
    return config_from_dict(data, str(path or "flags"))


def check_config(config: TrainConfig) -> None:
    """Raise UsageError for a config that cannot run, with the fix in the message."""
    for name in ("base", "data", "image_root", "out"):
        if not getattr(config, name):
            raise UsageError(f"no {name} given: set it in the config file or with --{name.replace('_', '-')}")
    if config.lora_rank <= 0 or config.lora_alpha <= 0:
        raise UsageError("lora_rank and lora_alpha must be positive")
    if not config.lora_targets:
        raise UsageError("lora_targets is empty: name the linear layers to adapt (e.g. q_proj v_proj)")
    if config.gradient_checkpointing not in CHECKPOINTING:
        raise UsageError(f"gradient_checkpointing {config.gradient_checkpointing!r}: choose auto, on or off")
    if config.batch_size <= 0 or config.micro_batch_size <= 0:
        raise UsageError("batch_size and micro_batch_size must be positive")
    if config.batch_size % config.micro_batch_size:
        raise UsageError(f"batch_size {config.batch_size} is not a multiple of micro_batch_size {config.micro_batch_size}")
    if config.max_steps < 0 or config.epochs <= 0:
        raise UsageError("max_steps must be ≥ 0 and epochs > 0")
    if not 0 <= config.warmup_ratio < 1:
        raise UsageError("warmup_ratio must be in [0, 1)")
    if config.schedule not in ("cosine", "linear", "constant"):
        raise UsageError(f"schedule '{config.schedule}': choose cosine, linear or constant")
    if config.learning_rate <= 0 or config.projector_learning_rate < 0:
        raise UsageError("learning rates must be positive")
    if config.save_every <= 0 or config.log_every <= 0 or config.keep_checkpoints <= 0:
        raise UsageError("save_every, log_every and keep_checkpoints must be positive")
    if config.max_length < 16:
        raise UsageError("max_length is too small to hold a conversation")


def differences(saved: TrainConfig, new: TrainConfig) -> list[str]:
    """Run-defining fields where `new` differs from `saved`."""
    return sorted(n for n in RUN_FIELDS if getattr(saved, n) != getattr(new, n))
