"""Shared pieces of the annotate tests: a small paintings list, its images, and scripted answers."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from openai_script_server import last_user_text

CANARY = "sk-canary-7f3a9c1e55d04b2b8e6a"
"""A fake API key planted in the environment; nothing the run writes may contain it."""

PAINTINGS = [
    # id, title, artist, popularity
    ("p1", "The Starry Night", "Vincent van Gogh", 900),
    ("p2", "The Great Wave off Kanagawa", "Katsushika Hokusai", 800),
    ("p3", "Wheatfield with Crows", "Vincent van Gogh", 300),
    ("p4", "The Scream", "Edvard Munch", 700),
    ("p5", "Obscure Study No. 7", "Anna Nobody", 10),
    ("p6", "Fine Wind, Clear Morning", "Katsushika Hokusai", 200),
]
KNOWN_IDS = ["p1", "p2", "p3", "p4", "p6"]

PICKS = {
    "alpha": ["composition", "light", "color"],
    "beta": ["light", "texture", "composition"],
}
"""Each analyst's perspective picks: the intersection is composition and light."""


def make_images(folder: Path) -> None:
    """One small PNG per painting (the pipeline only checks that it exists)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, (ident, *_rest) in enumerate(PAINTINGS):
        Image.new("RGB", (8, 8), (30 * i, 80, 120)).save(folder / f"{ident}.png")


def write_paintings(path: Path, rows: list[tuple[str, str, str, float]] = PAINTINGS) -> Path:
    """The paintings list as CSV."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "artist", "image", "popularity"])
        for ident, title, artist, popularity in rows:
            writer.writerow([ident, title, artist, f"{ident}.png", popularity])
    return path


def write_providers(path: Path, url: str, timeout: float = 5.0, concurrency: int = 2,
                    key_env: str | None = "CRITIC_TEST_KEY") -> Path:
    """Two analysts on the scripted server; alpha also plays the knowledge filter."""
    key_line = f'api_key_env = "{key_env}"\n' if key_env else ""
    text = '[roles]\nknowledge = "alpha"\nanalysts = ["alpha", "beta"]\n'
    for name, price_in, price_out in (("alpha", 2.0, 8.0), ("beta", 1.0, 4.0)):
        text += (
            f'\n[[provider]]\nname = "{name}"\nbase_url = "{url}"\nmodel = "{name}-model"\n{key_line}'
            f"concurrency = {concurrency}\nprice_in = {price_in}\nprice_out = {price_out}\n"
            f'timeout = {timeout}\nresponse_format = "json_schema"\n'
        )
    path.write_text(text, encoding="utf-8")
    return path


def make_world(folder: Path, url: str) -> Path:
    """Paintings, images and a providers file pointing at the server at `url`."""
    make_images(folder / "images")
    write_paintings(folder / "paintings.csv")
    write_providers(folder / "providers.toml", url, timeout=10.0)
    return folder


def answer(body: dict[str, Any]) -> str:
    """The scripted server's default answers, by what the prompt asks."""
    prompt = last_user_text(body)
    analyst = body.get("model", "").split("-")[0]
    if prompt.startswith("Do you know"):
        return json.dumps({"known": "Obscure" not in prompt})
    if prompt.startswith("Which perspectives"):
        return json.dumps({"perspectives": PICKS.get(analyst, ["composition"])})
    aspect = re.search(r"analysis of the (.+?) of the painting", prompt)
    about = aspect.group(1) if aspect else "whole picture"
    return (f"Seen as a whole, the {about} rests on broad bands of ochre and deep blue, "
            "with firm contours and a steady rhythm. A strong diagonal leads the eye from the "
            "dark foreground toward a pale horizon, while thick, directional brushstrokes give "
            "the surface a lively texture and warm highlights set off the cooler shadows "
            f"({analyst}).")


def expected_analyses() -> int:
    """Analyses a clean run keeps: per known painting, 2 overall and 2 x 2 perspective ones."""
    return len(KNOWN_IDS) * (2 + 2 * 2)


def stored_answers(out: Path, columns: str = "status, model, messages") -> list[tuple]:
    """`columns` of every answer in the run folder `out`'s store, read while the run may still be writing."""
    db = out / "annotate.sqlite"
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(f"SELECT {columns} FROM answers").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()
