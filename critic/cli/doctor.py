"""`critic doctor`: one screen that says what will happen when a model runs here, and why."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from typing import Any

from critic.cli.cache import amount
from critic.cli.options import add_hardware_flags, hardware

EXTRAS = (
    ("convert", ("torch", "transformers", "peft", "safetensors", "sentencepiece"),
     "critic convert: checkpoints to GGUF, and `convert verify`"),
    ("train", ("torch", "transformers", "peft", "accelerate"), "critic train: LoRA fine-tuning"),
    ("annotate", ("openai",), "critic annotate: training data from LLM APIs"),
    ("eval", ("openai", "nltk", "rouge_score"), "critic eval: the paper's tables"),
    ("server", ("uvicorn", "fastapi", "openai"), "python -m llama_cpp.server, and --server clients in tests"),
    ("hub", ("huggingface_hub",), "critic models pull / build / push"),
)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "doctor", help="what will run where: llama.cpp's backends, GPUs, layers and threads, the cache, extras",
        description="Say what critic will do on this machine: the llama.cpp build and its backends, whether "
                    "it can offload to a GPU, the devices and their free memory, the layers and threads "
                    "chosen for the model and why, the cache, and the extras installed. Loads no model.",
        epilog="examples:\n  critic doctor\n  critic doctor --gpu-layers 20 --model gallerygpt-q4\n"
               "  critic doctor --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", metavar="NAME", help="installed model to plan for (default: the default model)")
    parser.add_argument("--ctx", type=int, default=None, help="context size to plan for (default 4096)")
    add_hardware_flags(parser)
    parser.add_argument("--json", action="store_true", help="the same facts as one JSON object")
    parser.set_defaults(run=run)


def _extras() -> list[dict]:
    rows = []
    for name, modules, enables in EXTRAS:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        rows.append({"extra": name, "installed": not missing, "missing": missing, "enables": enables})
    return rows


def _model_plan(args: argparse.Namespace, build, chosen) -> dict:
    """The placement for the model that would be used, from its GGUF headers (nothing loaded)."""
    from critic.core.errors import CriticError
    from critic.core.gguf_check import check_mmproj, check_pair
    from critic.engine import registry
    from critic.engine.llama import DEFAULT_BATCH, DEFAULT_CTX
    from critic.engine.offload import model_sizes, plan

    try:
        model = registry.find(args.model)
        llm, mmproj = model.paths()
        llm_header, mm_header = check_pair(llm, mmproj)
        headers = [mm_header]
        if model.manifest.patch0:
            headers.append(check_mmproj(model.folder / model.manifest.patch0.path))
    except CriticError as err:
        return {"model": None, "problem": str(err)}
    sizes = model_sizes(llm_header, headers, chosen.kv_cache)
    n_ctx = args.ctx or DEFAULT_CTX
    placement = plan(chosen.gpu_layers, sizes, n_ctx, DEFAULT_BATCH, build.gpu_offload, build.gpus,
                     chosen.vision_cpu)
    return {"model": model.name, "quantization": model.manifest.llm.quantization, "files": model.size,
            "weights": sizes.weights, "kv_cache": sizes.kv_bytes_per_token_layer * n_ctx * sizes.n_layer,
            "n_ctx": n_ctx, "gpu_layers": placement.offloaded, "asked_gpu_layers": placement.gpu_layers,
            "layers": placement.total_layers, "vision": "GPU" if placement.vision_gpu else "CPU",
            "runs_on": placement.where, "reason": placement.reason}


def facts(args: argparse.Namespace) -> dict:
    """Everything `critic doctor` reports, as plain data."""
    from dataclasses import asdict, replace

    from critic import __version__
    from critic.core.paths import data_dir
    from critic.engine.cores import core_counts, default_threads
    from critic.engine.devices import build_info
    from critic.engine.offload import configured_gpu_layers
    from critic.engine.prefix_cache import PrefixCache

    chosen = hardware(args)
    layers, source = configured_gpu_layers(chosen.gpu_layers)
    chosen = replace(chosen, gpu_layers=layers)
    build = build_info()
    counts = core_counts()
    threads, threads_batch = default_threads(chosen.threads)
    cache = PrefixCache(writable=False)
    return {
        "critic": __version__, "python": sys.version.split()[0],
        "llama_cpp": {"version": build.version, "backends": list(build.backends), "gpu_offload": build.gpu_offload,
                      "cpu_features": build.cpu_features.strip(" |"), "weight_buffers": _weight_buffers()},
        "devices": [asdict(d) for d in build.devices],
        "cpu": {**asdict(counts), "threads": threads, "threads_batch": threads_batch,
                "waiting": (f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}" if os.environ.get("OMP_WAIT_POLICY")
                            else "spinning, then sleeping (libgomp's default; OMP_WAIT_POLICY=PASSIVE on a busy "
                                 "machine)"),
                "threads_from": "--threads" if chosen.threads else
                f"{counts.performance} performance core(s) generate, {counts.physical} physical core(s) read "
                f"the prompt ({counts.how})"},
        "gpu_layers_setting": {"value": layers, "from": source},
        "plan": _model_plan(args, build, chosen),
        "data": str(data_dir()),
        "cache": {"folder": str(cache.folder), "entries": len(cache.entries()), "bytes": cache.size(),
                  "limit": cache.limit},
        "extras": _extras(),
    }


def _weight_buffers() -> dict:
    """The CPU's extra weight layouts model loads use (critic.engine.amx)."""
    from critic.engine import amx
    from critic.engine.native import load_llama_cpp

    try:
        names, _ = amx.extra_buffer_types(load_llama_cpp())
    except (OSError, AttributeError):  # the libraries are not where llama-cpp-python's own are
        names = []
    return {"used": names, "amx_left_out": amx.left_out}


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    report = facts(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    console = Console(highlight=False, soft_wrap=True)
    ll = report["llama_cpp"]
    console.print(f"[bold]critic {report['critic']}[/] · Python {report['python']} · "
                  f"llama-cpp-python {ll['version']}")
    console.print(f"llama.cpp backends: {', '.join(ll['backends'])}; GPU offload "
                  + ("[green]supported[/]" if ll["gpu_offload"] else "[yellow]not compiled in (a CPU build)[/]"))
    console.print(f"CPU features: {ll['cpu_features']}", overflow="fold")
    buffers = ll["weight_buffers"]
    console.print(f"CPU weight layouts: {', '.join(buffers['used']) or 'plain only'}"
                  + ("; AMX left out (its matrix products crash: llama.cpp#20824)" if buffers["amx_left_out"] else ""))
    devices = Table("device", "kind", "description", "free", "total", box=None, pad_edge=False)
    for d in report["devices"]:
        devices.add_row(d["name"], d["kind"], d["description"], amount(d["free"]), amount(d["total"]))
    console.print(devices)
    cpu = report["cpu"]
    console.print(f"Threads: {cpu['threads']} generating, {cpu['threads_batch']} reading the prompt — "
                  f"{cpu['threads_from']}; {cpu['logical']} logical CPU(s) usable; at barriers: {cpu['waiting']}")
    setting = report["gpu_layers_setting"]
    console.print(f"GPU layers setting: {setting['value']} (from {setting['from']})")
    plan = report["plan"]
    if plan.get("model"):
        console.print(f"Model [bold]{plan['model']}[/] ({plan['quantization']}, {amount(plan['files'])} of files, "
                      f"KV cache {amount(plan['kv_cache'])} at {plan['n_ctx']} tokens): runs on the "
                      f"[bold]{plan['runs_on']}[/] — {plan['gpu_layers']} of {plan['layers']} layers on a GPU, "
                      f"vision encoder on the {plan['vision']}")
        console.print(f"  why: {plan['reason']}", overflow="fold")
    else:
        console.print(f"Model: none to plan for — {plan.get('problem')}", overflow="fold")
    cache = report["cache"]
    console.print(f"Data: {report['data']}")
    console.print(f"Prefix cache: {cache['folder']} — {cache['entries']} painting(s), {amount(cache['bytes'])} "
                  f"of {amount(cache['limit'])}")
    extras = Table("extra", "installed", "enables", box=None, pad_edge=False)
    for row in report["extras"]:
        state = "yes" if row["installed"] else f"no (missing {', '.join(row['missing'])})"
        extras.add_row(row["extra"], state, row["enables"])
    console.print(extras)
    return 0
