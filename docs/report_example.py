"""Make docs/report-example.png, the README's picture of an HTML report.

The paintings are drawn here (critic's example seascape and a generated still life); the
analysis texts are written for the illustration — each record says so in its note, and the
report shows it — because what is shown is the page, not a model's prose. One sentence in
each is one the measurements contradict, so the highlighting shows.

    python docs/report_example.py   (needs Debian's chromium)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from critic.example import draw_example  # noqa: E402
from critic.facts import measure  # noqa: E402
from critic.core.images import load_image  # noqa: E402
from critic.report import records_report  # noqa: E402

NOTE = "Example text written to illustrate the report, not by a model."
TEXTS = {
    "seascape.png": "A low sun hangs over a dark sea, its reflection broken into short horizontal strokes. "
                    "The palette is dominated by greens. The headland cuts a dark diagonal into the lower "
                    "left, and the horizon sits low, so the sky takes most of the canvas.",
    "still_life.png": "Three vessels stand on a table against a plain wall. The composition is perfectly "
                      "symmetrical. Warm ochres and reds gather in the centre, set off by the cool wall.",
}


def still_life(width: int = 900, height: int = 700) -> Image.Image:
    """A generated still life: a wall, a table edge, three vessels left of centre."""
    image = Image.new("RGB", (width, height), (92, 104, 118))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, int(height * 0.62), width, height), fill=(120, 78, 44))
    draw.ellipse((120, 250, 330, 470), fill=(196, 120, 40))
    draw.rectangle((180, 170, 270, 300), fill=(196, 120, 40))
    draw.ellipse((300, 300, 470, 470), fill=(170, 40, 36))
    draw.ellipse((470, 330, 560, 440), fill=(232, 200, 120))
    return image.filter(ImageFilter.GaussianBlur(1.2))


def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        draw_example().save(folder / "seascape.png")
        still_life().save(folder / "still_life.png")
        records = []
        for name, text in TEXTS.items():
            image = load_image(folder / name)
            records.append({
                "key": name, "status": "ok", "question": "Please compose a coherent paragraph of formal analysis "
                "focusing on visual characteristics.", "analysis": text, "note": NOTE,
                "image": {"path": name, "sha256": image.sha256, "width": image.original_size[0],
                          "height": image.original_size[1], "format": image.format},
                "facts": measure(image.image).to_dict(), "settings": {"max_tokens": 512, "temperature": 0.0},
            })
            records[-1]["image"]["path"] = str(folder / name)
        html, shown, _ = records_report(records, "Formal analyses: two examples", "example records")
        page = folder / "report.html"
        page.write_text(html)
        print(f"{shown} paintings, {len(html.encode()) / 1e3:.0f} kB")
        out = ROOT / "docs" / "report-example.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={folder / 'profile'}",
                        "--hide-scrollbars", "--window-size=1200,1250", f"--screenshot={out}", page.as_uri()],
                       check=True, capture_output=True, cwd=folder)
        print(json.dumps({"screenshot": str(out.relative_to(ROOT))}))


if __name__ == "__main__":
    main()
