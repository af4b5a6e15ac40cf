"""How long `measure` takes next to Pillow decoding the same 12-megapixel JPEG.

The goal is measure time ≤ decode time. The printed ratio is

    median time of measure(image already decoded), downscale included
    ÷ median time of Image.open(path) + .load() of the 12-megapixel JPEG

so a ratio at or under 1.00 meets it. Runs alternate (decode, measure, decode, …) so that a
busy machine slows both alike. For the whole `critic facts` path it also times
`load_image` + `measure` (load_image decodes at full size and shrinks to 2048 px) and, for
comparison, the path `critic facts` takes: `load_image(path, draft=640)`, which lets libjpeg
scale down while decoding (Pillow's `draft`), then `measure`.

    python bench/facts_speed.py [--runs 9] [--source PAINTING.jpg]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from critic.core.images import load_image  # noqa: E402
from critic.facts import measure  # noqa: E402
from critic.facts.working import WORK_SIDE  # noqa: E402

DEFAULT_SOURCE = ROOT.parent / "shared" / "paintings" / "starry_night_van_gogh_1889.jpg"
SIZE = (4000, 3000)


def make_jpeg(source: Path | None, target: Path) -> str:
    """Write a 12-megapixel JPEG: a sample painting upscaled, or a synthetic picture."""
    if source is not None and source.exists():
        image = Image.open(source).convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
        origin = f"{source.name} upscaled"
    else:
        rng = np.random.default_rng(0)
        noise = rng.normal(0, 12, (SIZE[1] // 8, SIZE[0] // 8, 3))
        base = np.linspace(40, 200, SIZE[0] // 8)[None, :, None] + noise
        image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).resize(SIZE, Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for i in range(40):
            x, y = rng.integers(0, SIZE[0]), rng.integers(0, SIZE[1])
            r = int(rng.integers(50, 400))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        origin = "synthetic"
    image.save(target, quality=90)
    return origin


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "twelve_megapixels.jpg"
        origin = make_jpeg(args.source, path)
        decoded = Image.open(path)
        decoded.load()

        measure(decoded)  # warm-up: first-call costs (imports, caches) are not the steady state
        times: dict[str, list[float]] = {"decode": [], "measure": [], "load_image+measure": [], "critic facts path": []}
        for _ in range(args.runs):
            times["decode"].append(timed(lambda: Image.open(path).load()))
            times["measure"].append(timed(lambda: measure(decoded)))
            times["load_image+measure"].append(timed(lambda: measure(load_image(path).image)))
            times["critic facts path"].append(timed(lambda: measure(load_image(path, draft=2 * WORK_SIDE).image)))

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"image: {SIZE[0]}×{SIZE[1]} JPEG ({origin}), {args.runs} alternating runs, medians")
    for name, value in median.items():
        print(f"  {name:22s} {value * 1000:8.1f} ms")
    ratio = median["measure"] / median["decode"]
    print(f"ratio measure / decode = {ratio:.2f}  (goal ≤ 1.00: {'met' if ratio <= 1.0 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
