"""A detail against the whole painting: what differs (facts, the model's input, the answer) and what it costs.

    python bench/detail.py [PAINTING] [--region X,Y,W,H] [--model DIR | --7b-width] [--runs 3]
                           [--max-tokens 24] [--threads N] [--work DIR]

PAINTING defaults to ../shared/paintings/the_scream_munch_1893.jpg (1200×1528, the largest
sample) and --region to its screaming figure. The model is the tiny reference model (built
in --work), a converted folder given with --model, or, with --7b-width, bench/synthetic.py's
CLIP-L/336 tower with two LLM layers at 7B width (built in --work). No prefix cache: each
encode is timed as a first look at the picture.

Prints the facts of the whole and of the detail (and critic's sentence comparing them), what
the model is given for each (source pixels per model pixel, mean colour, how much fine
structure survives: the mean change between neighbouring input pixels), both answers at
temperature 0 (the tiny and synthetic models write random words: only what they were given
differs measurably), and the cost of a detail: cutting it from the file at full resolution,
measuring it, and one more image encode, the median of --runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import QUESTION, build_7b_width, build_model  # noqa: E402

SCREAM = ROOT.parent / "shared" / "paintings" / "the_scream_munch_1893.jpg"
FIGURE = "0.25,0.55,0.5,0.35"
"""The Scream's figure, hands to face, and the rail behind it."""


def _input_stats(picture) -> tuple[tuple[int, ...], float]:
    """Mean colour of a model input, and the mean absolute change between neighbouring pixels (0–255)."""
    import numpy as np

    pixels = np.asarray(picture, dtype=float)
    change = (np.abs(np.diff(pixels, axis=0)).mean() + np.abs(np.diff(pixels, axis=1)).mean()) / 2
    return tuple(int(v) for v in pixels.reshape(-1, 3).mean(0).round()), float(change)


def _facts_row(name: str, facts) -> str:
    top = facts.palette.families[0]
    return (f"| {name} | {facts.value.mean:.0f} | {facts.colour.temperature_balance:+.2f} "
            f"({facts.colour.temperature}) | {facts.colour.colourfulness:.0f} | {facts.value.contrast:.0f} | "
            f"{facts.composition.edge_density:.0%} | {facts.composition.lines.dominant} | "
            f"{top.family} {top.share:.0%} |")


def _answer(engine, image, max_tokens: int):
    """The answer at temperature 0, and its timings (no cache: the picture is encoded)."""
    from critic.engine.base import Settings

    session = engine.open_session(image)
    try:
        for _ in session.ask(QUESTION, Settings(max_tokens=max_tokens)):
            pass
        return session.turns[-1]
    finally:
        session.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("painting", nargs="?", type=Path, default=SCREAM)
    parser.add_argument("--region", default=FIGURE)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, help="a converted model folder")
    which.add_argument("--7b-width", dest="width_7b", action="store_true",
                       help="bench/synthetic.py's CLIP-L/336 + 2 LLM layers at 7B width")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()

    from critic.core.images import load_image
    from critic.core.regions import cut_detail, load_whole, parse_region
    from critic.engine.cores import default_threads
    from critic.engine.llama import LlamaEngine
    from critic.facts.detail import compare_to_whole
    from critic.facts.measure import measure

    work = args.work or Path(tempfile.mkdtemp(prefix="critic-bench-"))
    folder = args.model or (build_7b_width(work, 2) if args.width_7b else build_model(work / "tiny"))
    threads = default_threads(args.threads)[0]
    region = parse_region(args.region)

    whole = load_image(args.painting)
    cut, measured = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        detail = cut_detail(load_whole(args.painting), region)
        cut.append(time.perf_counter() - started)
        started = time.perf_counter()
        detail_facts = measure(detail.image.image)
        measured.append(time.perf_counter() - started)
    whole_facts = measure(whole.image)

    engine = LlamaEngine.from_folder(folder, n_ctx=2048, threads=threads)
    size = engine.image_size
    print(f"{args.painting.name} ({whole.original_size[0]}×{whole.original_size[1]}), {detail.label}; "
          f"model {engine.info.name} ({folder.name}), input {size}×{size}, {threads} threads, no prefix cache\n")
    print("| | mean L* | temperature | colourfulness M | contrast | edges | lines | largest family |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(_facts_row("whole", whole_facts))
    print(_facts_row("detail", detail_facts))
    print(f"\n{compare_to_whole(detail_facts, whole_facts)}\n")

    print(f"| model input | source px per input px ({size} px; at GalleryGPT's 336) | mean colour | "
          "neighbour change (0–255) |")
    print("| --- | --- | --- | --- |")
    for name, loaded in (("whole", load_whole(args.painting)), ("detail", detail.image)):
        colour, change = _input_stats(engine.model_input(loaded.image))
        side = max(loaded.original_size)
        print(f"| {name} | {side / size:.2f} ({side / 336:.2f}) | {colour} | {change:.1f} |")

    turns = {"whole": [], "detail": []}
    for _ in range(args.runs):
        turns["whole"].append(_answer(engine, whole, args.max_tokens))
        turns["detail"].append(_answer(engine, detail.image, args.max_tokens))
    print()
    for name, runs in turns.items():
        print(f"{name} answer (temperature 0, {args.max_tokens} tokens): {runs[0].answer[:160]!r}")
    print("\n| per picture, median of", args.runs, "| whole | detail |")
    print("| --- | --- | --- |")
    for label, field in (("image encode (preprocess, CLIP, LLM over the image positions), s", "image_encode"),
                         ("of which the vision encoder, s", "vision_encode"),
                         ("time to first token, s", "first_token")):
        values = [statistics.median(getattr(t.timings, field) for t in turns[name]) for name in turns]
        print(f"| {label} | {values[0]:.3f} | {values[1]:.3f} |")
    print(f"| cutting the detail from the file at full resolution, s | | {statistics.median(cut):.3f} |")
    print(f"| measuring the detail's facts, s | | {statistics.median(measured):.3f} |")
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
