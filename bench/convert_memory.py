"""Peak memory and throughput of `critic convert` on a model with real 7B layer shapes.

    python bench/convert_memory.py [--layers 4] [--quant F16] [--to hf [--dtype float32]]

Builds a synthetic LLaVA with LLaMA-7B shapes (hidden 4096, ffn 11008, vocab 32000, 32
heads) but only a few LLM layers, a CLIP ViT-L/14-336 tower and a LoRA; converts it in a
child process; prints that process's peak RSS ÷ the model's bytes on disk (goal ≤ 0.25)
and MB/s converted. The conversion streams: a full 7B model has the same largest tensors,
so its ratio is lower still. ``--to hf`` measures the transformers-native export instead
(safetensors shards of at most 512 MiB, each held in memory while it is written).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from synthetic import spec_7b_width  # noqa: E402


def rss_parts(pid: int) -> tuple[int, int]:
    """(anonymous, file-backed) resident bytes of a process, 0 once it is gone."""
    try:
        fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    except (OSError, ValueError):
        return 0, 0
    kb = lambda key: int(fields.get(key, "0 kB").split()[0]) * 1024  # noqa: E731
    return kb("RssAnon"), kb("RssFile")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--quant", default="F16")
    parser.add_argument("--to", choices=("gguf", "hf"), default="gguf")
    parser.add_argument("--dtype", default="float32", help="with --to hf: the weights' type")
    parser.add_argument("--keep", type=Path, help="build into this folder and keep it")
    args = parser.parse_args()
    from critic.convert.tiny import build

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        src = root / "src"
        if not (src / "base" / "config.json").exists():
            print(f"building a 7B-shaped model with {args.layers} layers …", file=sys.stderr)
            build(src, spec_7b_width(args.layers))
        size = folder_bytes(src)
        kind = args.quant if args.to == "gguf" else f"hf-{args.dtype}"
        out = root / f"out-{kind}"
        code = (
            "from convert.pipeline import ConvertConfig, convert\n"
            f"convert(ConvertConfig(base={str(src / 'base')!r}, vision_tower={str(src / 'vision-tower')!r}, "
            f"lora={str(src / 'lora')!r}, out={str(out)!r}, quant={args.quant!r}, to={args.to!r}, dtype={args.dtype!r}, "
            "force=True), show_progress=False)\n"
            # VmHWM belongs to the process image after exec: the fork from this (large)
            # parent does not count, as it would in getrusage(RUSAGE_CHILDREN).
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
        )
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        anon = file_backed = 0
        while child.poll() is None:  # sample how the resident set splits between the two kinds
            a, f = rss_parts(child.pid)
            anon, file_backed = max(anon, a), max(file_backed, f)
            time.sleep(0.05)
        if child.returncode:
            raise SystemExit(f"conversion failed ({child.returncode})")
        seconds = time.perf_counter() - started
        peak = int(child.stdout.read().split()[-1]) * 1024
        print(f"model on disk      {size / 2**20:9.0f} MB ({args.layers} LLM layers at 7B shapes + CLIP-L + LoRA)")
        print(f"output ({kind:<6})    {folder_bytes(out) / 2**20:9.0f} MB")
        print(f"peak RSS           {peak / 2**20:9.0f} MB")
        print(f"peak RSS ÷ model   {peak / size:9.3f}   (goal ≤ 0.25)")
        print(f"  of which at most {anon / 2**20:6.0f} MB anonymous, {file_backed / 2**20:6.0f} MB file-backed "
              "(memory-mapped pages the kernel can drop)")
        print(f"throughput         {size / 2**20 / seconds:9.1f} MB/s  ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
