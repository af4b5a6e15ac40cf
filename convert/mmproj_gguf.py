"""The vision half: a `clip` GGUF (mmproj) with the CLIP tower and the LLaVA projector.

What llama.cpp's LLaVA graph (0.3.36) expects: ``clip.projector_type = mlp``, the
``clip.vision.*`` hyperparameters, tensors ``v.*`` and ``mm.0``/``mm.2``, ``v.class_embd``
in F32, no ``v.post_ln``; it runs all but the last layer (LLaVA's penultimate feature).

Class-token layout. That graph appends the class token *after* the patches, adds position
rows 0..N in that order, then hands the projector rows 1..N. So with the stock table every
patch gets its left neighbour's position, and the LLM gets patches 1..N-1 and the class
token where LLaVA gives patches 0..N-1. A single encode can never give all N patches (it
has N picture slots and the class token, and always drops slot 0), so the layouts are:

- ``exact`` (the default): two files. The main mmproj stores the table *rotated* (row i
  holds position i+1, the last row position 0): every output is exact, and rows 0..N-2 are
  patches 1..N-1. The ``patch0`` mmproj stores ``[pos N, pos 1..N-1, pos 0]``; fed the
  picture with its patches rolled one place on (`critic.core.images.roll_patches`), its first
  output row is patch 0. critic's engine joins the two (see critic/engine/llama.py).
- ``rotated``: the main file alone, for llama.cpp front ends that encode once
  (llama-server): patches 1..N-1 exact, patch 0 missing, the class token last.
- ``stock``: the table as released, what other converters write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from critic.convert.gguf_stream import PlannedTensor, Progress, write_gguf
from critic.core.errors import BadCheckpoint
from critic.llava.checkpoint import Checkpoint

LAYOUTS = ("exact", "rotated", "stock")
DEFAULT_LAYOUT = "exact"
TABLES = ("rotated", "stock", "patch0")
"""The position tables a file can hold; `exact` is a `rotated` file plus a `patch0` file."""


def position_table(table, kind: str):
    """The (N+1, hidden) position table in the row order llama.cpp's graph needs for `kind`."""
    if kind == "rotated":
        return table.roll(-1, dims=0)
    if kind == "patch0":
        return table[[table.shape[0] - 1, *range(1, table.shape[0] - 1), 0]]
    return table

# gguf-py's MMPROJ map covers the CLIP tower under this prefix; the projector it does not
# name for LLaVA-1.5 (it maps transformers' linear_1 to mm.1), so that is ours.
_TOWER_PREFIX = "vision_tower."
_PROJECTOR = {"projector:0.weight": "mm.0.weight", "projector:0.bias": "mm.0.bias",
              "projector:2.weight": "mm.2.weight", "projector:2.bias": "mm.2.bias"}


def _vision_gguf_name(name: str, tensor_map) -> str | None:
    hf = name.split(":", 1)[1]
    if hf.startswith("vision_model.post_layernorm"):
        return None  # LLaVA reads the penultimate layer, before any post-norm
    found = tensor_map.get_name(_TOWER_PREFIX + hf, try_suffixes=(".weight", ".bias"))
    if found is None:
        raise BadCheckpoint(f"no GGUF name for vision tensor '{hf}'")
    return found


def plan_mmproj(ckpt: Checkpoint, table: str = "rotated", f32: bool = False) -> list[PlannedTensor]:
    """Every mmproj tensor with its GGUF name and type; the position table arranged as `table`."""
    import gguf

    if table not in TABLES:
        raise ValueError(f"unknown position table {table}")
    hp = ckpt.vision
    tensor_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, hp.layers)
    # llama.cpp swaps ffn_up/ffn_down when ffn_down's input width equals the embedding
    # width (a fix for old files); with a square FFN that misfires, so store them pre-swapped.
    square_ffn = hp.ffn == hp.hidden
    plans = []
    for name in ckpt.names("vision") + ckpt.names("projector"):
        gname = _PROJECTOR.get(name) or _vision_gguf_name(name, tensor_map)
        if gname is None:
            continue
        if square_ffn and ".ffn_up." in gname:
            gname = gname.replace(".ffn_up.", ".ffn_down.")
        elif square_ffn and ".ffn_down." in gname:
            gname = gname.replace(".ffn_down.", ".ffn_up.")
        ref = ckpt.tensors[name]
        shape = ref.shape
        # Matrices and the conv kernel in F16; vectors, the class token and the position
        # table in F32 (llama.cpp requires class_embd in F32).
        f16 = len(shape) > 1 and "position_embd" not in gname and not f32
        dtype = np.float16 if f16 else np.float32
        arrange = table if "position_embd" in gname else "stock"

        def blocks(ref=ref, dtype=dtype, arrange=arrange) -> Iterator[np.ndarray]:
            yield position_table(ref.load(), arrange).numpy().astype(dtype)

        plans.append(PlannedTensor(gname, shape, dtype, blocks))
    names = {p.name for p in plans}
    for needed in ("v.patch_embd.weight", "v.class_embd", "v.position_embd.weight", "mm.0.weight", "mm.2.weight"):
        if needed not in names:
            raise BadCheckpoint(f"{ckpt.path}: the vision tower lacks {needed}")
    return plans


def write_mmproj(ckpt: Checkpoint, path: Path, name: str, table: str = "rotated",
                 progress: Progress | None = None, f32: bool = False) -> None:
    """Write the mmproj GGUF (F16, or F32 for parity checks) for `ckpt` with the position `table`."""
    import gguf

    hp = ckpt.vision
    if hp.act not in ("quick_gelu", "gelu"):
        raise BadCheckpoint(f"{ckpt.path}: vision activation '{hp.act}' is not CLIP's quick_gelu or gelu")
    writer = gguf.GGUFWriter(None, "clip")
    writer.add_name(name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if f32 else gguf.LlamaFileType.MOSTLY_F16)
    writer.add_bool(gguf.Keys.Clip.HAS_VISION_ENCODER, True)
    writer.add_string(gguf.Keys.Clip.PROJECTOR_TYPE, "mlp")
    writer.add_uint32(gguf.Keys.ClipVision.IMAGE_SIZE, hp.image_size)
    writer.add_uint32(gguf.Keys.ClipVision.PATCH_SIZE, hp.patch_size)
    writer.add_uint32(gguf.Keys.ClipVision.EMBEDDING_LENGTH, hp.hidden)
    writer.add_uint32(gguf.Keys.ClipVision.FEED_FORWARD_LENGTH, hp.ffn)
    writer.add_uint32(gguf.Keys.ClipVision.PROJECTION_DIM, ckpt.llm.hidden)
    writer.add_uint32(gguf.Keys.ClipVision.BLOCK_COUNT, hp.layers)
    writer.add_uint32(gguf.Keys.ClipVision.Attention.HEAD_COUNT, hp.heads)
    writer.add_float32(gguf.Keys.ClipVision.Attention.LAYERNORM_EPS, hp.eps)
    writer.add_array(gguf.Keys.ClipVision.IMAGE_MEAN, [float(v) for v in hp.mean])
    writer.add_array(gguf.Keys.ClipVision.IMAGE_STD, [float(v) for v in hp.std])
    writer.add_bool(gguf.Keys.ClipVision.USE_GELU, hp.act == "gelu")
    writer.add_string("critic.class_token_layout", table)
    writer.add_string("critic.preprocess", ckpt.preprocess)
    write_gguf(path, writer, plan_mmproj(ckpt, table, f32), progress)
