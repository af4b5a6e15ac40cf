"""The LLM half: a LLaMA GGUF with the merged LoRA, the SentencePiece vocabulary and the chat template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

from critic.convert.checkpoint import iter_llm_names
from critic.convert.gguf_stream import PlannedTensor, Progress, prefetched, row_blocks, write_gguf
from critic.convert.lora import Lora
from critic.core.errors import BadCheckpoint
from critic.core.prompt import CHAT_TEMPLATE, LEGACY_KEY
from critic.llava.checkpoint import Checkpoint


def permute_qk(weight, heads: int):
    """HF's rotary layout → llama.cpp's (pairs interleaved per head)."""
    rows = weight.shape[0]
    return (weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def vocabulary(ckpt: Checkpoint) -> tuple[list[bytes], list[float], list[int]]:
    """Pieces, scores and GGUF token types from tokenizer.model, padded to the model's vocab."""
    import gguf
    import sentencepiece as spm

    try:
        sp = spm.SentencePieceProcessor(model_file=str(ckpt.tokenizer_model))
    except (OSError, RuntimeError) as err:
        raise BadCheckpoint(f"{ckpt.tokenizer_model}: not a SentencePiece model ({err})") from None
    kinds = gguf.TokenType
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i).encode("utf-8"))
        scores.append(sp.get_score(i))
        types.append(kinds.UNKNOWN if sp.is_unknown(i) else kinds.CONTROL if sp.is_control(i)
                     else kinds.UNUSED if sp.is_unused(i) else kinds.BYTE if sp.is_byte(i) else kinds.NORMAL)
    added = ckpt.path / "added_tokens.json"
    if added.exists():
        for piece, index in sorted(json.loads(added.read_text()).items(), key=lambda kv: kv[1]):
            if index == len(tokens):
                tokens.append(piece.encode("utf-8"))
                scores.append(-1000.0)
                types.append(kinds.USER_DEFINED)
    if len(tokens) > ckpt.llm.vocab:
        raise BadCheckpoint(
            f"{ckpt.tokenizer_model}: {len(tokens)} tokens but the model's embedding has {ckpt.llm.vocab} rows"
        )
    while len(tokens) < ckpt.llm.vocab:  # embedding rows with no piece: never produced
        tokens.append(f"[PAD{len(tokens)}]".encode())
        scores.append(-1000.0)
        types.append(kinds.UNUSED)
    return tokens, scores, types


def _gguf_name(name: str, tensor_map) -> str:
    hf = name.split(":", 1)[1]
    found = tensor_map.get_name(hf, try_suffixes=(".weight", ".bias"))
    if found is None:
        raise BadCheckpoint(f"no GGUF name for LLM tensor '{hf}'")
    return found


def plan_llm(ckpt: Checkpoint, lora: Lora | None, matrix_dtype=np.float16) -> list[PlannedTensor]:
    """Every LLM tensor, with its GGUF name, F16 (or `matrix_dtype`) for matrices and F32 for vectors."""
    import gguf

    tensor_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, ckpt.llm.layers)
    plans = []
    for name in iter_llm_names(ckpt):
        ref = ckpt.tensors[name]
        shape = ref.shape
        heads = (ckpt.llm.heads if ".q_proj." in name else ckpt.llm.kv_heads if ".k_proj." in name else 0)

        def blocks(name=name, ref=ref, heads=heads) -> Iterator[np.ndarray]:
            dtype = matrix_dtype if len(ref.shape) > 1 else np.float32
            if heads:  # needs whole heads: a few MB even at 7B
                weight = lora.merged(name, ref.load()) if lora else ref.load()
                yield permute_qk(weight, heads).numpy().astype(dtype)
                return
            row_bytes = 4 * int(np.prod(ref.shape[1:], dtype=np.int64)) if len(ref.shape) > 1 else 4
            for start, stop in row_blocks(ref.shape[0], row_bytes):
                rows = ref.rows(start, stop)
                if lora:
                    rows = lora.merged(name, rows, start)
                yield rows.numpy().astype(dtype)

        plans.append(PlannedTensor(_gguf_name(name, tensor_map), shape,
                                   matrix_dtype if len(shape) > 1 else np.float32, blocks))
    return plans


def quantized(plans: list[PlannedTensor], quant: str, n_layer: int, threads: int = 0) -> tuple[list, object]:
    """`plans` (F16 matrices) quantized to `quant` as they stream (convert/stream_quant.py), in the order
    llama.cpp's quantizer writes tensors; and the kernels to close when the file is written."""
    from critic.convert.stream_quant import Kernels, quantizer_order, tensor_types

    types = tensor_types({p.name: p.shape for p in plans}, quant, n_layer)
    by_name = {p.name: p for p in plans}
    ordered = [by_name[name] for name in quantizer_order(list(by_name))]
    kernels = Kernels(threads)
    out = []
    # the checkpoint is read and merged a few blocks ahead, while the blocks before are quantized
    for plan in prefetched(ordered):
        kind = types.get(plan.name)
        if kind is None or kind == "F16":
            out.append(plan)
            continue

        def blocks(plan=plan, kind=kind) -> Iterator[np.ndarray]:
            for block in plan.blocks():  # F16 rows, as the F16 file held them
                rows = np.asarray(block, dtype=np.float16).astype(np.float32)
                yield kernels.quantize(kind, rows.reshape(-1, plan.shape[-1]))

        out.append(PlannedTensor(plan.name, plan.shape, np.uint8, blocks, kind))
    return out, kernels


def write_llm(ckpt: Checkpoint, lora: Lora | None, path: Path, name: str,
              progress: Progress | None = None, f32: bool = False, quant: str = "F16", threads: int = 0) -> None:
    """Write the LLM GGUF (F16, or F32 for parity checks, or quantized as it streams: `quant` Q4_K_M,
    Q5_K_M or Q8_0) for `ckpt` with `lora` merged."""
    import gguf

    from critic.convert.stream_quant import FTYPES, QNT_VERSION

    hp = ckpt.llm
    writer = gguf.GGUFWriter(None, "llama")
    writer.add_name(name)
    if quant not in FTYPES:
        writer.add_file_type(gguf.LlamaFileType.ALL_F32 if f32 else gguf.LlamaFileType.MOSTLY_F16)
    writer.add_context_length(hp.context)
    writer.add_embedding_length(hp.hidden)
    writer.add_feed_forward_length(hp.ffn)
    writer.add_block_count(hp.layers)
    writer.add_head_count(hp.heads)
    writer.add_head_count_kv(hp.kv_heads)
    writer.add_rope_dimension_count(hp.hidden // hp.heads)
    writer.add_rope_freq_base(hp.rope_theta)
    writer.add_layer_norm_rms_eps(hp.rms_eps)
    writer.add_vocab_size(hp.vocab)
    tokens, scores, types = vocabulary(ckpt)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(True)
    writer.add_chat_template(CHAT_TEMPLATE)
    # How the training tokenizer encoded text after </s> (see critic.core.prompt); llama.cpp ignores it.
    writer.add_bool(LEGACY_KEY, ckpt.tokenizer_legacy)
    plans = plan_llm(ckpt, lora, np.float32 if f32 else np.float16)
    if quant not in FTYPES:
        write_gguf(path, writer, plans, progress)
        return
    # the keys llama.cpp's quantizer sets, where it puts them: after the others, file type last
    writer.add_quantization_version(QNT_VERSION)
    writer.add_uint32(gguf.Keys.General.FILE_TYPE, FTYPES[quant][0])
    plans, kernels = quantized(plans, quant, hp.layers, threads)
    try:
        write_gguf(path, writer, plans, progress)
    finally:
        kernels.close()
