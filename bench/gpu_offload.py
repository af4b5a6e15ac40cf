"""GPU offload against the CPU: time to the first token, by part, and decode speed, on a 7B-shaped model.

    python bench/gpu_offload.py                        # builds the 7B-shaped Q4_K_M model under --work once
    python bench/gpu_offload.py --model-dir DIR        # any critic model folder (critic.json)
    python bench/gpu_offload.py --gpu-layers 0 auto 16 # the placements to compare (first one is the baseline)

Each placement runs in its own process through critic's engine (`LlamaEngine.from_folder`, prefix
cache off): load, then the paper's question about two different pictures, 64 greedy tokens each.
The first picture pays one-time costs (kernels loaded, buffers sized), so the second is the one
compared; both are printed. Parts of the time to the first token: the two CLIP encodes of the
exact layout, the LLM over the 576 image positions, the text prefill. Both sides count the same
tokens from the same points. On a CPU-only build every placement runs on the CPU, and the
ratios say so (≈ 1).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import QUESTION, build_7b_deep, painting  # noqa: E402

TOKENS = 64


def child(folder: Path, gpu_layers: str, threads: int | None, tokens: int) -> dict:
    """One placement, measured in this process; returns its figures."""
    from critic.core.images import LoadedImage
    from critic.engine.base import Settings
    from critic.engine.llama import LlamaEngine
    from critic.engine.offload import parse_gpu_layers

    started = time.perf_counter()
    engine = LlamaEngine.from_folder(folder, gpu_layers=parse_gpu_layers(gpu_layers), threads=threads)
    load = time.perf_counter() - started
    runs = []
    for i, size in enumerate(((600, 450), (480, 640))):
        picture = painting(*size)
        session = engine.open_session(LoadedImage(Path(f"bench{i}.png"), picture, "", "PNG", picture.size))
        text = "".join(session.ask(QUESTION, Settings(max_tokens=tokens)))
        t = session.turns[-1].timings
        runs.append({"first_token_s": round(t.first_token, 4), "vision_encode_s": round(t.vision_encode, 4),
                     "image_positions_s": round(t.image_encode - t.vision_encode, 4),
                     "text_prefill_s": round(t.prefill, 4), "prompt_tokens": t.prompt_tokens,
                     "generated": t.generated_tokens, "tokens_per_s": round(t.tokens_per_second, 3),
                     "chars": len(text)})
        session.close()
    result = {"gpu_layers_asked": gpu_layers, "runtime": engine.runtime, "reason": engine.placement.reason,
              "notices": engine.take_notices(), "load_s": round(load, 3), "cold": runs[0], "warm": runs[1]}
    engine.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a critic model folder (default: build the 7B-shaped one)")
    parser.add_argument("--work", type=Path, default=Path("bench-work"), help="where the built model is kept")
    parser.add_argument("--layers", type=int, default=32, help="decoder layers of the built model (32: LLaMA-7B)")
    parser.add_argument("--quant", default="Q4_K_M", help="quantization of the built model's LLM")
    parser.add_argument("--gpu-layers", nargs="+", default=["0", "auto"], help="placements; the first is the baseline")
    parser.add_argument("--threads", type=int, help="CPU threads (default: critic's own choice)")
    parser.add_argument("--tokens", type=int, default=TOKENS, help=f"greedy tokens per answer (default {TOKENS})")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "LAYERS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], args.threads, args.tokens)))
        return 0
    folder = args.model_dir or build_7b_deep(args.work, args.layers, args.quant)
    results = []
    for layers in args.gpu_layers:
        command = [sys.executable, __file__, "--child", str(folder), layers, "--tokens", str(args.tokens)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"--gpu-layers {layers}: exit {done.returncode}\n{done.stderr[-3000:]}", file=sys.stderr)
            results.append({"gpu_layers_asked": layers, "failed": done.returncode, "stderr": done.stderr[-3000:]})
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]))
    ok = [r for r in results if "warm" in r]
    if len(ok) >= 2:
        base = ok[0]["warm"]
        for other in ok[1:]:
            warm = other["warm"]
            print(f"--gpu-layers {other['gpu_layers_asked']} ({other['runtime']['gpu_layers']} of "
                  f"{other['runtime']['layers']} layers on {other['runtime']['device']}) ÷ "
                  f"--gpu-layers {ok[0]['gpu_layers_asked']}: first token "
                  f"{warm['first_token_s'] / base['first_token_s']:.3f}× "
                  f"({warm['first_token_s']:.2f} s vs {base['first_token_s']:.2f} s; CLIP "
                  f"{warm['vision_encode_s']:.2f} vs {base['vision_encode_s']:.2f}, image positions "
                  f"{warm['image_positions_s']:.2f} vs {base['image_positions_s']:.2f}, text "
                  f"{warm['text_prefill_s']:.2f} vs {base['text_prefill_s']:.2f}); decode "
                  f"{warm['tokens_per_s'] / max(base['tokens_per_s'], 1e-9):.2f}× "
                  f"({warm['tokens_per_s']:.1f} vs {base['tokens_per_s']:.1f} tok/s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if len(ok) == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
