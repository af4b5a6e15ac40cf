"""Quantizing the LLM as it is written: no full-size F16 file on the way to Q4_K_M, Q5_K_M or Q8_0.

`llama_model_quantize` reads a finished GGUF, so the 7B route used to write a 13.5 GB F16 file
and read it back. Here each block of merged rows is rounded to F16 (what that file held), then
quantized by llama.cpp's own kernels (`ggml_quantize_chunk` in the libggml that llama-cpp-python
ships, bound with ctypes: llama-cpp-python binds llama.h only) straight into the output. The
per-tensor types follow llama.cpp's recipe for a LLaMA model (src/llama-quant.cpp,
`llama_tensor_get_type`), written out below for the three types critic offers; tensors go in the
order llama.cpp's quantizer writes them (non-layer tensors, then layer by layer, each group by
name) and the file-type keys as it sets them, so the result is the file `llama_model_quantize`
makes from the F16 one, byte for byte (tests/test_stream_quant.py holds that on the tiny model).
"""

from __future__ import annotations

import ctypes
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np

FTYPES = {"Q4_K_M": (15, "Q4_K"), "Q5_K_M": (17, "Q5_K"), "Q8_0": (7, "Q8_0")}
"""llama_ftype value and default tensor type of each quantization critic streams."""
QNT_VERSION = 2
"""GGML_QNT_VERSION, written as general.quantization_version."""
FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
"""llama.cpp's fallback for a row width its block size does not divide (tensor_type_fallback)."""

_LAYER = re.compile(r"^blk\.(\d+)\.")


def quantizer_order(names: list[str]) -> list[str]:
    """Tensor names in the order llama.cpp's quantizer writes them: by layer (non-layer ones first), then by name."""
    def key(name: str) -> tuple[int, str]:
        match = _LAYER.match(name)
        return (int(match.group(1)) if match else -1, name)

    return sorted(names, key=key)


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensor_types(shapes: dict[str, tuple[int, ...]], quant: str, n_layer: int) -> dict[str, str]:
    """The ggml type of every tensor in `quant` (shapes in numpy order, rows first), as llama.cpp picks it
    for a LLaMA model without experts; tensors kept as they are (1-D, norms) are absent."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    _, default = FTYPES[quant]
    types: dict[str, str] = {}
    attn_v = 0
    ffn_down = 0
    for name in quantizer_order(list(shapes)):
        shape = shapes[name]
        if len(shape) < 2 or not name.endswith("weight") or "_norm.weight" in name:
            continue
        new = default
        width = shape[-1]
        if name == "output.weight":
            block = GGML_QUANT_SIZES[GGMLQuantizationType[default]][0]
            new = "Q8_0" if width % block else ("Q6_K" if default != "Q8_0" else "Q8_0")
        elif name == "token_embd.weight":
            pass
        elif "attn_v.weight" in name:
            if quant in ("Q4_K_M", "Q5_K_M") and _use_more_bits(attn_v, n_layer):
                new = "Q6_K"
            attn_v += 1
        elif "ffn_down" in name:
            if quant in ("Q4_K_M", "Q5_K_M") and _use_more_bits(ffn_down, n_layer):
                new = "Q6_K"
            ffn_down += 1
        block = GGML_QUANT_SIZES[GGMLQuantizationType[new]][0]
        if width % block:
            fallback = FALLBACK.get(new, new)
            new = fallback if width % GGML_QUANT_SIZES[GGMLQuantizationType[fallback]][0] == 0 else "F16"
        types[name] = new
    return types


def row_bytes(type_name: str, width: int) -> int:
    """Bytes of one row of `width` values in `type_name`."""
    from critic.core.gguf_check import ggml_bytes

    return ggml_bytes(type_name, width)


class Kernels:
    """llama.cpp's quantization kernels (libggml-base), several threads at once: the calls let go of the GIL."""

    def __init__(self, threads: int = 0) -> None:
        import os

        from critic.engine.native import ggml_library

        lib = ggml_library("ggml-base")
        lib.ggml_quantize_init.argtypes = [ctypes.c_int]
        lib.ggml_quantize_init.restype = None
        lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                            ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        lib.ggml_validate_row_data.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
        lib.ggml_validate_row_data.restype = ctypes.c_bool
        self.lib = lib
        self.threads = threads or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="quantize")

    def quantize(self, type_name: str, rows: np.ndarray) -> np.ndarray:
        """`rows` (float32, one row per matrix row) in `type_name`, as bytes."""
        from gguf import GGMLQuantizationType

        kind = int(GGMLQuantizationType[type_name])
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        n_rows, width = rows.shape
        size = row_bytes(type_name, width)
        out = np.empty((n_rows, size), dtype=np.uint8)
        self.lib.ggml_quantize_init(kind)
        step = max(1, -(-n_rows // self.threads))

        def part(start: int) -> None:
            stop = min(n_rows, start + step)
            written = self.lib.ggml_quantize_chunk(kind, rows[start:stop].ctypes.data, out[start:stop].ctypes.data,
                                                   0, stop - start, width, None)
            if written != (stop - start) * size or not self.lib.ggml_validate_row_data(
                    kind, out[start:stop].ctypes.data, written):
                raise RuntimeError(f"llama.cpp's {type_name} quantization gave no valid rows")

        list(self.pool.map(part, range(0, n_rows, step)))
        return out

    def close(self) -> None:
        self.pool.shutdown()
