"""critic's engine against bare llama-cpp-python (Llama + Llava15ChatHandler), side by side.

    python bench/engine_overhead.py [--rounds 3] [--tokens 64] [--big-hidden 1024]

Same GGUF files, image, question and token budget through both, alternated in one run, on
the tiny model and on a synthetic model large enough that compute dominates. Prints
tokens/s ratio (critic ÷ stock; goal ≥ 0.97) and time-to-first-token ratio (goal ≤ 1.05).
Both decode greedily; each side's tokens/s is its own generated tokens over its own
generation time, so an early EOS on one side does not skew the ratio.

Both sides get the one main mmproj and encode the picture once, so they do the same work;
what the ``exact`` layout's second encode adds is measured by bench/exact_image_tokens.py.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUESTION = "Please compose a coherent paragraph of formal analysis focusing on visual characteristics."


def build_model(folder: Path, hidden: int, layers: int, vision: str) -> tuple[Path, Path]:
    from convert.pipeline import ConvertConfig, convert
    from convert.tiny import VISION_PRESETS, TinySpec, build
    from critic.manifest import Manifest

    build(folder / "src", TinySpec(hidden=hidden, heads=max(4, hidden // 64), layers=layers,
                                   vision=VISION_PRESETS[vision]))
    out = convert(ConvertConfig(base=str(folder / "src/base"), vision_tower=str(folder / "src/vision-tower"),
                                lora=str(folder / "src/lora"), out=str(folder / "gguf"), quant="F16"),
                  show_progress=False)
    return Manifest.read(out).file_paths(out)


def painting(size: int):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (40, 70, 150))
    ImageDraw.Draw(image).ellipse((size // 4, size // 4, size // 2, size // 2), fill=(240, 200, 90))
    return image


def run_critic(engine, image, tokens: int) -> tuple[float, float]:
    from critic.engine.base import Settings
    from critic.images import LoadedImage

    started = time.perf_counter()
    session = engine.open_session(LoadedImage(Path("bench.png"), image, "", "PNG", image.size))
    for _ in session.ask(QUESTION, Settings(max_tokens=tokens)):
        pass
    turn = session.turns[-1]
    session.close()
    ttft = turn.timings.first_token or (time.perf_counter() - started)
    return ttft, turn.timings.tokens_per_second


def run_stock(llama, image, tokens: int) -> tuple[float, float]:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                             {"type": "text", "text": QUESTION}]}]
    started = time.perf_counter()
    first = None
    count = 0
    for chunk in llama.create_chat_completion(messages=messages, max_tokens=tokens, temperature=0.0, stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            count += 1
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    first = first or end
    return first - started, (count - 1) / (end - first) if count > 1 and end > first else 0.0


def compare(label: str, llm: Path, mmproj: Path, image, tokens: int, rounds: int, threads: int) -> None:
    import llama_cpp
    from llama_cpp.llama_chat_format import Llava15ChatHandler

    from critic.engine.base import ModelInfo
    from critic.engine.llama import LlamaEngine

    engine = LlamaEngine(llm, mmproj, ModelInfo(label), n_ctx=4096, threads=threads)
    stock = llama_cpp.Llama(model_path=str(llm), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                            chat_handler=Llava15ChatHandler(clip_model_path=str(mmproj), verbose=False),
                            verbose=False)
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
        tiny = build_model(Path(tmp) / "tiny", 64, 2, "tiny")
        compare("tiny (hidden 64)", *tiny, painting(56), args.tokens, args.rounds, args.threads)
        big = build_model(Path(tmp) / "big", args.big_hidden, args.big_layers, "clip-l")
        compare(f"synthetic (hidden {args.big_hidden}, CLIP-L)", *big, painting(336), args.tokens, args.rounds,
                args.threads)


if __name__ == "__main__":
    main()
