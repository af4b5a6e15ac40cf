"""critic's engine against bare llama-cpp-python (Llama + Llava15ChatHandler), side by side.

    python bench/engine_overhead.py [--rounds 3] [--tokens 64] [--big-hidden 1024]

Same GGUF files, image, question, token budget, threads and batch sizes through both,
alternated in one run, on the tiny model and on a synthetic model large enough that compute
dominates. Prints tokens/s ratio (critic ÷ stock; goal ≥ 0.97) and time-to-first-token
ratio (goal ≤ 1.05). Both decode greedily, and both are counted the same way: a mark each
time a token's logits are handed to the sampler (critic's `engine.logits`, the stock side's
logits processor). TTFT runs from the call to the first mark (image encode and prefill
inside both windows); tokens/s is (marks − 1) over the time from the first mark to the
last, so an early EOS on one side does not skew the ratio.

Both sides get the one main mmproj and encode the picture once, so they do the same work;
what the ``exact`` layout's second encode adds is measured by bench/exact_image_tokens.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stock import answer, image_turn, open_stock  # noqa: E402
from synthetic import QUESTION, build_model, marking_logits, model_files, painting  # noqa: E402


def spec(hidden: int, layers: int, vision: str):
    """critic.convert.tiny's model at `hidden` width (a head per 64 wide, four at least) with a `vision` preset tower."""
    from critic.convert.tiny import VISION_PRESETS, TinySpec

    return TinySpec(hidden=hidden, heads=max(4, hidden // 64), layers=layers, vision=VISION_PRESETS[vision])


def _rates(marks: list[float], started: float) -> tuple[float, float]:
    """(TTFT, tokens/s) from the logits-ready moments of one answer, counted the same on both sides."""
    ttft = marks[0] - started
    rate = (len(marks) - 1) / (marks[-1] - marks[0]) if len(marks) > 1 and marks[-1] > marks[0] else 0.0
    return ttft, rate


def run_critic(engine, image, tokens: int) -> tuple[float, float]:
    """critic's session; a mark each time the sampler takes a token's logits."""
    from critic.core.images import LoadedImage
    from critic.engine.base import Settings

    with marking_logits(engine, []) as marks:
        started = time.perf_counter()
        session = engine.open_session(LoadedImage(Path("bench.png"), image, "", "PNG", image.size))
        for _ in session.ask(QUESTION, Settings(max_tokens=tokens)):
            pass
        session.close()
    return _rates(marks, started)


def run_stock(llama, image, tokens: int) -> tuple[float, float]:
    """The stock handler; a mark each time its sampler takes a token's logits (a logits processor)."""
    marks: list[float] = []
    started = time.perf_counter()
    answer(llama, [image_turn(image, QUESTION)], tokens, marks)
    return _rates(marks, started)


def compare(label: str, llm: Path, mmproj: Path, image, tokens: int, rounds: int, threads: int) -> None:
    from critic.engine.base import ModelInfo
    from critic.engine.llama import LlamaEngine

    engine = LlamaEngine(llm, mmproj, ModelInfo(label), n_ctx=4096, threads=threads)
    stock = open_stock(llm, mmproj, threads)
    results = {"critic": [], "stock": []}
    run_critic(engine, image, 4)  # warm both
    run_stock(stock, image, 4)
    for _ in range(rounds):
        results["critic"].append(run_critic(engine, image, tokens))
        results["stock"].append(run_stock(stock, image, tokens))
    ttft = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
    tps = {k: statistics.median(r[1] for r in v) for k, v in results.items()}
    print(f"{label:<28} TTFT critic {ttft['critic'] * 1000:8.1f} ms  stock {ttft['stock'] * 1000:8.1f} ms  "
          f"ratio {ttft['critic'] / ttft['stock']:.3f} (goal ≤ 1.05)")
    print(f"{'':<28} tok/s critic {tps['critic']:8.1f}     stock {tps['stock']:8.1f}     "
          f"ratio {tps['critic'] / tps['stock']:.3f} (goal ≥ 0.97)")
    engine.close()
    stock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--big-hidden", type=int, default=1024)
    parser.add_argument("--big-layers", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tiny = model_files(build_model(Path(tmp) / "tiny", spec(64, 2, "tiny")))
        compare("tiny (hidden 64)", *tiny, painting(56, 56), args.tokens, args.rounds, args.threads)
        big = model_files(build_model(Path(tmp) / "big", spec(args.big_hidden, args.big_layers, "clip-l")))
        compare(f"synthetic (hidden {args.big_hidden}, CLIP-L)", *big, painting(336, 336), args.tokens, args.rounds,
                args.threads)


if __name__ == "__main__":
    main()
