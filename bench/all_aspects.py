"""Every perspective in one pass against one `critic analyze` per perspective.

    python bench/all_aspects.py [--tokens 32] [--layers 2] [--threads N] [--work DIR]

The synthetic model of bench/synthetic.py (CLIP-L/336 tower, LLM at 7B layer width, F16,
exact layout), installed in a scratch CRITIC_HOME. Wall-clock time of the commands a user
would type, each a fresh process, all with the same settings and `--max-tokens`:

- one pass: `critic analyze P.png --aspect all --format json` (the painting encoded once,
  each perspective asked after the shared prefix);
- separate, no cache: `critic analyze P.png --aspect KEY --format json --no-cache` for every
  perspective (model load, encodes and prefill each time);
- separate, with the prefix cache: the same with the cache on (first run computes, the
  others restore).

Prints the totals and one pass ÷ separate. Generation is the same work in all three, so
the ratio depends on `--tokens`; it is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import build_7b_width, painting  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    from critic.core.perspectives import PERSPECTIVES
    from critic.engine.cores import default_threads

    threads = default_threads(args.threads)[0]
    work = args.work or Path(tempfile.mkdtemp(prefix="critic-bench-"))
    folder = build_7b_width(work, args.layers)
    home = Path(tempfile.mkdtemp(prefix="critic-home-"))
    env = {**os.environ, "CRITIC_HOME": str(home)}
    critic = [sys.executable, "-m", "critic"]
    subprocess.run([*critic, "models", "add", str(folder)], env=env, check=True, capture_output=True)
    image = home / "painting.png"
    painting().save(image)
    common = [str(image), "--format", "json", "--max-tokens", str(args.tokens), "--threads", str(threads)]

    def timed(*extra: str) -> float:
        started = time.perf_counter()
        subprocess.run([*critic, "analyze", *common, *extra], env=env, check=True, capture_output=True)
        return time.perf_counter() - started

    one_pass = timed("--aspect", "all", "--no-cache")
    separate = sum(timed("--aspect", p.key, "--no-cache") for p in PERSPECTIVES)
    subprocess.run([*critic, "cache", "clear"], env=env, check=True, capture_output=True)
    cached = sum(timed("--aspect", p.key) for p in PERSPECTIVES)
    n = len(PERSPECTIVES)
    print(f"CLIP-L/336 + LLM at 7B width ({args.layers} layers), F16, exact layout, {threads} threads, "
          f"{n} perspectives, --max-tokens {args.tokens}")
    print(f"one pass (--aspect all): {one_pass:.1f} s")
    print(f"{n} separate runs, no cache: {separate:.1f} s   one pass ÷ separate: {one_pass / separate:.2f}")
    print(f"{n} separate runs, prefix cache: {cached:.1f} s   one pass ÷ separate: {one_pass / cached:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
