"""How fast `critic gallery` opens a folder of 1,000 generated paintings, first and cached.

For each opening, in one run and on the same folder:

    listed    the app started until the grid lists every file (what the user sees first)
    visible   ... until the first screenful of tiles has its thumbnails and palettes
    measured  ... until every picture has its thumbnail and facts

The first opening starts from an empty cache, so it decodes and measures every picture;
the second finds each by sha256 in the cache (it still reads every file to hash it). The
app runs headless through Textual's test driver at 160 × 50 cells; nothing is drawn to a
terminal, so the times are the app's own work. The paintings are JPEGs of 1600 × 1200
(about what museum downloads are after a resize), each with its own colours and shapes.

    python bench/gallery_open.py [--count 1000] [--side 1600]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from critic.gallery.catalog import GalleryCache  # noqa: E402


def make_paintings(folder: Path, count: int, side: int) -> None:
    """`count` different pictures: a graded ground, a few shapes, a blur (so JPEG has texture to code)."""
    rng = random.Random(7)
    size = (side, side * 3 // 4)
    for n in range(count):
        top = tuple(rng.randrange(256) for _ in range(3))
        bottom = tuple(rng.randrange(256) for _ in range(3))
        image = Image.linear_gradient("L").resize(size).convert("RGB")
        image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), image.convert("L"))
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randrange(3, 9)):
            x, y = rng.randrange(size[0]), rng.randrange(size[1])
            r = rng.randrange(size[1] // 20, size[1] // 4)
            fill = tuple(rng.randrange(256) for _ in range(3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=fill)
        image.filter(ImageFilter.GaussianBlur(2)).save(folder / f"painting_{n:04d}.jpg", quality=88)


async def open_once(folder: Path, cache: GalleryCache) -> dict[str, float]:
    from textual_image.widget import HalfcellImage

    from critic.tui.gallery import GalleryApp

    def no_engine():
        raise RuntimeError("not used")

    times: dict[str, float] = {}
    start = time.perf_counter()
    app = GalleryApp(folder, folder / "results.jsonl", no_engine, cache=cache, image_widget=HalfcellImage)
    async with app.run_test(size=(160, 50)) as pilot:
        count = len(list(folder.glob("*.jpg")))
        while True:
            now = time.perf_counter() - start
            grid = app.grid
            if "listed" not in times and len(grid.entries) == count:
                times["listed"] = now
            if "visible" not in times and grid.entries:
                on_screen = grid.columns * max(1, grid.size.height // 12 + 1)
                if all(e.loaded for e in grid.entries[:on_screen]):
                    times["visible"] = now
            if app.all_loaded and app.entries:
                times["measured"] = now
                break
            await pilot.pause(0.02)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--side", type=int, default=1600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache_dir = Path(tmp) / "art", Path(tmp) / "cache"
        folder.mkdir()
        cache_dir.mkdir()
        made = time.perf_counter()
        make_paintings(folder, args.count, args.side)
        megabytes = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"{args.count} JPEGs of {args.side}×{args.side * 3 // 4} ({megabytes:.0f} MB) made in "
              f"{time.perf_counter() - made:.0f} s")
        first = asyncio.run(open_once(folder, GalleryCache(cache_dir)))
        cached = asyncio.run(open_once(folder, GalleryCache(cache_dir)))
        cache_mb = sum(p.stat().st_size for p in cache_dir.iterdir()) / 1e6
        print(f"{'':10}{'first':>10}{'cached':>10}{'ratio':>8}")
        for key in ("listed", "visible", "measured"):
            print(f"{key:<10}{first[key]:>9.2f}s{cached[key]:>9.2f}s{first[key] / cached[key]:>7.1f}×")
        print(f"cache: {cache_mb:.1f} MB for {args.count} pictures ({cache_mb * 1e3 / args.count:.0f} kB each)")


if __name__ == "__main__":
    main()
