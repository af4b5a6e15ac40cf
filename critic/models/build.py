"""`critic models build gallerygpt`: the release route in one command, each stage resumable.

Stages, each recorded in ``build.json`` in the work folder when it finishes (with its bytes and
seconds), so a rerun after a kill starts at the first unfinished one:

1. ``lora``: the GalleryGPT LoRA from a folder (used in place), a zip (unpacked) or the authors'
   Google Drive link (critic.models.lora_source); its files' sha256 recorded;
2. ``resolve``: the two hub repositories listed at their revisions (see `Release`); the commit ids
   and the chosen files are recorded, and every later run uses exactly those;
   then, before the first byte: free space for what is left to download and convert;
3. ``download-base``, ``download-tower``: only the files conversion reads (weights, index,
   tokenizer, configs), file by file (a finished file is never fetched again; critic.models.hub);
4. ``config``: GalleryGPT's README has the user put its ``config.json`` in the base folder. The
   LoRA folder's ``config.json`` is that config as training saved it, and it is what LLaVA's own
   loader builds the base with when it merges a LoRA (``load_pretrained_model`` with
   ``model_base``), so it takes the place of the hub's (kept as ``config.hub.json``);
5. ``convert``: `critic convert` (atomic: a killed conversion starts again whole);
6. ``verify``: `critic convert verify` against transformers (``--no-verify`` skips it; a failed
   gate stops the build before anything is installed);
7. ``install``: the converted files moved into the registry, the provenance (repositories,
   revisions, LoRA sha256, quantization, verify figures) in the manifest's ``source``.

Then it offers to delete the downloaded checkpoint (``--delete-checkpoint`` / ``--keep-checkpoint``).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from critic import __version__
from critic.core.errors import BadCheckpoint, UsageError
from critic.core.manifest import MANIFEST_NAME, Manifest
from critic.core.paths import data_dir
from critic.core.store import write_atomic
from critic.engine import registry
from critic.models import hub
from critic.models.lora_source import RELEASE_LINK, digest_of, lora_digests, lora_folder


@dataclass(frozen=True)
class Release:
    """Where the release's parts live.

    No revision is pinned here: the hub cannot be reached from where this was written, and no
    public source states these repositories' commit ids. The revision each build resolves (the
    main branch at its first run, unless --base-revision / --tower-revision name one) is recorded
    in ``build.json``, used by every rerun, and carried into the model's manifest and card.
    """

    base_repo: str = "Lin-Chen/ShareGPT4V-7B"
    tower_repo: str = "Lin-Chen/ShareGPT4V-7B_Pretrained_vit-large336-l12"
    base_revision: str | None = None
    tower_revision: str | None = None
    lora: str = RELEASE_LINK


RECIPES = {"gallerygpt": Release()}
BASE_FILES = ("pytorch_model-*.bin", "pytorch_model.bin", "pytorch_model.bin.index.json", "model-*.safetensors",
              "model.safetensors", "model.safetensors.index.json", "tokenizer.model", "tokenizer_config.json",
              "special_tokens_map.json", "config.json", "generation_config.json")
TOWER_FILES = ("pytorch_model.bin", "model.safetensors", "config.json", "preprocessor_config.json")
QUANT_SHARE = {"F16": 0.0, "Q8_0": 0.53, "Q5_K_M": 0.36, "Q4_K_M": 0.30}
"""Size of the quantized LLM as a share of the F16 one (8.5, 5.7 and 4.85 bits a weight, with margin)."""
SHORT = {"Q4_K_M": "q4", "Q5_K_M": "q5", "Q8_0": "q8", "F16": "f16"}
STAGES = ("lora", "resolve", "download-base", "download-tower", "config", "convert", "verify", "install")


def default_name(quant: str) -> str:
    """gallerygpt-q4 for Q4_K_M (the name the README uses), and so on."""
    return f"gallerygpt-{SHORT.get(quant, quant.lower())}"


def needed_files(files: list[hub.RemoteFile], patterns: tuple[str, ...]) -> list[hub.RemoteFile]:
    """The files conversion reads: top-level ones matching `patterns`; safetensors weights over .bin ones."""
    chosen = [f for f in files if "/" not in f.path and any(fnmatch.fnmatch(f.path, p) for p in patterns)]
    if any(f.path.endswith(".safetensors") for f in chosen):
        chosen = [f for f in chosen if not (f.path.startswith("pytorch_model") and "bin" in f.path)]
    return sorted(chosen, key=lambda f: f.size)


def conversion_bytes(weights: int, tower: int, quant: str) -> int:
    """Peak disk a conversion writes: the F16 LLM (as large as bf16 weights), its quantized copy, two mmprojs."""
    return int(weights * (1 + QUANT_SHARE.get(quant, 1.0)) + 2 * tower)


class Build:
    """One build's work folder and its record."""

    def __init__(self, work: Path, options: dict) -> None:
        self.work = work
        self.path = work / "build.json"
        try:
            self.record = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.record = {}
        stages = self.record.get("stages", {})
        before = self.record.get("options", {})
        # Changed options undo the stages that depend on them (downloads are kept when they still apply).
        if before.get("lora") != options["lora"]:
            stages.pop("lora", None)
            stages = {k: v for k, v in stages.items() if k not in ("convert", "verify", "install")}
        if any(before.get(k) != options[k] for k in ("base_revision", "tower_revision")):
            stages = {k: v for k, v in stages.items() if k == "lora"}
        if any(before.get(k) != options[k] for k in ("quant", "name", "layout")):
            stages = {k: v for k, v in stages.items() if k not in ("convert", "verify", "install")}
        self.record = {"options": options, "stages": stages}
        self.save()

    def save(self) -> None:
        """Write the record whole (a temp name, then a rename)."""
        write_atomic(self.path, json.dumps(self.record, indent=2) + "\n")

    def done(self, stage: str) -> dict | None:
        """The record of a finished stage."""
        return self.record["stages"].get(stage)

    def finish(self, stage: str, started: float, **facts) -> dict:
        """Record `stage` as finished now."""
        self.record["stages"][stage] = {"seconds": round(time.monotonic() - started, 2), **facts}
        self.save()
        return self.record["stages"][stage]


def build(recipe: str, lora: str | None, quant: str = "Q4_K_M", name: str | None = None,
          work: Path | None = None, verify: bool = True, force: bool = False, base_revision: str | None = None,
          tower_revision: str | None = None, delete_checkpoint: bool | None = None, show_progress: bool = True,
          say=lambda text: print(text, file=sys.stderr)) -> tuple[registry.InstalledModel, dict]:
    """Run (or resume) a build; return the installed model and the build record."""
    from critic.convert.quantize import LLM_TYPES

    if recipe not in RECIPES:
        raise UsageError(f"unknown model '{recipe}': critic can build {', '.join(RECIPES)}")
    if quant not in LLM_TYPES:
        raise UsageError(f"--quant {quant}: choose one of {', '.join(LLM_TYPES)}")
    release = RECIPES[recipe]
    name = name or default_name(quant)
    work = Path(work) if work else data_dir() / "build" / recipe
    options = {"recipe": recipe, "lora": lora or release.lora, "quant": quant, "name": name, "layout": "exact",
               "verify": verify, "base_revision": base_revision or release.base_revision,
               "tower_revision": tower_revision or release.tower_revision}
    work.mkdir(parents=True, exist_ok=True)
    from critic.core.store import output_lock

    with output_lock(work, "models build"):
        run = Build(work, options)
        if run.done("install") and not force:
            model = registry.find(name)
            say(f"{name} is already built and installed in {model.folder} (the record: {run.path})")
            if delete_checkpoint:
                _offer_delete(run, True, say)
            return model, run.record
        if not force and not run.done("install") and _installed(name):
            raise UsageError(f"a model named '{name}' is installed: add --force to replace it, or --name")
        model = _stages(run, release, options, show_progress, say)
        _offer_delete(run, delete_checkpoint, say)
        return model, run.record


def _installed(name: str) -> bool:
    return any(m.name == name for m in registry.installed())


def _stages(run: Build, release: Release, options: dict, show_progress: bool, say) -> registry.InstalledModel:
    work, name, quant = run.work, options["name"], options["quant"]
    base_dir, tower_dir = work / release.base_repo.split("/")[-1], work / release.tower_repo.split("/")[-1]
    out = work / "out" / name

    started = time.monotonic()
    if not (rec := run.done("lora")):
        say(f"[lora] {options['lora']}")
        folder = lora_folder(options["lora"], work)
        if not (folder / "config.json").is_file():
            raise BadCheckpoint(f"{folder}: the LoRA folder has no config.json (LLaVA builds the base with it); put "
                                "GalleryGPT's config.json (from its repository) in it")
        digests = lora_digests(folder)
        rec = run.finish("lora", started, folder=str(folder.resolve()), sha256=digest_of(digests), files=digests,
                         bytes=sum(p.stat().st_size for p in folder.iterdir() if p.is_file()))
    lora_dir = Path(rec["folder"])

    started = time.monotonic()
    if not (rec := run.done("resolve")):
        say(f"[resolve] {release.base_repo}, {release.tower_repo}")
        base_sha, base_files = hub.listing(release.base_repo, options["base_revision"])
        tower_sha, tower_files = hub.listing(release.tower_repo, options["tower_revision"])
        base_files = needed_files(base_files, BASE_FILES)
        tower_files = needed_files(tower_files, TOWER_FILES)
        if not any(f.path.endswith((".bin", ".safetensors")) for f in base_files) or \
                not any(f.path.endswith((".bin", ".safetensors")) for f in tower_files):
            raise BadCheckpoint(f"{release.base_repo} or {release.tower_repo} holds no weights at that revision")
        rec = run.finish("resolve", started, base={"repo": release.base_repo, "revision": base_sha,
                                                   "files": [asdict(f) for f in base_files]},
                         tower={"repo": release.tower_repo, "revision": tower_sha,
                                "files": [asdict(f) for f in tower_files]})
    base_files = [hub.RemoteFile(**f) for f in rec["base"]["files"]]
    tower_files = [hub.RemoteFile(**f) for f in rec["tower"]["files"]]
    base_sha, tower_sha = rec["base"]["revision"], rec["tower"]["revision"]

    _check_space(run, base_dir, base_files, tower_dir, tower_files, quant)
    for stage, repo, sha, files, folder in (("download-base", release.base_repo, base_sha, base_files, base_dir),
                                            ("download-tower", release.tower_repo, tower_sha, tower_files, tower_dir)):
        started = time.monotonic()
        if not run.done(stage):
            size = sum(f.size for f in files)
            say(f"[{stage}] {repo}@{sha[:12]}: {len(files)} files, {hub.gb(size)} into {folder}")
            hub.fetch(repo, sha, files, folder, show_progress)
            run.finish(stage, started, bytes=size, files=len(files))

    started = time.monotonic()
    if not run.done("config"):
        if (base_dir / "config.json").exists() and not (base_dir / "config.hub.json").exists():
            (base_dir / "config.json").rename(base_dir / "config.hub.json")
        shutil.copyfile(lora_dir / "config.json", base_dir / "config.json")
        run.finish("config", started, source=str(lora_dir / "config.json"))

    started = time.monotonic()
    if not run.done("convert") or not (out / MANIFEST_NAME).exists():
        from critic.convert.pipeline import ConvertConfig, convert

        say(f"[convert] → {out} ({quant}, exact layout)")
        convert(ConvertConfig(base=str(base_dir), vision_tower=str(tower_dir), lora=str(lora_dir), out=str(out),
                              quant=quant, name=name, layout="exact", force=True), show_progress=show_progress)
        manifest = Manifest.read(out)
        run.finish("convert", started, bytes=sum(e.size for e in manifest.files),
                   files={e.path: e.sha256 for e in manifest.files})

    started = time.monotonic()
    if options["verify"] and not run.done("verify"):
        from critic.convert.verify import print_report, verify

        say("[verify] the files against transformers (--no-verify skips this)")
        report = verify(out, base_dir, tower_dir, lora_dir)
        print_report(report)
        write_atomic(work / "verify.json", json.dumps(report.to_dict(), indent=2) + "\n")
        if report.failures:
            raise BadCheckpoint(f"verify failed: {report.failures[0]} (all figures in {work / 'verify.json'}); "
                                "nothing installed; --no-verify installs it anyway")
        run.finish("verify", started, figures=_figures(report.to_dict()))

    started = time.monotonic()
    manifest = Manifest.read(out)
    manifest.source = {**manifest.source,
                       "base_repo": release.base_repo, "base_revision": base_sha,
                       "vision_tower_repo": release.tower_repo, "vision_tower_revision": tower_sha,
                       "lora_source": options["lora"], "lora_sha256": run.done("lora")["sha256"],
                       "quantization": quant, "critic_version": __version__,
                       **({"verify": run.done("verify")["figures"]} if run.done("verify") else {})}
    write_atomic(out / MANIFEST_NAME, manifest.to_json())
    say(f"[install] {name}")
    model = registry.add_folder(out, name, force=True, move=True)
    run.finish("install", started, folder=str(model.folder), bytes=model.size)
    return model


def _figures(report: dict) -> dict:
    """The verify figures worth carrying with the model (its card shows them)."""
    text, image = report.get("text", {}), report.get("image", {})
    return {"tokens_equal": report.get("tokens_equal"), "template_equal": report.get("template_equal"),
            "conversion_max_dlogit": report.get("conversion_max_dlogit"),
            "text_top1": text.get("top1_agreement"), "text_mean_kl": text.get("mean_kl"),
            "image_top1": image.get("top1_agreement"), "image_mean_kl": image.get("mean_kl"),
            "image_tokens_exact": f"{image.get('image_tokens_exact')} / {image.get('image_tokens')}"}


def _check_space(run: Build, base_dir: Path, base_files, tower_dir: Path, tower_files, quant: str) -> None:
    """Refuse before the first byte when what is left to download and convert will not fit."""
    left = sum(f.size for f in base_files if not hub.is_done(base_dir, f))
    left += sum(f.size for f in tower_files if not hub.is_done(tower_dir, f))
    weights = sum(f.size for f in base_files if f.path.endswith((".bin", ".safetensors")))
    tower = sum(f.size for f in tower_files if f.path.endswith((".bin", ".safetensors")))
    if not run.done("convert"):
        left += conversion_bytes(weights, tower, quant)
    hub.check_space(run.work, left, f"building {run.record['options']['name']} (downloads and conversion)")
    if run.record["options"]["verify"] and not run.done("verify"):
        import tempfile

        # verify writes a float32 copy of the LLM (twice the bf16 weights) to the temporary folder
        hub.check_space(Path(tempfile.gettempdir()), 2 * weights, "verify (a float32 copy of the LLM; --no-verify "
                        "skips it)")


def checkpoint_folders(run: Build) -> list[Path]:
    """What the build downloaded or unpacked (the large part), which the model no longer needs."""
    folders = [run.work / r.split("/")[-1] for r in (RECIPES[run.record["options"]["recipe"]].base_repo,
                                                      RECIPES[run.record["options"]["recipe"]].tower_repo)]
    return [f for f in folders + [run.work / "lora-download", run.work / "lora-unpacked"] if f.exists()]


def _offer_delete(run: Build, delete: bool | None, say) -> None:
    folders = checkpoint_folders(run)
    if not folders:
        return
    size = sum(p.stat().st_size for f in folders for p in f.rglob("*") if p.is_file())
    if delete is None and sys.stdin.isatty():
        answer = input(f"delete the downloaded checkpoint ({hub.gb(size)} in {run.work})? "
                       "It is needed only to build again. [y/N] ")
        delete = answer.strip().lower() in ("y", "yes")
    if delete:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        run.record["deleted_checkpoint"] = True
        run.save()
        say(f"deleted the downloaded checkpoint ({hub.gb(size)})")
    else:
        say(f"kept the downloaded checkpoint ({hub.gb(size)}) in {run.work}; "
            "`critic models build gallerygpt --delete-checkpoint` (or deleting the folder) frees it")


def stage_table(record: dict) -> list[tuple[str, str, str]]:
    """(stage, bytes, seconds) of each finished stage, in order."""
    rows = []
    for stage in STAGES:
        rec = record["stages"].get(stage)
        if rec:
            rows.append((stage, hub.gb(rec["bytes"]) if rec.get("bytes") else "", f"{rec['seconds']:.1f} s"))
    return rows
