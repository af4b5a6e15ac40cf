"""GalleryGPT at its real size on this machine: conversion, the first answer by part, decode against the
memory bandwidth, memory against the files, the cache, chat, and the stock handler — in one run.

    python bench/real_size.py                       # builds the release-layout 7B once (bench/release_7b.py)
    python bench/real_size.py --old-route           # also the F16-file-then-quantize conversion, for the ratio
    python bench/real_size.py --aspects             # also --aspect all against nine separate runs (long)
    python bench/real_size.py --tokens 64 --json real_size.json

Every measurement runs in its own process, one after another, the build included (so this one
never holds a shard): peak RSS is the child's own high-water mark (VmHWM, read by the child as it
ends; `os.wait4`'s figure where there is none). Analysis also runs with ``--kv-cache q8_0``. Conversion: wall time, peak RSS, the disk the work folder took
at its fullest (sampled every 0.2 s), and input bytes per second. Analysis (Q4_K_M, exact
layout, critic's default threads, prefix cache off unless said): the first question's time to
the first token split into the two CLIP encodes, the LLM over the 576 image positions and the
text prefill; decode tokens/s against the bound the memory bandwidth sets (the LLM file read
once a token, at the bandwidth measured here with the same number of threads); peak RSS
against files + KV cache. Both sides of every ratio count the same tokens from the same points.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import QUESTION, painting  # noqa: E402

GB = 1e9
FOLLOW_UP = "Where is the light coming from?"


def run_child(args: list[str], env: dict | None = None, watch: Path | None = None) -> dict:
    """Run this script with `args` in a child; its JSON line, with wall seconds, peak RSS and (when
    `watch` is given) the most disk that folder took while it ran."""
    peak_disk = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            try:
                peak_disk[0] = max(peak_disk[0], sum(p.stat().st_size for p in watch.rglob("*") if p.is_file()))
            except OSError:
                pass

    sampler = threading.Thread(target=sample, daemon=True) if watch else None
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    if sampler:
        sampler.start()
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    stop.set()
    if status:
        raise SystemExit(f"child {args} failed (status {status})")
    result = json.loads(out.strip().splitlines()[-1])
    # ru_maxrss of a child is never below its parent's high-water mark when it was started (Linux keeps
    # the larger across fork and exec), so a parent that once held a model would inflate every figure:
    # the child's own VmHWM (its address space alone, since its exec) is the figure, where there is one
    peak = result.pop("vm_hwm_bytes", None) or usage.ru_maxrss * 1024
    result.update(wall_s=round(time.perf_counter() - started, 2), peak_rss_gb=round(peak / GB, 3),
                  cpu_s=round(usage.ru_utime + usage.ru_stime, 1))
    if watch:
        result["peak_disk_gb"] = round(peak_disk[0] / GB, 3)
    return result


def own_peak_rss() -> int | None:
    """This process's peak resident set since its exec (VmHWM), in bytes; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# -- children ------------------------------------------------------------------------------------

def child_convert(src: Path, out: Path, route: str) -> dict:
    from critic.convert.pipeline import ConvertConfig, convert
    from critic.convert.quantize import quantize
    from critic.core.manifest import Manifest

    config = ConvertConfig(base=str(src / "base"), vision_tower=str(src / "vision-tower"), lora=str(src / "lora"),
                           out=str(out), quant="Q4_K_M" if route == "stream" else "F16", name="real-size")
    convert(config, show_progress=False)
    if route == "old":  # what critic did before: the F16 file, then llama.cpp's quantizer over it
        manifest = Manifest.read(out)
        f16 = out / manifest.llm.path
        quantize(f16, out / "llm.Q4_K_M.gguf", "Q4_K_M")
        f16.unlink()
    read = sum(p.stat().st_size for p in src.rglob("*") if p.is_file() and "checkpoint-" not in str(p))
    return {"input_gb": round(read / GB, 3)}


def child_analyze(folder: Path, tokens: int, mode: str) -> dict:
    """One first question (and a follow-up) through critic's engine in this process."""
    from critic.core.images import LoadedImage
    from critic.engine.base import Settings
    from critic.engine.llama import LlamaEngine
    from critic.engine.prefix_cache import PrefixCache

    cache = PrefixCache(Path(os.environ["BENCH_CACHE"])) if "cache" in mode else None
    kv_cache = "q8_0" if mode.endswith("+q8") else "f16"  # --kv-cache q8_0
    # critic's default reads the weights into memory and repacks them there (one copy); "repack" is
    # llama.cpp's own default (a repacked copy beside the mapped file); "mapped" uses the mapped file as it is
    if mode == "one-encode":  # the main (rotated) mmproj alone: one CLIP pass
        from critic.core.manifest import Manifest
        from critic.engine.base import ModelInfo

        llm, mmproj = Manifest.read(folder).file_paths(folder)
        engine = LlamaEngine(llm, mmproj, ModelInfo("real-size"))
    else:
        engine = LlamaEngine.from_folder(folder, use_mmap=mode in ("repack", "mapped"), repack=mode != "mapped",
                                         cache=cache, kv_cache=kv_cache)
    picture = painting()
    session = engine.open_session(LoadedImage(Path("bench.png"), picture, "real-size-bench" if "cache" in mode else "",
                                              "PNG", picture.size))
    # cache-other: another first question about the painting seen before (its entry keeps QUESTION)
    for _ in session.ask(FOLLOW_UP if mode.startswith("cache-other") else QUESTION, Settings(max_tokens=tokens)):
        pass
    first = session.turns[-1].timings
    result = {"mode": mode, "runtime": engine.runtime, "load_s": round(engine.load_seconds, 2),
              "first_token_s": round(first.first_token, 3), "vision_encode_s": round(first.vision_encode, 3),
              "image_positions_s": round(first.image_encode - first.vision_encode, 3),
              "text_prefill_s": round(first.prefill, 3), "prefix_restore_s": round(first.prefix_restore, 3),
              "prompt_tokens": first.prompt_tokens, "generated": first.generated_tokens,
              "tokens_per_s": round(first.tokens_per_second, 3)}
    if mode == "exact":
        for _ in session.ask(FOLLOW_UP, Settings(max_tokens=tokens)):
            pass
        result["follow_up_first_token_s"] = round(session.turns[-1].timings.first_token, 3)
    if "cache" in mode:
        result["cache_entry_gb"] = round(sum(p.stat().st_size for p in Path(os.environ["BENCH_CACHE"]).rglob("*")
                                              if p.is_file()) / GB, 3)
    engine.close()
    return result


def child_stock(folder: Path, tokens: int) -> dict:
    """The stock Llava15ChatHandler on the same files (one encode, its own prompt and preprocessing)."""
    from engine_overhead import run_stock
    from stock import open_stock

    from critic.core.manifest import Manifest
    from critic.engine.cores import default_threads

    llm, mmproj = Manifest.read(folder).file_paths(folder)
    llama = open_stock(llm, mmproj, default_threads()[0])
    first_token, rate = run_stock(llama, painting(), tokens)
    return {"mode": "stock", "first_token_s": round(first_token, 3), "tokens_per_s": round(rate, 3)}


def child_critic_marks(folder: Path, tokens: int) -> dict:
    """critic's engine with one encode, timed as the stock side is (the sampler's logits marks)."""
    from engine_overhead import run_critic

    from critic.core.manifest import Manifest
    from critic.engine.base import ModelInfo
    from critic.engine.llama import LlamaEngine

    llm, mmproj = Manifest.read(folder).file_paths(folder)
    engine = LlamaEngine(llm, mmproj, ModelInfo("real-size"))
    first_token, rate = run_critic(engine, painting(), tokens)
    return {"mode": "critic-marks", "first_token_s": round(first_token, 3), "tokens_per_s": round(rate, 3)}


def child_bandwidth(threads: int, size: int = 2 << 30) -> dict:
    """Bytes per second `threads` threads read from memory (numpy sums, which let go of the GIL)."""
    import numpy as np

    data = np.ones(size // 8, dtype=np.float64)
    parts = np.array_split(data, threads)
    best = 0.0
    for _ in range(5):
        threads_ = [threading.Thread(target=np.sum, args=(part,)) for part in parts]
        started = time.perf_counter()
        for t in threads_:
            t.start()
        for t in threads_:
            t.join()
        best = max(best, data.nbytes / (time.perf_counter() - started))
    return {"threads": threads, "read_gb_s": round(best / GB, 2)}


def child_aspects(folder: Path, tokens: int, separate: bool) -> dict:
    from critic.cli import main as critic_main

    from critic.core.perspectives import PERSPECTIVES

    image = Path(os.environ["BENCH_IMAGE"])
    started = time.perf_counter()
    if separate:
        for perspective in PERSPECTIVES:
            critic_main(["analyze", str(image), "--aspect", perspective.key, "--max-tokens", str(tokens), "--no-cache",
                         "--no-facts", "--format", "json"])
    else:
        critic_main(["analyze", str(image), "--aspect", "all", "--max-tokens", str(tokens), "--no-cache",
                     "--no-facts", "--format", "json"])
    return {"mode": "nine" if separate else "all", "seconds": round(time.perf_counter() - started, 2)}


CHILDREN = {"convert": child_convert, "analyze": child_analyze, "stock": child_stock,
            "critic-marks": child_critic_marks, "bandwidth": child_bandwidth, "aspects": child_aspects}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-work"))
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--old-route", action="store_true", help="also convert through the F16 file, for the ratio")
    parser.add_argument("--aspects", action="store_true", help="also --aspect all against nine runs")
    parser.add_argument("--only-aspects", action="store_true", help="only --aspect all against nine runs")
    parser.add_argument("--no-convert", action="store_true", help="measure the model converted by an earlier run")
    parser.add_argument("--memory-rounds", type=int, default=0,
                        help="only the weights' memory: read in and repacked (critic's default), mapped + "
                             "repacked (llama.cpp's default), mapped as it is; interleaved this many rounds (the "
                             "model must be converted already)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "convert":
            result = child_convert(Path(rest[0]), Path(rest[1]), rest[2])
        elif kind == "analyze":
            result = child_analyze(Path(rest[0]), int(rest[1]), rest[2])
        elif kind == "bandwidth":
            result = child_bandwidth(int(rest[0]))
        elif kind == "aspects":
            result = child_aspects(Path(rest[0]), int(rest[1]), rest[2] == "nine")
        elif kind == "build":
            from release_7b import build

            result = {"built": str(build(Path(rest[0])))}
        else:
            result = CHILDREN[kind](Path(rest[0]), int(rest[1]))
        print(json.dumps({**result, "vm_hwm_bytes": own_peak_rss()}))
        return 0

    from critic.core.manifest import Manifest
    from critic.engine.cores import default_threads

    work = args.work.resolve()
    if args.memory_rounds:
        return memory_rounds(work / "gguf-q4", args.tokens, args.memory_rounds)
    if args.only_aspects:
        report = {"bandwidth": run_child(["--child", "bandwidth", str(default_threads()[0])])}
        aspects(work, work / "gguf-q4", report)
        print(json.dumps(report))
        return 0
    # built in a child, so that this process never holds a shard (see run_child)
    src = Path(run_child(["--child", "build", str(work / "release-7b")])["built"])
    report: dict = {"machine": f"{os.cpu_count()} CPUs", "threads": default_threads()}
    folder = work / "gguf-q4"
    routes = () if args.no_convert else (("stream", folder), *((("old", work / "gguf-old"),) if args.old_route else ()))
    for route, out in routes:
        if out.exists():
            import shutil

            shutil.rmtree(out)
        watch = work / f"convert-{route}"
        watch.mkdir(exist_ok=True)
        target = watch / out.name
        report[f"convert_{route}"] = run_child(["--child", "convert", str(src), str(target), route], watch=watch)
        target.rename(out)
        watch.rmdir()
        print(f"convert ({route}): {json.dumps(report[f'convert_{route}'])}", flush=True)
    manifest = Manifest.read(folder)
    files = sum((folder / f.path).stat().st_size for f in manifest.files)
    llm_bytes = (folder / manifest.llm.path).stat().st_size
    kv = 2 * 2 * 4096 * 32 * 4096  # F16 K and V, 4096 wide, 32 layers, the default 4096-token context
    report["files_gb"], report["llm_gb"], report["kv_gb"] = round(files / GB, 3), round(llm_bytes / GB, 3), kv / GB
    report["bandwidth"] = run_child(["--child", "bandwidth", str(default_threads()[0])])
    for mode in ("exact", "repack", "one-encode"):
        report[mode] = run_child(["--child", "analyze", str(folder), str(args.tokens), mode])
        print(f"{mode}: {json.dumps(report[mode])}", flush=True)
    cache = work / "bench-cache"
    for folder_ in (cache, cache.with_name(cache.name + "-q8")):
        if folder_.exists():
            import shutil

            shutil.rmtree(folder_)
    for mode in ("cache-store", "cache-restore", "cache-other", "exact+q8", "cache-store+q8", "cache-restore+q8"):
        store = cache.with_name(cache.name + ("-q8" if mode.endswith("+q8") else ""))
        report[mode] = run_child(["--child", "analyze", str(folder), str(args.tokens), mode],
                                 env={"BENCH_CACHE": str(store)})
        print(f"{mode}: {json.dumps(report[mode])}", flush=True)
    for kind in ("critic-marks", "stock"):
        report[kind] = run_child(["--child", kind, str(folder), str(args.tokens)])
        print(f"{kind}: {json.dumps(report[kind])}", flush=True)
    if args.aspects:
        aspects(work, folder, report)
    summarize(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def aspects(work: Path, folder: Path, report: dict) -> None:
    """`critic analyze --aspect all` against nine `critic analyze --aspect KEY` runs, the model installed in a
    data folder of the bench's own."""
    image = work / "bench.png"
    painting().save(image)
    env = {"BENCH_IMAGE": str(image), "CRITIC_HOME": str(work / "home")}
    subprocess.run([sys.executable, "-m", "critic", "models", "add", str(folder), "--name", "real-size", "--force"],
                   env={**os.environ, **env}, check=True, capture_output=True)
    for how in ("all", "nine"):
        report[f"aspects_{how}"] = run_child(["--child", "aspects", str(folder), "16", how], env=env)
        print(f"aspects {how}: {json.dumps(report[f'aspects_{how}'])}", flush=True)


def memory_rounds(folder: Path, tokens: int, rounds: int) -> int:
    """The three ways to hold the weights, interleaved: peak RSS, time to first token, decode."""
    runs: dict[str, list[dict]] = {}
    for _ in range(rounds):
        for mode in ("exact", "repack", "mapped"):
            runs.setdefault(mode, []).append(run_child(["--child", "analyze", str(folder), str(tokens), mode]))
            print(json.dumps(runs[mode][-1]), flush=True)
    for mode, results in runs.items():
        print(f"{mode:10s} peak RSS {statistics.median(r['peak_rss_gb'] for r in results):.2f} GB, first token "
              f"{statistics.median(r['first_token_s'] for r in results):.1f} s, decode "
              f"{statistics.median(r['tokens_per_s'] for r in results):.2f} tok/s (median of {len(results)})")
    return 0


def summarize(r: dict) -> None:
    """The ratios, printed last."""
    exact, bound = r["exact"], r["bandwidth"]["read_gb_s"] * GB / (r["llm_gb"] * GB)
    print(f"\n{r['machine']}, threads {r['threads']}; LLM file {r['llm_gb']:.2f} GB, all files {r['files_gb']:.2f} GB, "
          f"KV {r['kv_gb']:.2f} GB at 4096")
    stream = r.get("convert_stream")
    if stream:
        print(f"convert Q4_K_M: {stream['wall_s']:.0f} s, {stream['input_gb'] / stream['wall_s'] * 1000:.0f} MB/s "
              f"in; peak RSS {stream['peak_rss_gb']:.2f} GB ({stream['peak_rss_gb'] / stream['input_gb']:.3f}× the "
              f"input); disk peak {stream['peak_disk_gb']:.2f} GB ({stream['peak_disk_gb'] / r['files_gb']:.3f}× "
              "the output)")
    if "convert_old" in r:
        old = r["convert_old"]
        print(f"  through an F16 file: {old['wall_s']:.0f} s, disk peak {old['peak_disk_gb']:.2f} GB; "
              f"time streamed ÷ F16 route {stream['wall_s'] / old['wall_s']:.3f}")
    print(f"first question: {exact['first_token_s']:.1f} s to the first token = CLIP {exact['vision_encode_s']:.1f} + "
          f"image positions {exact['image_positions_s']:.1f} + text {exact['text_prefill_s']:.1f} "
          f"({exact['prompt_tokens']} prompt positions)")
    print(f"decode {exact['tokens_per_s']:.2f} tok/s; bandwidth bound {bound:.2f} tok/s "
          f"({r['bandwidth']['read_gb_s']} GB/s, {r['bandwidth']['threads']} threads): "
          f"{exact['tokens_per_s'] / bound:.2f} of it")
    for mode in ("exact", "repack"):
        m = r[mode]
        print(f"peak RSS ({mode}): {m['peak_rss_gb']:.2f} GB = {m['peak_rss_gb'] / (r['files_gb'] + r['kv_gb']):.2f}× "
              f"(files + KV); decode {m['tokens_per_s']:.2f} tok/s")
    print(f"follow-up ÷ first question, time to first token: "
          f"{exact['follow_up_first_token_s'] / exact['first_token_s']:.3f}")
    store, restore, other = r["cache-store"], r["cache-restore"], r["cache-other"]
    print(f"painting seen before, the same question ÷ first time: {restore['first_token_s'] / store['first_token_s']:.3f} "
          f"({restore['first_token_s']:.2f} s, restore {restore['prefix_restore_s']:.2f} s, text "
          f"{restore['text_prefill_s']:.2f} s); entry {store['cache_entry_gb'] * 1000:.0f} MB")
    print(f"painting seen before, another question ÷ first time: {other['first_token_s'] / store['first_token_s']:.3f} "
          f"({other['first_token_s']:.2f} s = restore {other['prefix_restore_s']:.2f} s + text "
          f"{other['text_prefill_s']:.2f} s; {other['prompt_tokens']} positions against {store['prompt_tokens']})")
    q8, store8, restore8 = r["exact+q8"], r["cache-store+q8"], r["cache-restore+q8"]
    print(f"--kv-cache q8_0 ÷ f16: entry {store8['cache_entry_gb'] / store['cache_entry_gb']:.3f} "
          f"({store8['cache_entry_gb'] * 1000:.0f} MB); first token {q8['first_token_s'] / exact['first_token_s']:.3f} "
          f"({q8['first_token_s']:.1f} s); decode {q8['tokens_per_s'] / exact['tokens_per_s']:.3f} "
          f"({q8['tokens_per_s']:.2f} tok/s); peak RSS {q8['peak_rss_gb']:.2f} GB against {exact['peak_rss_gb']:.2f}; "
          f"seen before ÷ first time {restore8['first_token_s'] / store8['first_token_s']:.3f}")
    one = r["one-encode"]
    print(f"exact ÷ one encode, time to first token: {exact['first_token_s'] / one['first_token_s']:.3f}")
    marks, stock = r["critic-marks"], r["stock"]
    print(f"critic (one encode) ÷ stock Llava15ChatHandler: first token "
          f"{marks['first_token_s'] / stock['first_token_s']:.3f}, tok/s {marks['tokens_per_s'] / stock['tokens_per_s']:.3f}")
    if "aspects_all" in r:
        print(f"--aspect all ÷ nine runs: {r['aspects_all']['seconds'] / r['aspects_nine']['seconds']:.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
