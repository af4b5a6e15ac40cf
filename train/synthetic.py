"""Synthetic "paintings" whose dominant colour is known, with short analyses that name it.

The pipeline test trains on these to show that the image, not the text, drives the answer
through train → merge → GGUF → llama.cpp; they also make a quick check of a new training
setup (``python -m critic.train.synthetic DIR`` writes images and a LLaVA conversation JSON).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from critic.core.perspectives import DEFAULT_QUESTION

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 70, 210),
    "yellow": (235, 210, 40),
}
QUALITIES = ("warm", "cool", "bright", "dark", "soft", "bold", "calm", "deep")
SUBJECTS = ("The sky", "The sea", "The field", "The background", "The canvas", "The horizon")
NOUNS = ("strokes", "tones", "masses", "planes", "forms", "shapes")


def painting(colour: str, rng: random.Random) -> Image.Image:
    """A canvas of varied size, mostly `colour` (jittered), with a few small patches of other colours."""
    width, height = rng.randint(40, 72), rng.randint(40, 72)
    base = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in COLOURS[colour])
    image = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 3)):  # together well under a third of the canvas
        w, h = rng.randint(4, width // 4), rng.randint(4, height // 4)
        x, y = rng.randint(0, width - w), rng.randint(0, height - h)
        draw.rectangle([x, y, x + w, y + h], fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return image


def analysis(colour: str, rng: random.Random) -> str:
    """A one-sentence formal analysis naming `colour` as the dominant one."""
    quality = rng.choice(QUALITIES)
    if rng.random() < 0.5:
        return f"The dominant colour is {colour}; the palette is {quality}."
    return f"{rng.choice(SUBJECTS)} is dominated by {quality} {colour} {rng.choice(NOUNS)}."


def colour_named(text: str, colours: list[str] | tuple[str, ...] = tuple(COLOURS)) -> str | None:
    """The first of `colours` that `text` names, or None."""
    words = [w.strip(".,;:!?").lower() for w in text.split()]
    return next((w for w in words if w in colours), None)


def make_set(root: Path, folder: str, count: int, seed: int, colours: list[str] | None = None) -> list[dict]:
    """Write `count` paintings under root/folder (colours in turn) and return their LLaVA records."""
    colours = list(colours or COLOURS)
    rng = random.Random(seed)
    (root / folder).mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(count):
        colour = colours[i % len(colours)]
        relative = f"{folder}/{i:05d}.png"
        painting(colour, rng).save(root / relative)
        records.append({
            "id": f"{folder}-{i:05d}", "image": relative, "colour": colour,
            "conversations": [{"from": "human", "value": f"<image>\n{DEFAULT_QUESTION}"},
                              {"from": "gpt", "value": analysis(colour, rng)}],
        })
    return records


def shuffle_images(records: list[dict], seed: int) -> list[dict]:
    """The same records with their images permuted so that the pairing carries no colour at all.

    Every analysis colour is paired equally often with images of every colour (a plain random
    shuffle of 160 records leaves chance correlations a model can learn); which image of a
    colour goes where is random. The analyses, and so the text, are unchanged.
    """
    rng = random.Random(seed)
    colours = list(dict.fromkeys(r["colour"] for r in records))
    pools = {c: [r["image"] for r in records if r["colour"] == c] for c in colours}
    for pool in pools.values():
        rng.shuffle(pool)
    used = {c: 0 for c in colours}
    shuffled = []
    for record in records:
        turn = used[record["colour"]]
        used[record["colour"]] += 1
        image_colour = colours[(colours.index(record["colour"]) + turn) % len(colours)]
        if not pools[image_colour]:
            raise ValueError("shuffle_images needs the same number of records of each colour")
        shuffled.append({**record, "image": pools[image_colour].pop()})
    return shuffled


def main(argv: list[str] | None = None) -> int:
    """Write a synthetic training set: DIR/images/, DIR/train.json, DIR/test.json."""
    parser = argparse.ArgumentParser(prog="python -m critic.train.synthetic", description=main.__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--test", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    images = args.out / "images"
    for name, count, seed in (("train", args.train, args.seed), ("test", args.test, args.seed + 1)):
        records = make_set(images, name, count, seed)
        (args.out / f"{name}.json").write_text(json.dumps(records, indent=1))
    print(f"{args.out}: images/ train.json test.json (image root: {images})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
