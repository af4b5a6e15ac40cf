"""Follow-up latency in `critic chat`: a second question about the same painting, against the first.

    python bench/chat_followup.py [--rounds 3] [--tokens 32] [--threads N] [--work DIR]

The synthetic model of bench/synthetic.py: CLIP ViT-L/14-336's tower (random weights: 24
layers, 1024 wide, 576 image tokens, so encoding a painting costs what it costs for
GalleryGPT) and an LLM at 7B layer width (hidden 4096, FFN 11008, `--layers` layers), so
prefill costs per layer what it costs in a 7B. Both sides are handed the main mmproj and
encode once (the exact layout's second encode would only lengthen critic's first answer).
Each round asks two questions about one painting in one conversation:

- critic: one `LlamaSession` (what `critic chat` runs). The first question encodes the
  painting; the follow-up evaluates only its own words after the cached prefix.
- stock: llama-cpp-python's `Llava15ChatHandler`, the same two turns as chat messages (image
  as a data URL); every call clears the cache and encodes the image again.

Time to first token (TTFT) is measured, for both, from the call to the moment the logits of
the first answer token are ready (the first call of critic's sampler, the first call of a
logits processor in the stock path), so it does not depend on when the random model's bytes
first make printable text. Rounds alternate critic and stock so a busy machine slows both
alike; medians are printed with the ratios. Goal: critic's follow-up TTFT ≤ 0.2 × its first.
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
from synthetic import QUESTION as FIRST  # noqa: E402
from synthetic import build_7b_width, marking_logits, model_files, painting  # noqa: E402

FOLLOW_UP = "Which part of the picture does the eye reach first?"


def run_critic(engine, image, tokens: int) -> tuple[float, float]:
    """(first TTFT, follow-up TTFT) in one critic session."""
    from critic.core.images import LoadedImage
    from critic.engine.base import Settings

    times = []
    with marking_logits(engine, []) as marks:  # the sampler takes logits once per token; the first is the TTFT
        session = engine.open_session(LoadedImage(Path("bench.png"), image, "", "PNG", image.size))
        for question in (FIRST, FOLLOW_UP):
            marks.clear()
            started = time.perf_counter()
            for _ in session.ask(question, Settings(max_tokens=tokens)):
                pass
            times.append(marks[0] - started)
        assert session.image_encodes == 1, "the follow-up encoded the painting again"
        session.close()
    return times[0], times[1]


def run_stock(llama, image, tokens: int) -> tuple[float, float]:
    """(first TTFT, follow-up TTFT) for the same two turns through Llava15ChatHandler."""
    messages = [image_turn(image, FIRST)]
    times = []
    for turn in range(2):
        marks: list[float] = []
        started = time.perf_counter()
        text = answer(llama, messages, tokens, marks)
        times.append(marks[0] - started)
        if turn == 0:
            messages += [{"role": "assistant", "content": text}, {"role": "user", "content": FOLLOW_UP}]
    return times[0], times[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32, help="tokens generated per answer")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    parser.add_argument("--work", type=Path, default=None, help="keep the synthetic model here and reuse it")
    parser.add_argument("--layers", type=int, default=2, help="LLM layers at 7B width")
    args = parser.parse_args(argv)

    from critic.engine.base import ModelInfo
    from critic.engine.cores import default_threads
    from critic.engine.llama import LlamaEngine, silence_llama_logs

    threads = default_threads(args.threads)[0]
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        llm, mmproj = model_files(build_7b_width(work, args.layers))
        silence_llama_logs()
        engine = LlamaEngine(llm, mmproj, ModelInfo("synthetic-clip-l", "F16"), n_ctx=4096, threads=threads)
        stock = open_stock(llm, mmproj, threads)
        image = painting()
        run_critic(engine, image, 2)  # warm both paths once: first-call allocations are not what we measure
        run_stock(stock, image, 2)
        critic_runs, stock_runs = [], []
        for round_ in range(args.rounds):
            for name, runs, run in (("critic", critic_runs, lambda: run_critic(engine, image, args.tokens)),
                                    ("stock", stock_runs, lambda: run_stock(stock, image, args.tokens))):
                first, follow = run()
                runs.append((first, follow))
                print(f"round {round_ + 1} {name:<6}  first {first:6.3f} s  follow-up {follow:6.3f} s  "
                      f"ratio {follow / first:.3f}", file=sys.stderr)
        engine.close()
        stock.close()

    def median(values):
        return statistics.median(values)

    # Ratios are taken within each round, then the median: a machine that slows down between
    # rounds moves both numbers of a round together.
    c1, c2 = median([r[0] for r in critic_runs]), median([r[1] for r in critic_runs])
    s1, s2 = median([r[0] for r in stock_runs]), median([r[1] for r in stock_runs])
    c_ratio = median([f / t for t, f in critic_runs])
    s_ratio = median([f / t for t, f in stock_runs])
    vs_stock = median([c[1] / s[1] for c, s in zip(critic_runs, stock_runs)])
    print(f"synthetic model: CLIP ViT-L/14-336 vision tower, LLM at 7B width ({args.layers} layers), F16, "
          f"{threads} thread(s), "
          f"{args.tokens} tokens per answer, medians of {args.rounds} alternated rounds")
    print(f"{'':<22}{'first TTFT':>12}{'follow-up TTFT':>16}{'follow-up / first':>19}")
    print(f"{'critic (LlamaSession)':<22}{c1:>11.3f}s{c2:>15.3f}s{c_ratio:>19.3f}")
    print(f"{'stock Llava15 handler':<22}{s1:>11.3f}s{s2:>15.3f}s{s_ratio:>19.3f}")
    print(f"critic follow-up ÷ stock follow-up: {vs_stock:.3f}")
    goal = c_ratio <= 0.2
    print(f"goal follow-up ≤ 0.2 × first: {'met' if goal else 'NOT met'} ({c_ratio:.3f})")
    return 0 if goal else 1


if __name__ == "__main__":
    raise SystemExit(main())
