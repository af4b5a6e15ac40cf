"""Decode speed when something else wants the CPU: threads, and how llama.cpp's threads wait.

    python bench/contention.py                         # the 7B-width 2-layer model of bench/synthetic.py
    python bench/contention.py --model-dir DIR --tokens 64 --rounds 3

llama-cpp-python's CPU backend is built with OpenMP: after each of the hundreds of operations of a
token its threads meet at a barrier, and a thread that arrives first spins there (libgomp's
default) before it sleeps. With as many threads as cores and one more busy process, the thread
that was descheduled holds every barrier for a scheduler time slice while the others spin on the
cores it needs. Each configuration runs in its own process (libgomp reads OMP_WAIT_POLICY when
it starts), with and without a busy process beside it, in interleaved rounds; the printed figure
is the median tok/s of greedy text-only decoding, and the ratios are against the quiet run of
the same configuration and against the default's busy run. critic keeps libgomp's default (see
README, Running on a GPU: Threads, for the figures and when to set OMP_WAIT_POLICY=PASSIVE).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import build_7b_deep  # noqa: E402


def child(folder: Path, threads: int, tokens: int) -> float:
    """Tokens per second of `tokens` greedy tokens after a short text prompt, in this process."""
    from critic.engine.base import Settings
    from critic.engine.llama import LlamaEngine

    engine = LlamaEngine.from_folder(folder, n_ctx=2048, threads=threads, gpu_layers=0)
    session = engine.open_session(None)
    for _ in session.ask("Describe a painting of the sea at night.", Settings(max_tokens=4)):
        pass  # warm-up: buffers sized, pages touched
    session.rewind()
    for _ in session.ask("Describe a painting of the sea at night.", Settings(max_tokens=tokens)):
        pass
    rate = session.turns[-1].timings.tokens_per_second
    engine.close()
    return rate


def hog() -> subprocess.Popen:
    """A process that keeps one core busy."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--work", type=Path, default=Path("bench-work"))
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(child(Path(args.child[0]), int(args.child[1]), int(args.child[2])))
        return 0
    folder = args.model_dir or build_7b_deep(args.work, 2, "Q4_K_M")
    cores = os.cpu_count() or 2
    spin = {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "300000"}  # libgomp's own default, said explicitly
    configs = {  # name: (threads, environment: a value set, "" removed)
        f"{cores} threads, libgomp's default (spin)": (cores, spin),
        f"{cores} threads, OMP_WAIT_POLICY=passive": (cores, {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": ""}),
        f"{cores} threads, GOMP_SPINCOUNT=10000": (cores, {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "10000"}),
        f"{max(1, cores - 1)} threads, libgomp's default": (max(1, cores - 1), spin),
    }
    rates: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.rounds):
        for name, (threads, extra) in configs.items():
            for loaded in (False, True):
                env = dict(os.environ)
                for key, value in extra.items():
                    if value:
                        env[key] = value
                    else:
                        env.pop(key, None)
                busy = hog() if loaded else None
                time.sleep(0.2)
                try:
                    done = subprocess.run([sys.executable, __file__, "--child", str(folder), str(threads),
                                           str(args.tokens)], env=env, capture_output=True, text=True)
                finally:
                    if busy:
                        busy.kill()
                        busy.wait()
                if done.returncode:
                    print(done.stderr[-2000:], file=sys.stderr)
                    return 1
                rates.setdefault((name, loaded), []).append(float(done.stdout.strip().splitlines()[-1]))
    result = {}
    default_loaded = statistics.median(rates[(f"{cores} threads, libgomp's default (spin)", True)])
    for name in configs:
        quiet = statistics.median(rates[(name, False)])
        loaded = statistics.median(rates[(name, True)])
        result[name] = {"quiet_tok_s": round(quiet, 2), "busy_tok_s": round(loaded, 2),
                        "busy_over_quiet": round(loaded / quiet, 3),
                        "busy_over_spin_busy": round(loaded / default_loaded, 3)}
        print(f"{name:45s} quiet {quiet:7.2f} tok/s   one busy process {loaded:7.2f} tok/s   "
              f"({loaded / quiet:.2f}× its quiet speed)")
    print(json.dumps({"cores": cores, "tokens": args.tokens, "rounds": args.rounds, "results": result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
