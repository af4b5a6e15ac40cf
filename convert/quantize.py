"""Quantization through llama.cpp's own `llama_model_quantize`, for the LLM and the mmproj."""

from __future__ import annotations

from pathlib import Path

from critic.core.errors import BadModelFile, UsageError

LLM_TYPES = ("Q4_K_M", "Q5_K_M", "Q8_0", "F16")
MMPROJ_TYPES = ("F16", "Q8_0")


def quantize(source: Path, target: Path, kind: str, threads: int = 0) -> None:
    """Quantize GGUF `source` to `target` as `kind` (e.g. Q4_K_M); F16 copies nothing."""
    from critic.engine.native import load_llama_cpp

    llama_cpp = load_llama_cpp()

    from critic.core.gguf_check import read_header
    from critic.engine.llama import silence_llama_logs

    silence_llama_logs()
    read_header(source)  # a non-GGUF must never reach llama.cpp, which would abort the process
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}", None)
    if ftype is None:
        raise UsageError(f"unknown quantization {kind}: choose one of {', '.join(LLM_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    result = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if result != 0:
        raise BadModelFile(f"{source}: llama.cpp could not quantize it to {kind} (code {result})")
