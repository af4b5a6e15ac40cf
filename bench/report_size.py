"""How large an HTML report is per painting, and how much of it is the pictures.

Generates `--count` paintings (the same generator as bench/gallery_open.py), gives each one
analysis of about the length GalleryGPT writes (~900 characters, one sentence of it
contradicted by the measurements), writes the report with `critic report`'s own function,
and prints its size per painting, split into the embedded picture and the rest (styles,
SVG overlay and histogram, palette, text).

    python bench/report_size.py [--count 20] [--side 1600]
    python bench/report_size.py --images ../shared/paintings   (real paintings: textured, so larger)
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gallery_open import make_paintings  # noqa: E402

from critic.core.images import load_image  # noqa: E402
from critic.report import records_report  # noqa: E402

ANALYSIS = ("The palette is dominated by greens. " + "The composition rests on a graded ground, with rounded and "
            "square forms scattered across it; their edges are soft, and the light falls evenly, so no single "
            "form takes the lead. " * 5).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--side", type=int, default=1600)
    parser.add_argument("--images", type=Path, help="report on these pictures instead of generated ones")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.images or Path(tmp)
        if args.images is None:
            make_paintings(folder, args.count, args.side)
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        records = []
        for path in paths:
            image = load_image(path)
            records.append({"key": path.name, "status": "ok", "question": "Please compose a coherent paragraph.",
                            "analysis": ANALYSIS, "image": {"path": str(path), "sha256": image.sha256},
                            "model": {"name": "gallerygpt", "quantization": "Q4_K_M"},
                            "settings": {"max_tokens": 512, "temperature": 0.0}})
        html, shown, _ = records_report(records)
        total = len(html.encode())
        pictures = sum(len(m) for m in re.findall(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+", html))
        source = sum(p.stat().st_size for p in paths)
        what = f"from {folder}" if args.images else f"of {args.side}×{args.side * 3 // 4}, generated"
        print(f"{shown} paintings {what} (files {source / shown / 1e3:.0f} kB each)")
        rest = (total - pictures) / shown / 1e3
        print(f"report: {total / 1e6:.2f} MB, {total / shown / 1e3:.0f} kB per painting "
              f"({pictures / shown / 1e3:.0f} kB picture as base64, {rest:.1f} kB the rest)")


if __name__ == "__main__":
    main()
