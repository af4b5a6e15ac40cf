"""The vision half: a `clip` GGUF (mmproj) with the CLIP tower and the LLaVA projector.

What llama.cpp's LLaVA graph (0.3.36) expects: ``clip.projector_type = mlp``, the
``clip.vision.*`` hyperparameters, tensors ``v.*`` and ``mm.0``/``mm.2``, ``v.class_embd``
in F32, no ``v.post_ln``; it runs all but the last layer (LLaVA's penultimate feature).

Class-token layout. That graph appends the class token *after* the patches, adds position
rows 0..N in that order, then keeps rows 1..N. So with the stock table every patch gets
its left neighbour's position. ``rotated`` stores the table shifted by one (row i holds
position i+1, the last row position 0), which gives every patch and the class token their
own positions, so each patch's features equal transformers' exactly; the one residual is
that llama.cpp still hands the LLM patches 1..N-1 then the class token, where transformers
hands patches 0..N-1. `critic convert verify` measures both layouts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from convert.checkpoint import Checkpoint
from convert.gguf_stream import PlannedTensor, Progress, write_gguf
from critic.errors import BadCheckpoint

LAYOUTS = ("rotated", "stock")
DEFAULT_LAYOUT = "rotated"

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


def plan_mmproj(ckpt: Checkpoint, layout: str = DEFAULT_LAYOUT, f32: bool = False) -> list[PlannedTensor]:
    """Every mmproj tensor with its GGUF name and type."""
    import gguf

    if layout not in LAYOUTS:
        raise ValueError(f"unknown class-token layout {layout}")
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
        rotate = layout == "rotated" and "position_embd" in gname

        def blocks(ref=ref, dtype=dtype, rotate=rotate) -> Iterator[np.ndarray]:
            tensor = ref.load()
            if rotate:
                tensor = tensor.roll(-1, dims=0)
            yield tensor.numpy().astype(dtype)

        plans.append(PlannedTensor(gname, shape, dtype, blocks))
    names = {p.name for p in plans}
    for needed in ("v.patch_embd.weight", "v.class_embd", "v.position_embd.weight", "mm.0.weight", "mm.2.weight"):
        if needed not in names:
            raise BadCheckpoint(f"{ckpt.path}: the vision tower lacks {needed}")
    return plans


def write_mmproj(ckpt: Checkpoint, path: Path, name: str, layout: str = DEFAULT_LAYOUT,
                 progress: Progress | None = None, f32: bool = False) -> None:
    """Write the mmproj GGUF (F16, or F32 for parity checks) for `ckpt`."""
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
    writer.add_string("critic.class_token_layout", layout)
    write_gguf(path, writer, plan_mmproj(ckpt, layout, f32), progress)
