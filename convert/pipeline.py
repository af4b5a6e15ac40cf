"""`critic convert`: checkpoint (+ LoRA) → LLM GGUF + mmproj GGUF (+ quantized) + manifest, atomically.

``--to hf`` writes a transformers-native folder for serving engines instead (convert/hf_export.py).

The output folder is built under a temporary name beside DIR and renamed at the end, so a
killed run leaves no file under a final name and a rerun starts clean. The exact options
used are saved as ``convert-config.json`` beside the files.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from critic import __version__
from critic.convert.hf_export import DTYPES, write_hf, write_manifest
from critic.convert.llm_gguf import write_llm
from critic.convert.lora import open_lora
from critic.convert.mmproj_gguf import DEFAULT_LAYOUT, LAYOUTS, write_mmproj
from critic.convert.quantize import LLM_TYPES, MMPROJ_TYPES, quantize
from critic.core.errors import UsageError
from critic.core.images import file_sha256
from critic.core.manifest import MANIFEST_NAME, Manifest, ModelFile
from critic.core.store import partial_dir
from critic.llava.checkpoint import open_checkpoint

TARGETS = ("gguf", "hf")


@dataclass
class ConvertConfig:
    """Everything one conversion depends on."""

    base: str
    out: str
    vision_tower: str | None = None
    lora: str | None = None
    quant: str = "Q4_K_M"
    mmproj_quant: str = "F16"
    name: str | None = None
    layout: str = DEFAULT_LAYOUT
    force: bool = False
    allow_other_tower: bool = False
    allow_base_projector: bool = False
    to: str = "gguf"
    dtype: str = "float32"
    """With ``to="hf"``: the weights' type (convert/hf_export.py)."""


def _progress(show: bool):
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description:<22}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                    transient=False, disable=not show)


def convert(config: ConvertConfig, show_progress: bool = True) -> Path:
    """Run one conversion; return the output folder."""
    out = Path(config.out)
    if config.to not in TARGETS:
        raise UsageError(f"--to {config.to}: choose one of {', '.join(TARGETS)}")
    if config.to == "hf" and config.dtype not in DTYPES:
        raise UsageError(f"--dtype {config.dtype}: choose one of {', '.join(DTYPES)}")
    if config.quant not in LLM_TYPES:
        raise UsageError(f"--quant {config.quant}: choose one of {', '.join(LLM_TYPES)}")
    if config.mmproj_quant not in MMPROJ_TYPES:
        raise UsageError(f"--mmproj-quant {config.mmproj_quant}: choose one of {', '.join(MMPROJ_TYPES)}")
    if out.exists() and not config.force:
        raise UsageError(f"{out} exists: choose another --out or add --force to replace it")
    if config.layout not in LAYOUTS:
        raise UsageError(f"--layout {config.layout}: choose one of {', '.join(LAYOUTS)}")
    ckpt = open_checkpoint(config.base, config.vision_tower, config.allow_other_tower)
    lora = open_lora(config.lora, ckpt, config.allow_base_projector) if config.lora else None
    name = config.name or out.resolve().name  # `--out gallerygpt-q4` installs as gallerygpt-q4
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = partial_dir(out)  # removes (and says so) what an interrupted run on `out` left
    try:
        if config.to == "hf":
            _write_hf(config, ckpt, lora, work, name, show_progress)
            _replace(work, out)
            return out
        # The LLM is quantized as it is written (convert/stream_quant.py): no F16 file of its full size.
        llm_path = work / f"{slug}.{config.quant}.gguf"
        with _progress(show_progress) as progress:
            task = progress.add_task(f"LLM → GGUF ({config.quant})", total=None)
            write_llm(ckpt, lora, llm_path, name, lambda done, total: progress.update(task, completed=done, total=total),
                      quant=config.quant)
            tables = {"exact": ["rotated", "patch0"]}.get(config.layout, [config.layout])
            mmprojs = []
            for table in tables:
                suffix = "" if table != "patch0" else "-patch0"
                path = work / f"{slug}.mmproj{suffix}-F16.gguf"
                task = progress.add_task(f"vision → mmproj{suffix} (F16)", total=None)
                write_mmproj(ckpt, path, name, table,
                             lambda done, total, task=task: progress.update(task, completed=done, total=total))
                if config.mmproj_quant != "F16":
                    task = progress.add_task(f"mmproj{suffix} → {config.mmproj_quant}", total=1)
                    quantized = work / f"{slug}.mmproj{suffix}-{config.mmproj_quant}.gguf"
                    quantize(path, quantized, config.mmproj_quant)
                    path.unlink()
                    path = quantized
                    progress.advance(task)
                mmprojs.append(path)
        hp = ckpt.vision

        def entry(path: Path, quant: str) -> ModelFile:
            return ModelFile(path.name, file_sha256(path), path.stat().st_size, quant)

        manifest = Manifest(
            name=name,
            llm=entry(llm_path, config.quant),
            mmproj=entry(mmprojs[0], config.mmproj_quant),
            patch0=entry(mmprojs[1], config.mmproj_quant) if len(mmprojs) > 1 else None,
            tokenizer_legacy=ckpt.tokenizer_legacy,
            image={"size": hp.image_size, "patch": hp.patch_size, "mean": list(hp.mean), "std": list(hp.std),
                   "preprocess": ckpt.preprocess},
            source={"base": str(Path(config.base).resolve()), "layout": ckpt.layout,
                    "vision_tower": str(Path(config.vision_tower).resolve()) if config.vision_tower else None,
                    "lora": str(Path(config.lora).resolve()) if config.lora else None,
                    "critic_version": __version__},
            class_token_layout=config.layout,
        )
        (work / MANIFEST_NAME).write_text(manifest.to_json())
        (work / "convert-config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
        _replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _replace(work: Path, out: Path) -> None:
    """Put the finished folder `work` in place of `out` (an existing one is replaced only under --force)."""
    if out.exists():
        trash = out.with_name(f".{out.name}.old")
        os.replace(out, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(work, out)


def _write_hf(config: ConvertConfig, ckpt, lora, work: Path, name: str, show_progress: bool) -> None:
    """The transformers-native folder (convert/hf_export.py) with its manifest."""
    with _progress(show_progress) as progress:
        task = progress.add_task(f"→ safetensors ({config.dtype})", total=None)
        info = write_hf(ckpt, lora, work, config.dtype,
                        lambda done, total: progress.update(task, completed=done, total=total))
    (work / "convert-config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    source = {"base": str(Path(config.base).resolve()), "layout": ckpt.layout,
              "vision_tower": str(Path(config.vision_tower).resolve()) if config.vision_tower else None,
              "lora": str(Path(config.lora).resolve()) if config.lora else None, "critic_version": __version__}
    write_manifest(work, name, {**info, "preprocess": ckpt.preprocess}, source)
