"""Throughput against a server with --parallel 8 and --parallel 1, side by side in one run.

    python bench/server_parallel.py [--items 32] [--latency 1.0] [--parallel 8] [--rounds 1]

The server is the scripted OpenAI-compatible one of the tests (tests/openai_script_server.py)
answering every request after a fixed latency, as a remote GPU server would: its time per
answer does not change with the requests in flight (a server with continuous batching is
close to that until it saturates). It runs in a child process, as a server would run
elsewhere, so it takes no time from the client's interpreter. The client side is all real: each command is
`critic eval generate --server URL --parallel N` and `critic analyze DIR --server URL
--parallel N --out FILE`, run in this process from its first line to its summary (engine
set-up, model listing, image loading, padding and PNG encoding, the analyse command's
measured facts, records written and fsynced). Both sides ask the same paintings of the
same server, into fresh output files; the only difference is --parallel.

The paintings are crops of the sample paintings in ../shared/paintings (synthetic pictures
when that folder is absent), written to a temporary folder. Prints paintings per second for
each N and the ratio (goal: N = 8 at least 6 × N = 1).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "paintings"


def make_paintings(folder: Path, n: int) -> list[Path]:
    """`n` different pictures: crops of the sample paintings, or synthetic ones."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(SHARED.glob("*.jpg")) if SHARED.is_dir() else []
    paths = []
    for i in range(n):
        if sources:
            image = Image.open(sources[i % len(sources)]).convert("RGB")
            w, h = image.size
            k = i // len(sources)
            image = image.crop((k * w // 40, k * h // 40, w - k * w // 60, h - k * h // 60))
        else:
            image = Image.new("RGB", (1200, 900), (30 + 5 * i % 200, 60, 140))
            ImageDraw.Draw(image).ellipse((100 + i, 40, 900, 800), fill=(230, 200, 120))
        path = folder / f"painting_{i:03d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def serve(latency: float) -> int:
    """The child: a scripted server answering after `latency`; its URL on stdout, its counts when stdin closes."""
    from openai_script_server import ScriptServer

    reply = ("The composition sets a strong diagonal against a calm horizon; warm and cool colours "
             "answer each other across the canvas, and short visible strokes give the surface texture.")
    with ScriptServer(lambda body: reply) as server:
        server.delay = latency
        print(server.url, flush=True)
        sys.stdin.read()
        print(json.dumps({"requests": len(server.log), "max_in_flight": max(server.max_in_flight.values(),
                                                                            default=0)}), flush=True)
    return 0


def timed(argv: list[str]) -> float:
    """Seconds one critic command takes in this process (its output swallowed)."""
    from critic.cli import main

    sink = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = main(argv)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"`critic {' '.join(argv)}` failed ({code}):\n{sink.getvalue()[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=32, help="paintings per run (default 32)")
    parser.add_argument("--latency", type=float, default=1.0, help="server seconds per answer (default 1.0)")
    parser.add_argument("--parallel", type=int, default=8, help="the N compared with 1 (default 8)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each side, alternated (default 1)")
    parser.add_argument("--serve", type=float, metavar="LATENCY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve)

    child = subprocess.Popen([sys.executable, __file__, "--serve", str(args.latency)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    url = child.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = make_paintings(work / "paintings", args.items)
        data = work / "test.json"
        data.write_text(json.dumps([{"image": p.name, "references": ["A painting."]} for p in paths]))
        commands = {
            "eval generate": lambda n, out: ["eval", "generate", "--data", str(data), "--images", str(work / "paintings"),
                                             "--server", url,
                                             "--parallel", str(n), "--out", str(out), "--max-tokens", "64",
                                             "--no-progress"],
            "analyze": lambda n, out: ["analyze", str(work / "paintings"), "--server", url,
                                       "--parallel", str(n), "--out", str(out), "--max-tokens", "64",
                                       "--no-facts"],
        }
        print(f"{args.items} paintings, server latency {args.latency:.2f} s per answer, "
              f"{args.rounds} round(s); paintings per second:")
        print(f"{'command':<15}{'N = 1':>10}{f'N = {args.parallel}':>10}{'ratio':>9}")
        for name, command in commands.items():
            seconds: dict[int, list[float]] = {1: [], args.parallel: []}
            for round_ in range(args.rounds):
                for n in (1, args.parallel):
                    out = work / f"{name.replace(' ', '-')}-{n}-{round_}.jsonl"
                    seconds[n].append(timed(command(n, out)))
            rate = {n: args.items / min(values) for n, values in seconds.items()}
            client = min(seconds[1]) / args.items - args.latency
            print(f"{name:<15}{rate[1]:>10.2f}{rate[args.parallel]:>10.2f}"
                  f"{rate[args.parallel] / rate[1]:>8.2f}×   (client's own time per painting at N = 1: "
                  f"{client:.3f} s)")
    child.stdin.close()
    counts = json.loads(child.stdout.readline())
    child.wait()
    print(f"(max requests in flight seen by the server: {counts['max_in_flight']}; "
          f"requests: {counts['requests']}, expected {2 * 2 * args.rounds * args.items})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
