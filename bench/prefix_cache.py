"""The persistent prefix cache: a painting's second run against its first.

    python bench/prefix_cache.py [--rounds 3] [--layers 2] [--threads N] [--work DIR]

The synthetic model of bench/synthetic.py (CLIP-L/336 tower, LLM at 7B layer width, F16,
exact layout). Each measurement is a fresh process, as a second `critic analyze` of the
same painting is: load the model, ask the paper's question, time from the call to the
first token the sampler returns (preprocessing, image encodes, prefill — or the restore).

- first: the cache holds nothing for the painting (cleared before the run);
- second: the entry the first run wrote is restored.

Rounds alternate first and second. Prints medians, second ÷ first (goal ≤ 0.1), the entry's
size on disk, and that size scaled to a 32-layer 7B (the KV cache grows with the layers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import build_7b_width, first_question  # noqa: E402


def child(folder: Path, cache_dir: Path, threads: int) -> dict:
    """One run in this process."""
    from critic.engine.llama import LlamaEngine
    from critic.engine.prefix_cache import PrefixCache

    engine = LlamaEngine.from_folder(folder, n_ctx=2048, threads=threads, cache=PrefixCache(cache_dir))
    ttft, turn = first_question(engine, sha256="bench-painting")
    timings = turn.timings
    engine.close()
    return {"ttft": ttft, "restore": timings.prefix_restore, "encode": timings.image_encode}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=2, help="LLM layers at 7B width")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    from critic.engine.cores import default_threads
    from critic.engine.prefix_cache import PrefixCache

    threads = default_threads(args.threads)[0]
    if args.child:
        print(json.dumps(child(Path(args.child[0]), Path(args.child[1]), threads)))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="critic-bench-"))
    folder = build_7b_width(work, args.layers)
    cache_dir = work / "prefix-cache"
    cache_dir.mkdir(exist_ok=True)
    runs: dict[str, list[dict]] = {"first": [], "second": []}
    size = 0
    for _ in range(args.rounds):
        PrefixCache(cache_dir).clear()
        for name in runs:
            out = subprocess.run([sys.executable, __file__, "--threads", str(threads), "--child", str(folder),
                                  str(cache_dir)], capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
        size = PrefixCache(cache_dir).size()
    assert all(r["restore"] > 0 for r in runs["second"]) and all(r["restore"] == 0 for r in runs["first"])
    first = statistics.median(r["ttft"] for r in runs["first"])
    second = statistics.median(r["ttft"] for r in runs["second"])
    print(f"CLIP-L/336 + LLM at 7B width ({args.layers} layers), F16, exact layout, {threads} threads, "
          f"{args.rounds} rounds")
    print(f"first question, time to first token: first run {first:.2f} s, second run {second:.3f} s "
          f"(restore {statistics.median(r['restore'] for r in runs['second']):.3f} s); "
          f"second ÷ first {second / first:.3f} (goal ≤ 0.1)")
    print(f"entry on disk: {size / 1e6:.0f} MB for {args.layers} layers; at 32 layers "
          f"{size / args.layers * 32 / 1e6:.0f} MB per painting")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
