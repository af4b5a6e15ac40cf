"""An example painting critic draws itself, so a fresh install has something to analyse.

A small seascape at dusk: a warm graded sky, a low sun, a dark sea with light on the
water and a diagonal headland, made with Pillow in a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from critic.core.paths import data_dir


def draw_example(width: int = 960, height: int = 640) -> Image.Image:
    """The example seascape."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = int(height * 0.62)
    for y in range(horizon):  # sky: deep violet at the top to orange at the horizon
        t = y / horizon
        draw.line((0, y, width, y), fill=(int(70 + 180 * t), int(40 + 110 * t), int(110 - 60 * t)))
    for y in range(horizon, height):  # sea: dark blue-green, darker toward the viewer
        t = (y - horizon) / (height - horizon)
        draw.line((0, y, width, y), fill=(int(30 - 15 * t), int(60 - 30 * t), int(90 - 40 * t)))
    sun = (int(width * 0.68), int(horizon - height * 0.08))
    radius = int(height * 0.07)
    draw.ellipse((sun[0] - radius, sun[1] - radius, sun[0] + radius, sun[1] + radius), fill=(255, 214, 120))
    for i in range(14):  # broken reflections on the water
        y = horizon + 8 + i * 14
        half = int(radius * (1.4 - i * 0.07))
        draw.line((sun[0] - half, y, sun[0] + half, y), fill=(240, 170, 90), width=3)
    draw.polygon([(0, int(height * 0.45)), (int(width * 0.38), horizon + 30), (0, height)], fill=(28, 22, 26))
    return image.filter(ImageFilter.GaussianBlur(0.8))


def example_path() -> Path:
    """Write the example painting into the data directory (once) and return its path."""
    path = data_dir() / "example" / "seascape.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_example().save(path)
    return path
