"""`critic convert --to hf`: the merged model as a transformers-native LLaVA folder.

What vLLM, SGLang and TGI serve: ``LlavaForConditionalGeneration`` weights in sharded
safetensors with ``model.safetensors.index.json``, beside the files of convert/hf_files.py.
Tensor names follow the hub's ``llava-hf/llava-1.5-7b-hf`` (``language_model.model.*``,
``language_model.lm_head.weight``, ``vision_tower.vision_model.*``,
``multi_modal_projector.linear_{1,2}.*``): SGLang's loader requires those prefixes, vLLM
maps them, and transformers 5 renames them on load (its ``llava`` conversion mapping).

The LLM gets the LoRA merged exactly as in the GGUF path (`Lora.merged`, in float32), the
projector is the one GalleryGPT trained (``non_lora_trainables.bin``), the vision tower is
copied. ``dtype`` float32 (the default) is a re-layout: every value is the reference's, so
verify holds it to the F32 gates. ``bfloat16`` / ``float16`` halve the folder and round
the merged weights once (held to the F16 gates).

Memory: safetensors' writer needs every tensor of a file in memory while it writes that
file, so files are kept small (`SHARD_BYTES`) and filled one tensor at a time, each
tensor built from row blocks of the checkpoint; the peak is about one shard plus one
block, whatever the model's size (bench/convert_memory.py --to hf).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from critic.convert.checkpoint import iter_llm_names
from critic.convert.gguf_stream import row_blocks
from critic.convert.lora import Lora
from critic.core.errors import BadCheckpoint
from critic.core.prompt import PROMPT_FORMAT
from critic.llava.checkpoint import Checkpoint

SHARD_BYTES = 512 << 20
DTYPES = ("float32", "bfloat16", "float16")
INDEX_NAME = "model.safetensors.index.json"
HF_MANIFEST = "critic-export.json"
"""Not ``critic.json``: this folder is for serving engines, not for `critic models add`."""
HF_FORMAT = "transformers-llava"
_PROJECTOR = {"0": "linear_1", "2": "linear_2"}
_VOCAB_ROWS = ("llm:model.embed_tokens.weight", "llm:lm_head.weight")


def hf_name(canonical: str) -> str:
    """The llava-hf name of a canonical checkpoint tensor."""
    kind, name = canonical.split(":", 1)
    if kind == "llm":
        return "language_model." + name
    if kind == "vision":
        return "vision_tower." + name
    layer, leaf = name.split(".", 1)
    return f"multi_modal_projector.{_PROJECTOR[layer]}.{leaf}"


@dataclass
class Planned:
    """One output tensor: its name, shape and a function that builds it."""

    name: str
    shape: tuple[int, ...]
    build: Callable[[], object]


def _torch_dtype(dtype: str):
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def plan_tensors(ckpt: Checkpoint, lora: Lora | None, dtype: str, vocab: int, image_id: int) -> list[Planned]:
    """Every tensor of the export in a stable order: LLM (layers in order), projector, vision tower."""
    import torch

    target = _torch_dtype(dtype)
    names = list(iter_llm_names(ckpt)) + ckpt.names("projector") + ckpt.names("vision")
    plans = []
    for name in names:
        ref = ckpt.tensors[name]
        shape = tuple(ref.shape)
        if name in _VOCAB_ROWS:
            shape = (vocab, *shape[1:])

        def build(name=name, ref=ref, shape=shape):
            out = torch.empty(shape, dtype=target)
            if not ref.shape:
                return ref.load().to(target)
            row_bytes = 4 * (int(torch.tensor(ref.shape[1:]).prod()) if len(ref.shape) > 1 else 1)
            total = torch.zeros(ref.shape[1:], dtype=torch.float64) if name in _VOCAB_ROWS else None
            for start, stop in row_blocks(ref.shape[0], row_bytes):
                rows = ref.rows(start, stop)
                if lora is not None:
                    rows = lora.merged(name, rows, start)
                out[start:stop] = rows.to(target)
                if total is not None:
                    total += rows.sum(dim=0, dtype=torch.float64)
            if total is not None:  # the <image> row: the mean row (see convert/hf_files.py)
                out[image_id] = (total / ref.shape[0]).to(target)
            return out

        plans.append(Planned(hf_name(name), shape, build))
    return plans


def shard(plans: list[Planned], itemsize: int, limit: int = SHARD_BYTES) -> list[list[Planned]]:
    """Consecutive tensors grouped into files of at most `limit` bytes (a larger tensor alone)."""
    groups: list[list[Planned]] = [[]]
    size = 0
    for plan in plans:
        nbytes = itemsize
        for n in plan.shape:
            nbytes *= n
        if groups[-1] and size + nbytes > limit:
            groups.append([])
            size = 0
        groups[-1].append(plan)
        size += nbytes
    return groups


def write_weights(plans: list[Planned], folder: Path, dtype: str,
                  progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """The shards and their index; one shard's tensors in memory at a time."""
    import torch
    from safetensors.torch import save_file

    itemsize = torch.empty((), dtype=_torch_dtype(dtype)).element_size()
    groups = shard(plans, itemsize)
    total = sum(itemsize * int(torch.Size(p.shape).numel()) for p in plans)
    weight_map, files, done = {}, [], 0
    for i, group in enumerate(groups):
        path = folder / f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        tensors = {}
        for plan in group:
            tensors[plan.name] = plan.build().contiguous()
            done += tensors[plan.name].numel() * itemsize
            if progress:
                progress(done, total)
        save_file(tensors, str(path), metadata={"format": "pt"})
        del tensors
        weight_map.update({plan.name: path.name for plan in group})
        files.append(path)
    (folder / INDEX_NAME).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map},
                                                indent=2) + "\n")
    return files


def write_hf(ckpt: Checkpoint, lora: Lora | None, folder: Path, dtype: str = "float32",
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Write the whole export into `folder`; return what the manifest records about it."""
    from critic.convert.hf_files import image_seq_length, write_config, write_processor, write_tokenizer

    image_id = write_tokenizer(ckpt, folder)
    if image_id > ckpt.llm.vocab:
        raise BadCheckpoint(f"{ckpt.tokenizer_model}: {image_id} tokens but the model's embedding has "
                            f"{ckpt.llm.vocab} rows")
    vocab = max(ckpt.llm.vocab, image_id + 1)
    write_weights(plan_tensors(ckpt, lora, dtype, vocab, image_id), folder, dtype, progress)
    write_config(ckpt, folder, vocab, image_id, dtype)
    write_processor(ckpt, folder)
    return {"dtype": dtype, "vocab": vocab, "source_vocab": ckpt.llm.vocab, "image_token_id": image_id,
            "image_seq_length": image_seq_length(ckpt), "tokenizer_legacy_of_base": ckpt.tokenizer_legacy}


def iter_files(folder: Path) -> Iterator[Path]:
    """Every file of an export but its manifest, sorted."""
    yield from sorted(p for p in folder.iterdir() if p.is_file() and p.name != HF_MANIFEST)


def write_manifest(folder: Path, name: str, info: dict, source: dict) -> None:
    """`HF_MANIFEST`: what the folder is, how it was made, and every file's size and sha256."""
    from critic.core.images import file_sha256

    files = [{"path": p.name, "size": p.stat().st_size, "sha256": file_sha256(p)} for p in iter_files(folder)]
    data = {"format": HF_FORMAT, "name": name, **info, "prompt_format": PROMPT_FORMAT, "source": source,
            "files": files}
    (folder / HF_MANIFEST).write_text(json.dumps(data, indent=2) + "\n")


def read_manifest(folder: Path) -> dict | None:
    """The export's manifest, or None when `folder` is not a `--to hf` export."""
    path = Path(folder) / HF_MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if data.get("format") == HF_FORMAT else None
