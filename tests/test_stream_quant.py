"""Quantizing as the LLM is written gives llama.cpp's own quantized file, byte for byte.

The reference is what critic did before and what every llama.cpp user does: write the F16 GGUF,
then `llama_model_quantize` it (llama.cpp's src/llama-quant.cpp picks each tensor's type and
quantizes). The streamed file never has an F16 copy of the model on disk."""

from __future__ import annotations

import pytest

from critic.convert.llm_gguf import write_llm
from critic.convert.quantize import quantize
from critic.llava.checkpoint import open_checkpoint


@pytest.fixture(scope="module")
def tiny256(tmp_path_factory):
    """Every matrix row 256 or 640 wide, so the K-quants quantize for real; 8 layers, so the Q6_K layers of
    the _M recipes (the first and last eighth, every third between) differ from the rest."""
    from critic.convert.tiny import TinySpec, build

    return build(tmp_path_factory.mktemp("tiny256"), TinySpec(hidden=256, heads=4, layers=8))


@pytest.mark.parametrize("quant", ["Q4_K_M", "Q5_K_M", "Q8_0"])
@pytest.mark.parametrize("model", ["tiny256", "tiny_dir"])
def test_streamed_quantization_is_llama_cpps_file(model, quant, request, tmp_path):
    folder = request.getfixturevalue(model)  # tiny_dir: rows 64 wide, so every K-quant takes llama.cpp's fallback
    ckpt = open_checkpoint(folder / "base", folder / "vision-tower")
    f16 = tmp_path / "llm.F16.gguf"
    write_llm(ckpt, None, f16, "tiny")
    reference = tmp_path / "reference.gguf"
    quantize(f16, reference, quant)
    streamed = tmp_path / "streamed.gguf"
    write_llm(ckpt, None, streamed, "tiny", quant=quant, threads=3)
    expected, got = reference.read_bytes(), streamed.read_bytes()
    if got != expected:
        from critic.core.gguf_check import read_header

        ref, ours = read_header(reference), read_header(streamed)
        assert ours.fields == ref.fields
        assert {n: t for n, (s, t) in ours.tensors.items()} == {n: t for n, (s, t) in ref.tensors.items()}
        assert list(ours.tensors) == list(ref.tensors)
        assert len(got) == len(expected)
        first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        pytest.fail(f"the files differ from byte {first} on")
