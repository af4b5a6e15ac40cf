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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def build_7b_width(work: Path, layers: int = 2) -> Path:
    """The converted model folder under `work` (built on the first call, reused after)."""
    from critic.manifest import MANIFEST_NAME

    out = work / f"gguf-{layers}"
    if (out / MANIFEST_NAME).exists():
        return out
    from convert.pipeline import ConvertConfig, convert
    from convert.tiny import VISION_PRESETS, TinySpec, build

    started = time.perf_counter()
    src = work / f"src-{layers}"
    build(src, TinySpec(hidden=4096, ffn=11008, layers=layers, heads=32, vocab=32000,
                        vision=VISION_PRESETS["clip-l"]))
    convert(ConvertConfig(base=str(src / "base"), vision_tower=str(src / "vision-tower"), lora=str(src / "lora"),
                          out=str(out), quant="F16", name="synthetic-7b-width"), show_progress=False)
    print(f"built the synthetic model in {time.perf_counter() - started:.0f} s → {out}", file=sys.stderr)
    return out


QUESTION = "Please compose a coherent paragraph of formal analysis focusing on visual characteristics."


def first_question(engine, sha256: str = ""):
    """(seconds to the first sampled token, its TurnRecord) for the paper's question about `painting()`.

    `sha256`: the picture's identity for the prefix cache ("" keeps it out of the cache).
    """
    from critic.engine.base import Settings
    from critic.images import LoadedImage

    picture = painting()
    session = engine.open_session(LoadedImage(Path("bench.png"), picture, sha256, "PNG", picture.size))
    started = time.perf_counter()
    stream = session.ask(QUESTION, Settings(max_tokens=1))
    next(stream)
    seconds = time.perf_counter() - started
    stream.close()
    return seconds, session.turns[-1]


def painting():
    """A 600×450 picture (landscape, so it is padded to square like a real one)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 450), (40, 70, 150))
    draw = ImageDraw.Draw(image)
    draw.ellipse((150, 90, 330, 270), fill=(240, 200, 90))
    draw.rectangle((0, 340, 600, 450), fill=(30, 30, 40))
    return image
