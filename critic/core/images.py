"""Image loading for every stage: one RGB picture from whatever file a museum hands out.

JPEG, PNG, WebP, TIFF (16-bit and multi-page: first page), BMP and GIF (first frame);
EXIF orientation applied; CMYK, palette, grey and alpha converted, alpha composited on a
neutral grey; very large images downscaled; every failure a `BadImage` naming the file (a FIFO,
a device or a symlink loop is named as what it is, never opened as a picture).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from critic.core.errors import BadImage, did_you_mean
from critic.core.files import NotRegular, open_regular

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
NEUTRAL_BACKGROUND = (128, 128, 128)
MAX_SIDE = 2048
"""Longest side kept for analysis; the model sees 336 px, so more only costs time."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded painting ready for a model or a measurement."""

    path: Path
    image: Image.Image
    sha256: str
    format: str
    original_size: tuple[int, int]


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, read in chunks."""
    with open(path, "rb") as handle:
        return _sha256(handle, chunk)


def _sha256(handle, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    while block := handle.read(chunk):
        digest.update(block)
    return digest.hexdigest()


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency on neutral grey."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit grey (scientific and museum TIFFs): scale the full range to 8 bits.
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        span = float(array.max() - array.min()) or 1.0
        image = Image.fromarray(((array - array.min()) / span * 255.0).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, NEUTRAL_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode == "CMYK":
        # Pillow's CMYK→RGB ignores embedded ICC profiles but is right for plain CMYK JPEGs.
        return image.convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image


def load_image(path: str | Path, max_side: int | None = MAX_SIDE, *, draft: int | None = None) -> LoadedImage:
    """Open `path` as an RGB image, or raise `BadImage` with a one-line reason.

    `draft`: for a JPEG, let the decoder scale down by 2, 4 or 8 while keeping both sides at
    least `draft` pixels (Pillow's `draft`), for callers that only need a small copy;
    `original_size` still reports the file's own size.
    """
    path = Path(path)
    try:
        handle = open_regular(path)
    except NotRegular as err:
        if err.kind == "missing":
            siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
            raise BadImage(f"{path}: no such file{did_you_mean(path.name, siblings)}") from None
        raise BadImage(f"{path}: {'is a folder, not an image' if err.kind == 'folder' else err}") from None
    with handle:
        return _decode(path, handle, max_side, draft)


def _decode(path: Path, handle, max_side: int | None, draft: int | None) -> LoadedImage:
    """The picture in the open regular file `handle` (read from its start), as `load_image` gives it."""
    if os.fstat(handle.fileno()).st_size == 0:
        raise BadImage(f"{path}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle) as opened:
                fmt = opened.format or path.suffix.lstrip(".").upper()
                opened.seek(0)  # first page of a TIFF, first frame of a GIF
                width, height = opened.size
                if opened.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientations that turn 90°
                    width, height = height, width
                if draft and opened.format == "JPEG":
                    opened.draft(opened.mode, (draft, draft))
                oriented = ImageOps.exif_transpose(opened)
                size = (width, height)
                oriented.load()
                rgb = _to_rgb(oriented)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BadImage(
            f"{path}: refused as a possible decompression bomb ({err}); "
            "downscale it first if you trust the file"
        ) from None
    except UnidentifiedImageError:
        hint = (": export the page as an image (PNG or JPEG) first" if path.suffix.lower() == ".pdf"
                else ": save it as JPEG or PNG first")
        raise BadImage(f"{path}: not a picture file critic can read (JPEG, PNG, WebP, TIFF, BMP or GIF){hint}") \
            from None
    except (OSError, SyntaxError, ValueError) as err:
        raise BadImage(f"{path}: the image is damaged or truncated ({err})") from None
    if max_side and max(rgb.size) > max_side:
        rgb = rgb.copy()
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    handle.seek(0)
    return LoadedImage(path, rgb, _sha256(handle), fmt, size)


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""OpenAI CLIP's normalisation, which every LLaVA-1.5 tower (ShareGPT4V's too) keeps."""


def pad_colour(mean: Sequence[float]) -> tuple[int, int, int]:
    """LLaVA's padding colour: the CLIP mean as 8-bit values, truncated (122, 116, 104 for CLIP)."""
    return tuple(int(v * 255) for v in mean)  # type: ignore[return-value]


def pad_to_square(image: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """Pad to a square canvas centred on the image (LLaVA's `expand2square`)."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


PREPROCESS_MODES = ("pad", "crop")


def model_input(image: Image.Image, size: int, mean: Sequence[float], preprocess: str = "pad") -> Image.Image:
    """The picture exactly as LLaVA hands it to CLIP, at the model's input size.

    ``pad`` (GalleryGPT's ``image_aspect_ratio: pad``): pad to a square with `pad_colour`,
    then CLIPImageProcessor's bicubic resize. ``crop``: CLIPImageProcessor alone, which
    resizes the short side to `size` and crops the centre. llama.cpp given a picture of
    exactly `size` × `size` copies it unchanged, so its own order (resize, then pad) never
    comes into play.
    """
    rgb = image.convert("RGB")
    if preprocess == "pad":
        return pad_to_square(rgb, pad_colour(mean)).resize((size, size), Image.Resampling.BICUBIC)
    if preprocess != "crop":
        raise ValueError(f"unknown preprocessing '{preprocess}'")
    width, height = rgb.size
    short, long = sorted((width, height))
    resized = (size, int(size * long / short)) if width <= height else (int(size * long / short), size)
    rgb = rgb.resize(resized, Image.Resampling.BICUBIC)
    left, top = (rgb.width - size) // 2, (rgb.height - size) // 2
    return rgb.crop((left, top, left + size, top + size))


def roll_patches(image: Image.Image, patch: int) -> Image.Image:
    """The picture's `patch`-pixel tiles moved one place on in raster order, the last tile first."""
    array = np.asarray(image.convert("RGB"))
    rows, cols = array.shape[0] // patch, array.shape[1] // patch
    if (rows * patch, cols * patch) != array.shape[:2]:
        raise ValueError(f"{image.size} is not a whole number of {patch}-pixel patches")
    tiles = array.reshape(rows, patch, cols, patch, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cols, patch, patch, 3)
    tiles = np.roll(tiles, 1, axis=0)
    back = tiles.reshape(rows, cols, patch, patch, 3).transpose(0, 2, 1, 3, 4).reshape(array.shape)
    return Image.fromarray(np.ascontiguousarray(back), "RGB")


def iter_image_paths(targets: list[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into image paths, keeping file order."""
    paths: list[Path] = []
    for target in map(Path, targets):
        if target.is_dir():
            paths += sorted(p for p in target.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            paths.append(target)
    return paths
