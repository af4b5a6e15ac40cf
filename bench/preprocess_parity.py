"""How far the pixels (and image tokens) llama.cpp gets are from LLaVA's, before and after critic preprocesses.

    python bench/preprocess_parity.py [PAINTING ...] [--work DIR]

Reference: LLaVA's ``process_images`` for ``image_aspect_ratio: pad`` — ``expand2square``
with the CLIP mean colour, then transformers' PIL ``CLIPImageProcessor`` (bicubic resize to
336, centre crop, normalise). Compared with it, on the sample paintings (../shared/paintings,
non-square) and a square picture:

- pixels, critic: `critic.core.images.model_input` (pad, then resize), what critic hands llama.cpp;
- pixels, llama.cpp's own order: resize keeping the aspect ratio (llama.cpp's ``PAD_CEIL``
  rounding), then pad — computed with Pillow, whose bicubic llama.cpp's ``resize_pillow``
  reimplements, since libmtmd does not expose the pixels it makes;
- image tokens, on the tiny reference model's files (56 px tower, F16 mmproj): one encode
  of the main mmproj when llama.cpp is handed the raw picture (it resizes and pads itself)
  and when handed critic's preprocessed picture; its rows 0..N-2 (patches 1..N-1, see
  convert/mmproj_gguf.py) against transformers' patches 1..N-1 for the reference pixels
  (max |Δ| over the rows' scale), so only preprocessing differs between the two columns.

Pixel differences are in normalised units (CLIP's (x/255 − mean)/std; one 8-bit step ≈ 0.015).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from synthetic import build_model  # noqa: E402

PAINTINGS = ROOT.parent / "shared" / "paintings"


def reference_pixels(picture: Image.Image, size: int, processor) -> np.ndarray:
    """LLaVA's expand2square + CLIPImageProcessor, (size, size, 3) normalised."""
    background = tuple(int(x * 255) for x in processor.image_mean)
    side = max(picture.size)
    square = Image.new("RGB", (side, side), background)
    square.paste(picture, ((side - picture.width) // 2, (side - picture.height) // 2))
    return processor(square, return_tensors="np")["pixel_values"][0].transpose(1, 2, 0)


def llama_cpp_order(picture: Image.Image, size: int, background) -> Image.Image:
    """Resize keeping the aspect ratio (ceil), then pad, as llama.cpp's fixed-size LLaVA path does."""
    scale = min(size / picture.width, size / picture.height)
    width = min(math.ceil(picture.width * scale), size)
    height = min(math.ceil(picture.height * scale), size)
    canvas = Image.new("RGB", (size, size), background)
    canvas.paste(picture.resize((width, height), Image.Resampling.BICUBIC), ((size - width) // 2, (size - height) // 2))
    return canvas


def normalised(picture: Image.Image, mean, std) -> np.ndarray:
    return (np.asarray(picture, np.float32) / 255 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paintings", nargs="*", type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    import torch
    from transformers import CLIPImageProcessorPil

    from critic.core.images import CLIP_MEAN, CLIP_STD, load_image, model_input, pad_colour

    paths = args.paintings or sorted(PAINTINGS.glob("*.jpg"))
    pictures = [(p.name, load_image(p, max_side=None).image) for p in paths]
    square = Image.new("RGB", (512, 512), (30, 60, 140))
    square.paste((230, 200, 120), (100, 100, 300, 260))
    pictures.append(("square 512×512", square))

    print("pixels at 336 px, max |Δ| against LLaVA's (normalised units)")
    print(f"{'picture':<40}{'size':>12}{'critic':>12}{'llama.cpp order':>18}")
    processor = CLIPImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                                      image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), resample=3)
    for name, picture in pictures:
        reference = reference_pixels(picture, 336, processor)
        ours = normalised(model_input(picture, 336, CLIP_MEAN, "pad"), CLIP_MEAN, CLIP_STD)
        theirs = normalised(llama_cpp_order(picture, 336, pad_colour(CLIP_MEAN)), CLIP_MEAN, CLIP_STD)
        size = f"{picture.width}×{picture.height}"
        print(f"{name:<40}{size:>12}{np.abs(ours - reference).max():>12.2g}{np.abs(theirs - reference).max():>18.3f}")

    from critic.convert.reference import image_features, load_reference
    from critic.engine.base import ModelInfo
    from critic.engine.llama import LlamaEngine

    work = args.work or Path(tempfile.mkdtemp(prefix="critic-preprocess-"))
    build_model(work, name="tiny")
    model, ckpt = load_reference(work / "src/base", work / "src/vision-tower", work / "src/lora")
    size = ckpt.vision.image_size
    small = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                  image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), resample=3)
    engine = LlamaEngine.from_folder(work / "gguf", ModelInfo("tiny"), n_ctx=2048, threads=1)
    print(f"\nimage tokens on the tiny model ({size} px tower, exact layout, F16 mmproj): "
          "max |Δ| over the rows' scale against transformers")
    print(f"{'picture':<40}{'critic preprocesses':>22}{'llama.cpp preprocesses':>24}")
    try:
        for name, picture in pictures:
            pixels = torch.from_numpy(reference_pixels(picture, size, small).transpose(2, 0, 1)).unsqueeze(0)
            with torch.no_grad():
                reference = image_features(model, pixels)[0].numpy()
            scale = float(np.abs(reference).max())
            ours = engine.encode(engine.model_input(picture))[:-1]
            raw = engine.encode(picture)[:-1]  # llama.cpp resizes and pads the raw picture itself
            print(f"{name:<40}{np.abs(ours - reference[1:]).max() / scale:>22.2g}"
                  f"{np.abs(raw - reference[1:]).max() / scale:>24.3f}")
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
