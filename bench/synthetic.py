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
