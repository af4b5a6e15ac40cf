"""What exact image tokens cost: the ``exact`` layout (two encodes) against one encode.

    python bench/exact_image_tokens.py [--rounds 3] [--layers 2] [--threads N] [--work DIR]

A synthetic model with CLIP ViT-L/14-336's tower (random weights: 24 layers, 1024 wide, 576
image tokens) and an LLM at 7B layer width (hidden 4096, FFN 11008, 32 heads, vocabulary
32000; `--layers` of them), converted once to F16 with the default ``exact`` layout.

Both sides load the same LLM file and the same main mmproj, ask the same question about
the same painting with the same threads and settings, in a fresh process each (so each
peak RSS is its own):

- exact: the main mmproj and the patch-0 mmproj; the painting is encoded twice and the
  576 rows assembled (critic's default; every image token equals transformers');
- single: the main mmproj alone, one encode (patch 0 lost, the class token last).

Measured per process: time to first token of the first question (from the call to the
first token the sampler returns: preprocessing, image encode(s), prefill), the image-encode
part of it, RSS after loading and peak RSS (VmHWM). Rounds alternate exact and single so a
busy machine slows both alike; medians and exact ÷ single ratios are printed.
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


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def child(folder: Path, mode: str, threads: int) -> dict:
    """One measurement in this process."""
    from critic.core.manifest import Manifest
    from critic.engine.base import ModelInfo
    from critic.engine.llama import LlamaEngine

    manifest = Manifest.read(folder)
    patch0 = manifest.patch0_path(folder) if mode == "exact" else None
    engine = LlamaEngine(*manifest.file_paths(folder), ModelInfo(mode), n_ctx=2048, threads=threads, patch0=patch0)
    rss_load = _status("VmRSS")
    ttft, turn = first_question(engine)
    result = {"ttft": ttft, "image_encode": turn.timings.image_encode, "rss_load": rss_load,
              "peak_rss": _status("VmHWM")}
    engine.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=2, help="LLM layers at 7B width")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (default: physical cores)")
    parser.add_argument("--work", type=Path, help="keep the built model here between runs")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    from critic.engine.cores import default_threads

    threads = default_threads(args.threads)[0]
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], threads)))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="critic-bench-"))
    folder = build_7b_width(work, args.layers)
    runs: dict[str, list[dict]] = {"exact": [], "single": []}
    for _ in range(args.rounds):
        for mode in runs:
            out = subprocess.run([sys.executable, __file__, "--threads", str(threads), "--child", str(folder), mode],
                                 capture_output=True, text=True, check=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
    print(f"CLIP-L/336 + LLM at 7B width ({args.layers} layers), F16, {threads} threads, {args.rounds} rounds")
    print(f"{'measure':<34}{'exact':>12}{'single':>12}{'exact ÷ single':>16}")
    for key, unit, scale in (("ttft", "s", 1), ("image_encode", "s", 1), ("rss_load", "MB", 1e-6),
                             ("peak_rss", "MB", 1e-6)):
        exact = statistics.median(r[key] for r in runs["exact"]) * scale
        single = statistics.median(r[key] for r in runs["single"]) * scale
        print(f"{key + ' (' + unit + ')':<34}{exact:>12.2f}{single:>12.2f}{exact / single:>16.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
