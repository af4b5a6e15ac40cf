"""A GalleryGPT-style LoRA folder, merged into the base one tensor at a time.

The folder holds ``adapter_config.json``, ``adapter_model.{safetensors,bin}`` (peft's
``base_model.model.<module>.lora_{A,B}.weight``) and ``non_lora_trainables.bin`` with the
trained projector (``base_model.model.model.mm_projector.*``). The merge is
``W + (alpha / r) · B · A`` per target; peft's ``merge_and_unload`` computes the same, and
the tests hold the two equal, but peft would need the whole model in memory while this
streams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from critic.core.errors import BadCheckpoint
from critic.llava.checkpoint import Checkpoint, canonical
from critic.llava.tensors import TensorRef, load_torch_pickle, read_json

PEFT_PREFIX = "base_model.model."


@dataclass
class Lora:
    """LoRA factors keyed by canonical LLM weight name."""

    path: Path
    rank: int
    alpha: float
    targets: list[str]
    factors: dict[str, tuple[object, object]] = field(default_factory=dict)
    projector: dict[str, object] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        """alpha / r (rsLoRA's alpha / sqrt(r) is not used by GalleryGPT)."""
        return self.alpha / self.rank

    def merged(self, name: str, weight, start: int = 0):
        """Rows `start:` of `weight` with this LoRA's delta added, if `name` is a target."""
        if name not in self.factors:
            return weight
        a, b = self.factors[name]
        rows = b[start:start + weight.shape[0]].float()
        return weight + self.scale * (rows @ a.float())


def _adapter_weights(folder: Path) -> dict:
    safetensors = folder / "adapter_model.safetensors"
    if safetensors.exists():
        from safetensors.torch import load_file

        try:
            return load_file(str(safetensors))
        except Exception as err:  # safetensors raises its own error types
            raise BadCheckpoint(f"{safetensors}: not a readable safetensors file ({err})") from None
    binary = folder / "adapter_model.bin"
    if binary.exists():
        return load_torch_pickle(binary)
    raise BadCheckpoint(f"{folder}: no adapter_model.safetensors or adapter_model.bin")


PROJECTOR_FILE = "non_lora_trainables.bin"


def open_lora(folder: str | Path, ckpt: Checkpoint, allow_base_projector: bool = False) -> Lora:
    """Read a LoRA folder and check it fits `ckpt`; raise BadCheckpoint naming the problem.

    GalleryGPT trained the projector with the LoRA and saved it in ``non_lora_trainables.bin``
    (LLaVA's train.py writes it only at the end: a ``checkpoint-N/`` folder lacks it). Without
    it the base's projector would be converted silently, so that is an error unless
    `allow_base_projector`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BadCheckpoint(f"{folder}: no such LoRA folder")
    cfg = read_json(folder / "adapter_config.json")
    if cfg.get("peft_type", "LORA") != "LORA":
        raise BadCheckpoint(f"{folder}/adapter_config.json: peft_type {cfg.get('peft_type')} is not LORA")
    if cfg.get("use_rslora") or cfg.get("use_dora"):
        raise BadCheckpoint(f"{folder}/adapter_config.json: rsLoRA/DoRA adapters are not supported")
    rank = int(cfg.get("r", 0))
    if rank <= 0:
        raise BadCheckpoint(f"{folder}/adapter_config.json: rank r must be positive")
    targets = cfg.get("target_modules") or []
    if isinstance(targets, str):
        targets = [targets]
    lora = Lora(folder, rank, float(cfg.get("lora_alpha", rank)), list(targets))

    pairs: dict[str, dict[str, object]] = {}
    for key, tensor in _adapter_weights(folder).items():
        if ".lora_A." not in key and ".lora_B." not in key:
            continue
        module, kind = key.replace(".default", "").rsplit(".lora_", 1)
        module = module.removeprefix(PEFT_PREFIX)
        name = canonical(module + ".weight")
        if name is None or not name.startswith("llm:") or name not in ckpt.tensors:
            raise BadCheckpoint(f"{folder}: LoRA target '{module}' does not exist in the base checkpoint")
        pairs.setdefault(name, {})[kind[0]] = tensor
    if not pairs:
        raise BadCheckpoint(f"{folder}: the adapter holds no lora_A/lora_B weights")
    for name, pair in pairs.items():
        if set(pair) != {"A", "B"}:
            raise BadCheckpoint(f"{folder}: {name.split(':', 1)[1]} has only lora_{''.join(pair)}")
        a, b = pair["A"], pair["B"]
        out_f, in_f = ckpt.shape(name)
        if a.shape[0] != rank or b.shape[1] != rank:
            raise BadCheckpoint(
                f"{folder}: rank of {name.split(':', 1)[1]} is {a.shape[0]}, adapter_config.json says r={rank}"
            )
        if a.shape[1] != in_f or b.shape[0] != out_f:
            raise BadCheckpoint(
                f"{folder}: shape mismatch for {name.split(':', 1)[1]}: base {out_f}×{in_f}, "
                f"LoRA {b.shape[0]}×{a.shape[1]}; the LoRA was trained on another base"
            )
        lora.factors[name] = (a, b)

    extra = folder / PROJECTOR_FILE
    if not extra.exists() and not allow_base_projector:
        hint = (" (a checkpoint-N/ folder never has it: use the run's final folder)"
                if folder.name.startswith("checkpoint-") else "")
        raise BadCheckpoint(
            f"{folder}: no {PROJECTOR_FILE}, the projector GalleryGPT trained with the LoRA{hint}; "
            "converting without it keeps the base's projector: add --allow-base-projector if that is meant"
        )
    if extra.exists():
        for key, tensor in load_torch_pickle(extra).items():
            name = canonical(key.removeprefix(PEFT_PREFIX))
            if name is None or name.startswith("unknown:"):
                raise BadCheckpoint(f"{extra}: unexpected tensor '{key}'")
            ckpt.override(name, TensorRef.of(tensor), extra)
            lora.projector[name] = tensor
    return lora
