"""Details of a painting: a rectangle of the canvas, the crop it cuts, and the crop's own identity.

GalleryGPT was trained on whole paintings, each seen at 336 × 336 pixels. A detail's analysis
is that model applied to a crop, which it then sees at the same 336 pixels: brushwork a
4000-pixel scan loses on the way in is there again, but the model has never been taught what
a fragment of a painting is.

Syntax (``--region``, ``critic facts --region``): ``X,Y,W,H``, the top-left corner, then the
width and the height.
- Fractions of the canvas when every value is at most 1 and there is no ``px``:
  ``0.5,0,0.5,0.5`` is the top-right quarter of any painting.
- Pixels of the picture as it stands upright (EXIF orientation applied) with ``px`` after the
  last value (or after each): ``2000,0,2000,1500px``. Pixels are whole numbers.
A value above 1 without ``px`` is refused rather than guessed. A region reaching past an edge,
or with no width or height, is a one-line error (`BadRegion`).

Fractions become pixels by rounding each edge (left = round(x · width), right =
round((x + w) · width)), so a rectangle given either way cuts the same crop. The crop is cut
from the file at full resolution, then, like any painting, downscaled to `MAX_SIDE` at most.

Identity: to the model and the prefix cache a crop is a picture of its own. Its sha256 is
that of ``critic-region:<painting sha256>:<left>,<top>,<width>,<height>`` (the box in pixels of
the upright canvas), so the same detail of the same file is the same picture whichever
syntax named it, and no two details of a painting share a cached prefix.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from critic.core.errors import BadRegion

if TYPE_CHECKING:  # Pillow and the image loader only when a detail is cut: every verb's --help reads this module
    from critic.core.images import LoadedImage

REGION_HELP = ("X,Y,W,H: fractions of the canvas when every value is at most 1 (0.5,0,0.5,0.5 is the top-right "
               "quarter), pixels with px (2000,0,2000,1500px)")
"""How --region is written, for every verb's help."""

CROP_NOTE = ("GalleryGPT was trained on whole paintings: a detail's analysis is the model applied to a crop, "
             "which it sees at its full 336-pixel input")
"""What help texts, records and the chat say about an analysis of a detail."""

MAX_TILES = 6
"""Largest N of --detail N (N × N tiles)."""

_NUMBER = r"\s*(-?(?:\d+(?:\.\d*)?|\.\d+))\s*(px)?\s*"
_SYNTAX = re.compile(",".join([_NUMBER] * 4) + r"$", re.IGNORECASE)
_EPSILON = 1e-6


@dataclass(frozen=True)
class Region:
    """A rectangle as written: four numbers, fractions of the canvas or pixels."""

    x: float
    y: float
    w: float
    h: float
    pixels: bool = False
    tile: tuple[int, int, int] | None = None
    """(row, column, N) for a tile of --detail N."""

    @property
    def text(self) -> str:
        """The region as `parse_region` reads it back."""
        values = ",".join(_number(v) for v in (self.x, self.y, self.w, self.h))
        return values + ("px" if self.pixels else "")

    def check_fractions(self) -> None:
        """`BadRegion` when a fractional region reaches past the right or bottom edge (x + w or y + h above 1)."""
        for start, span, axis, edge in ((self.x, self.w, "x", "right"), (self.y, self.h, "y", "bottom")):
            if start + span > 1 + _EPSILON:
                raise BadRegion(f"region {self.text} reaches past the {edge} edge of the canvas "
                                f"({axis} + {'w' if axis == 'x' else 'h'} = {_number(start + span)}, more than 1)")

    def box(self, size: tuple[int, int], name: str = "the painting") -> "Box":
        """The pixel box of this region on a canvas of `size` (width, height); `BadRegion` when it
        reaches past an edge or holds no pixel. `name` says whose canvas in the message."""
        width, height = size
        where = f"{name} ({width}×{height} px)"
        if self.pixels:
            left, top = round(self.x), round(self.y)
            right, bottom = left + round(self.w), top + round(self.h)
            if right > width or bottom > height:
                edge = "right" if right > width else "bottom"
                raise BadRegion(f"region {self.text} reaches past the {edge} edge of {where}")
        else:
            self.check_fractions()
            left, top = round(self.x * width), round(self.y * height)
            right = min(width, round((self.x + self.w) * width))
            bottom = min(height, round((self.y + self.h) * height))
        if right <= left or bottom <= top:
            raise BadRegion(f"region {self.text} is less than a pixel {'wide' if right <= left else 'high'} "
                            f"on {where}")
        return Box(left, top, right - left, bottom - top, (width, height))


@dataclass(frozen=True)
class Box:
    """A region in pixels of one canvas: left, top, width, height, and the canvas's size."""

    left: int
    top: int
    width: int
    height: int
    canvas: tuple[int, int]

    @property
    def fractions(self) -> tuple[float, float, float, float]:
        """(x, y, w, h) as fractions of the canvas."""
        cw, ch = self.canvas
        return self.left / cw, self.top / ch, self.width / cw, self.height / ch

    @property
    def region(self) -> Region:
        """The box as a fractional region (four decimals), the way records and the chat name it."""
        return Region(*(round(v, 4) for v in self.fractions))

    @property
    def pixels_text(self) -> str:
        """``left,top,width,heightpx``."""
        return f"{self.left},{self.top},{self.width},{self.height}px"

    def scaled(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of this box on the same picture at another `size` (a downscaled copy)."""
        sx, sy = size[0] / self.canvas[0], size[1] / self.canvas[1]
        left, top = round(self.left * sx), round(self.top * sy)
        return (left, top, max(left + 1, round((self.left + self.width) * sx)),
                max(top + 1, round((self.top + self.height) * sy)))


def _number(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def parse_region(text: str) -> Region:
    """`X,Y,W,H` (fractions) or `X,Y,W,Hpx` (pixels) as a `Region`; `BadRegion` with the syntax otherwise."""
    match = _SYNTAX.match(text or "")
    if not match:
        raise BadRegion(f"region '{text}' is not X,Y,W,H: give {REGION_HELP}")
    groups = match.groups()
    values = tuple(float(v) for v in groups[0::2])
    suffixes = [bool(s) for s in groups[1::2]]
    pixels = suffixes[-1] or all(suffixes)
    if any(suffixes) and not pixels:
        raise BadRegion(f"region '{text}': put px after the last value (or after each), as in 2000,0,2000,1500px")
    x, y, w, h = values
    if x < 0 or y < 0:
        raise BadRegion(f"region '{text}' starts outside the canvas: X and Y count from its top-left corner, at 0")
    if w <= 0 or h <= 0:
        raise BadRegion(f"region '{text}' is empty: its {'width' if w <= 0 else 'height'} is 0")
    if pixels and any(v != int(v) for v in values):
        raise BadRegion(f"region '{text}': pixels are whole numbers")
    if not pixels and any(v > 1 for v in values):
        raise BadRegion(f"region '{text}': values above 1 are pixels: write {text.strip()}px "
                        "(fractions of the canvas run from 0 to 1)")
    region = Region(x, y, w, h, pixels)
    if not pixels:
        region.check_fractions()  # past an edge whatever the painting: said before any is read
    return region


def detail_tiles(n: int) -> list[Region]:
    """An n × n grid of overlapping tiles, row by row: each 2/(n+1) of the canvas wide and high, one
    every 1/(n+1), so neighbours share half of each other and the edges of one tile are the middle of the next."""
    if not 2 <= n <= MAX_TILES:
        raise BadRegion(f"--detail takes 2 to {MAX_TILES} (tiles a side), not {n}")
    step = 1 / (n + 1)
    return [Region(col * step, row * step, 2 * step, 2 * step, tile=(row, col, n))
            for row in range(n) for col in range(n)]


def region_sha256(painting_sha256: str, box: Box) -> str:
    """The identity of a crop: the painting's sha256 and the box, hashed."""
    text = f"critic-region:{painting_sha256}:{box.left},{box.top},{box.width},{box.height}"
    return hashlib.sha256(text.encode()).hexdigest()


def load_whole(path: str | Path) -> "LoadedImage":
    """The painting at full resolution, for cutting details from (`BadImage` as `load_image` raises it)."""
    from critic.core.images import load_image

    return load_image(path, max_side=None)


@dataclass(frozen=True)
class Detail:
    """A detail of a painting: the box it covers and the crop as a picture of its own."""

    box: Box
    image: "LoadedImage"
    """The crop: its path and format are the painting's, its sha256 `region_sha256`, its size the box's."""
    painting_sha256: str
    asked: Region
    """The region as it was asked for (fractions or pixels)."""

    @property
    def tile(self) -> tuple[int, int, int] | None:
        """(row, column, N) for a tile of --detail N."""
        return self.asked.tile

    @property
    def region(self) -> Region:
        """The region in fractions of the canvas, how records name it: as asked, or a pixel region's box."""
        return self.asked if not self.asked.pixels else self.box.region

    @property
    def label(self) -> str:
        """How the detail is named on screen and in documents (`region_label`)."""
        return region_label(self.to_dict())

    def to_dict(self) -> dict:
        """What a record carries about the detail (see `region_from_record`)."""
        x, y, w, h = self.box.fractions
        data = {"text": self.region.text, "x": round(x, 6), "y": round(y, 6), "w": round(w, 6), "h": round(h, 6),
                "box": [self.box.left, self.box.top, self.box.width, self.box.height],
                "canvas": list(self.box.canvas), "sha256": self.image.sha256}
        if self.tile:
            data["tile"] = list(self.tile)
        return data


def cut_detail(painting: "LoadedImage", region: Region) -> Detail:
    """The detail `region` names on `painting` (loaded at full resolution by `load_whole`, or any size:
    the box is on the file's own canvas, `original_size`), downscaled like any painting to `MAX_SIDE`."""
    from PIL import Image

    from critic.core.images import MAX_SIDE, LoadedImage

    box = region.box(painting.original_size, painting.path.name)
    crop = painting.image.crop(box.scaled(painting.image.size))
    if max(crop.size) > MAX_SIDE:
        crop.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    identity = region_sha256(painting.sha256, box)
    image = LoadedImage(painting.path, crop, identity, painting.format, (box.width, box.height))
    return Detail(box, image, painting.sha256, region)


def region_of_record(region: dict, canvas: tuple[int, int] | None = None) -> Region:
    """The region a record's (or a saved conversation's) ``region`` names, as asked when that still cuts its
    box exactly, else the box in pixels (ValueError when it names no box on the canvas)."""
    box = box_from_record(region, canvas)
    tile = region.get("tile")
    tile = tuple(tile) if isinstance(tile, list) and len(tile) == 3 and all(type(v) is int for v in tile) else None
    try:
        asked = parse_region(str(region.get("text", "")))
        if asked.box(box.canvas) == box:
            return Region(asked.x, asked.y, asked.w, asked.h, asked.pixels, tile)  # type: ignore[arg-type]
    except BadRegion:
        pass
    return Region(box.left, box.top, box.width, box.height, pixels=True, tile=tile)  # type: ignore[arg-type]


def region_label(region: dict) -> str:
    """``detail 0.5,0,0.5,0.5 (200,0,200,150px)`` for a record's ``region`` (`Detail.to_dict`), with the
    tile's place for a tile of --detail; escaped for a terminal (a record is a file anyone can edit)."""
    from critic.core.names import safe_name

    box = region.get("box") or []
    pixels = f" ({','.join(str(v) for v in box)}px)" if len(box) == 4 else ""
    tile = region.get("tile")
    where = f"tile {tile[0] + 1}.{tile[1] + 1} of {tile[2]}×{tile[2]}, " if tile and len(tile) == 3 else ""
    return f"detail {where}{safe_name(str(region.get('text', '')))}{pixels}"


def box_from_record(region: dict, canvas: tuple[int, int] | None = None) -> Box:
    """The pixel box a record's ``region`` names (ValueError when it is not one)."""
    box, size = region.get("box"), tuple(region.get("canvas") or canvas or ())
    if not isinstance(box, list) or len(box) != 4 or any(type(v) is not int for v in (*box, *size)):
        raise ValueError(f"region box {box!r} on a canvas of {size} is not four whole numbers on two")
    left, top, width, height = box
    if len(size) != 2 or min(size) <= 0 or width <= 0 or height <= 0 or left < 0 or top < 0 \
            or left + width > size[0] or top + height > size[1]:
        raise ValueError(f"region box {region['box']} is not inside a canvas of {size}")
    return Box(left, top, width, height, size)  # type: ignore[arg-type]
