"""The benchmarks' synthetic model at GalleryGPT's shapes where they cost time.

CLIP ViT-L/14-336's tower (24 layers, 1024 wide, 576 image tokens) and an LLM at 7B layer
width (hidden 4096, FFN 11008, 32 heads, vocabulary 32000) with a few layers, random
weights, built once with the release's file layout and converted to F16 with the default
(exact) layout. A real 7B has 32 such layers: prefill and decode cost scale with that
count; the vision encoder's cost does not.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def spec_7b_width(layers: int = 2):
    """CLIP ViT-L/14-336's tower and `layers` LLM layers at 7B width (hidden 4096, FFN 11008, 32 heads)."""
    from critic.convert.tiny import VISION_PRESETS, TinySpec

    return TinySpec(hidden=4096, ffn=11008, layers=layers, heads=32, vocab=32000, vision=VISION_PRESETS["clip-l"])


def build_model(folder: Path, spec=None, name: str = "synthetic") -> Path:
    """The model `spec` describes (convert.tiny's own when None), built in `folder`/src and converted to F16
    with the default (exact) layout in `folder`/gguf; that folder (built on the first call, reused after)."""
    from critic.core.manifest import MANIFEST_NAME

    out = folder / "gguf"
    if (out / MANIFEST_NAME).exists():
        return out
    from critic.convert.pipeline import ConvertConfig, convert
    from critic.convert.tiny import TinySpec, build

    started = time.perf_counter()
    src = folder / "src"
    build(src, spec or TinySpec())
    convert(ConvertConfig(base=str(src / "base"), vision_tower=str(src / "vision-tower"), lora=str(src / "lora"),
                          out=str(out), quant="F16", name=name), show_progress=False)
    print(f"built the model in {time.perf_counter() - started:.0f} s → {out}", file=sys.stderr)
    return out


def build_7b_width(work: Path, layers: int = 2) -> Path:
    """The converted 7B-width model folder under `work` (built on the first call, reused after)."""
    return build_model(work / f"7b-width-{layers}", spec_7b_width(layers), "synthetic-7b-width")


def model_files(folder: Path) -> tuple[Path, Path]:
    """(LLM, main mmproj) of a converted model folder."""
    from critic.core.manifest import Manifest

    return Manifest.read(folder).file_paths(folder)


@contextmanager
def marking_logits(engine, marks: list[float]):
    """Append the time to `marks` each time critic's sampler takes a token's logits, inside the block."""
    real_logits = engine.logits

    def logits():
        marks.append(time.perf_counter())
        return real_logits()

    engine.logits = logits
    try:
        yield marks
    finally:
        del engine.logits


QUESTION = "Please compose a coherent paragraph of formal analysis focusing on visual characteristics."


def first_question(engine, sha256: str = ""):
    """(seconds to the first sampled token, its TurnRecord) for the paper's question about `painting()`.

    `sha256`: the picture's identity for the prefix cache ("" keeps it out of the cache).
    """
    from critic.core.images import LoadedImage
    from critic.engine.base import Settings

    picture = painting()
    session = engine.open_session(LoadedImage(Path("bench.png"), picture, sha256, "PNG", picture.size))
    started = time.perf_counter()
    stream = session.ask(QUESTION, Settings(max_tokens=1))
    next(stream)
    seconds = time.perf_counter() - started
    stream.close()
    return seconds, session.turns[-1]


def painting(width: int = 600, height: int = 450):
    """A blue field, a warm disc and a dark band (600×450 by default: landscape, so it is padded to square)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (40, 70, 150))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 5, width * 11 // 20, height * 3 // 5), fill=(240, 200, 90))
    draw.rectangle((0, height * 34 // 45, width, height), fill=(30, 30, 40))
    return image


def deepen(ckpt, layers: int, seed: int = 0):
    """`ckpt` (a one-layer checkpoint at 7B width) with `layers` decoder layers: layer 0 as it is, the others
    random rows of the same shapes, read from one shared pool of N(0, 0.02) values so nothing big is held."""
    import dataclasses
    import re

    import torch

    from critic.llava.tensors import TensorRef

    generator = torch.Generator().manual_seed(seed)
    pool = torch.randn(1 << 26, generator=generator) * 0.02  # 256 MB of float32

    def random_ref(shape, salt: int) -> TensorRef:
        width = 1
        for n in shape[1:]:
            width *= n

        def read(start, stop, shape=shape, width=width, salt=salt):
            count = (stop - start) * width
            offset = (salt * 7919 + start * width) % (pool.numel() - count)
            return pool[offset:offset + count].reshape((stop - start, *shape[1:]))

        return TensorRef(shape, read)

    tensors = dict(ckpt.tensors)
    first = {n: ref for n, ref in ckpt.tensors.items() if n.startswith("llm:") and ".layers.0." in n}
    for layer in range(1, layers):
        for salt, (name, ref) in enumerate(first.items()):
            new = re.sub(r"\.layers\.0\.", f".layers.{layer}.", name)
            if "norm" in name:
                tensors[new] = ref  # norms stay at their trained-like values
            else:
                tensors[new] = random_ref(ref.shape, layer * 31 + salt)
    return dataclasses.replace(ckpt, llm=dataclasses.replace(ckpt.llm, layers=layers), tensors=tensors)


def build_7b_deep(work: Path, layers: int = 32, quant: str = "Q4_K_M") -> Path:
    """A 7B-shaped model folder (critic.json, exact layout, CLIP-L/336 mmproj pair) with `layers` decoder
    layers, its LLM in `quant`, built in minutes: the one-layer 7B-width model through `critic convert`,
    its LLM written again `layers` deep (`deepen`) by the same writer in F16, then quantized by
    llama.cpp (the F16 folder is kept, so other quantizations start from it). For GPU/CPU speed
    comparisons; the release-layout route at full size is bench/real_size.py."""
    import shutil

    from critic.convert.llm_gguf import write_llm
    from critic.convert.quantize import quantize
    from critic.core.images import file_sha256
    from critic.core.manifest import MANIFEST_NAME, Manifest, ModelFile
    from critic.llava.checkpoint import open_checkpoint

    out = work / f"7b-deep-{layers}-{quant}"
    if (out / MANIFEST_NAME).exists():
        return out
    started = time.perf_counter()
    if quant == "F16":
        source = build_7b_width(work, layers=1)
        src = work / "7b-width-1" / "src"
        ckpt = deepen(open_checkpoint(src / "base", src / "vision-tower"), layers)
    else:
        source = build_7b_deep(work, layers, "F16")
    staging = out.with_name(out.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    manifest = Manifest.read(source)
    llm = staging / f"llm.{quant}.gguf"
    if quant == "F16":
        write_llm(ckpt, None, llm, "synthetic-7b")
    else:
        quantize(source / manifest.llm.path, llm, quant)
    for entry in (manifest.mmproj, manifest.patch0):
        if entry:
            shutil.copy2(source / entry.path, staging / entry.path)
    manifest.name = f"synthetic-7b-{layers}"
    manifest.llm = ModelFile(llm.name, file_sha256(llm), llm.stat().st_size, quant)
    (staging / MANIFEST_NAME).write_text(manifest.to_json())
    staging.rename(out)
    print(f"built the {layers}-layer {quant} model in {time.perf_counter() - started:.0f} s → {out}", file=sys.stderr)
    return out
