"""The model registry: one folder per model under the data directory, each with its manifest.

A model is trusted only after its files pass `check_pair` and match the manifest's sha256.
Hashing a 4 GB file takes seconds, so the verified (size, mtime, sha256) of each file is
remembered in ``.verified.json``; a file whose size or mtime changed is hashed again.
The registry returns folders and model info only; critic.engine.open_engine builds an engine
from a verified folder.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from critic.core.errors import BadModelFile, ModelNotFound, UsageError, did_you_mean
from critic.core.gguf_check import check_mmproj, check_pair
from critic.core.images import file_sha256
from critic.core.manifest import MANIFEST_NAME, Manifest, ModelFile
from critic.core.paths import data_dir, models_dir
from critic.core.prompt import LEGACY_KEY

INSTALL_HINT = (
    "no model installed: make one with `critic convert BASE --vision-tower VT --lora LORA --out DIR` "
    "and register it with `critic models add DIR` (see README: Getting GalleryGPT)"
)
_VERIFIED = ".verified.json"


@dataclass
class InstalledModel:
    """A registered model: its folder and manifest."""

    folder: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def size(self) -> int:
        """Bytes on disk of the model's files."""
        return sum((self.folder / f.path).stat().st_size for f in self.manifest.files
                   if (self.folder / f.path).exists())

    def paths(self) -> tuple[Path, Path]:
        """(llm, mmproj) paths."""
        return self.manifest.file_paths(self.folder)


def _settings_path() -> Path:
    return data_dir() / "settings.json"


def _settings() -> dict:
    path = _settings_path()
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        return {}


def _save_settings(settings: dict) -> None:
    from critic.core.store import write_atomic

    write_atomic(_settings_path(), json.dumps(settings, indent=2) + "\n")


def _slug(name: str) -> str:
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip(".-")
    if not slug:
        raise UsageError(f"'{name}' is not usable as a model name")
    return slug


def verify_files(folder: Path, manifest: Manifest) -> None:
    """Check both files exist, match the manifest's sha256, and form a valid pair."""
    cache_path = folder / _VERIFIED
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    except json.JSONDecodeError:
        cache = {}
    changed = False
    for entry in manifest.files:
        path = folder / entry.path
        if not path.is_file():
            raise BadModelFile(f"{path}: missing; reinstall the model with `critic models add`")
        stat = path.stat()
        key = f"{stat.st_size}:{stat.st_mtime_ns}"
        if cache.get(entry.path, {}).get("key") != key:
            digest = file_sha256(path)
            cache[entry.path] = {"key": key, "sha256": digest}
            changed = True
        if cache[entry.path]["sha256"] != entry.sha256:
            raise BadModelFile(
                f"{path}: sha256 differs from the manifest (damaged or replaced); convert or add the model again"
            )
    check_pair(*manifest.file_paths(folder))
    if manifest.patch0:
        check_mmproj(folder / manifest.patch0.path)
    if changed:
        try:
            cache_path.write_text(json.dumps(cache))
        except OSError:
            pass


def _place(source: Path, target: Path) -> None:
    """Hard-link when the data dir is on the same disk, else copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def add_folder(folder: str | Path, name: str | None = None, force: bool = False) -> InstalledModel:
    """Register a folder made by `critic convert`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadModelFile(f"{folder}: no such folder; give a folder made by `critic convert`")
    manifest = Manifest.read(folder / MANIFEST_NAME)
    verify_files(folder, manifest)
    if name:
        manifest.name = name
    return _install(manifest, folder, force)


def _quantization(header) -> str:
    from gguf import LlamaFileType

    try:
        return LlamaFileType(int(header.fields.get("general.file_type", -1))).name.removeprefix("MOSTLY_")
    except ValueError:
        return "unknown"


def add_files(llm: str | Path, mmproj: str | Path, name: str, force: bool = False) -> InstalledModel:
    """Register a pair of GGUF files (made elsewhere) under `name`."""
    llm, mmproj = Path(llm), Path(mmproj)
    llm_header, mm_header = check_pair(llm, mmproj)
    fields = mm_header.fields
    manifest = Manifest(
        name=name,
        llm=ModelFile(llm.name, file_sha256(llm), llm.stat().st_size, _quantization(llm_header)),
        mmproj=ModelFile(mmproj.name, file_sha256(mmproj), mmproj.stat().st_size, _quantization(mm_header)),
        image={"size": fields["clip.vision.image_size"], "patch": fields["clip.vision.patch_size"],
               "mean": fields["clip.vision.image_mean"], "std": fields["clip.vision.image_std"],
               "preprocess": str(fields.get("critic.preprocess", "pad"))},
        source={"llm": str(llm.resolve()), "mmproj": str(mmproj.resolve())},
        class_token_layout=str(fields.get("critic.class_token_layout", "stock")),
        tokenizer_legacy=bool(llm_header.fields.get(LEGACY_KEY, False)),
    )
    if llm.name == mmproj.name:
        raise UsageError("the LLM and the mmproj have the same file name; rename one")
    return _install(manifest, None, force, sources=(llm, mmproj))


def _install(manifest: Manifest, folder: Path | None, force: bool,
             sources: tuple[Path, Path] | None = None) -> InstalledModel:
    target = models_dir() / _slug(manifest.name)
    if target.exists():
        if not force:
            raise UsageError(f"a model named '{manifest.name}' is installed: add --force to replace it, or --name")
        shutil.rmtree(target)
    staging = target.with_name(f".{target.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for entry, source in zip(manifest.files, sources or [folder / f.path for f in manifest.files]):
        _place(source, staging / entry.path)
    (staging / MANIFEST_NAME).write_text(manifest.to_json())
    os.replace(staging, target)
    if not _settings().get("default"):
        set_default(manifest.name)
    return InstalledModel(target, manifest)


@dataclass
class BrokenModel:
    """A model folder whose manifest cannot be read: named, never silently skipped."""

    folder: Path
    reason: str

    @property
    def fix(self) -> str:
        return (f"remove it with `critic models rm {self.folder.name}`, then add the converted folder "
                "again with `critic models add DIR`")

    def error(self) -> BadModelFile:
        """The error that names it, its reason and the fix."""
        return BadModelFile(f"the installed model '{self.folder.name}' is damaged ({self.reason}): {self.fix}")


def _scan() -> tuple[list[InstalledModel], list[BrokenModel]]:
    found, broken = [], []
    for folder in sorted(models_dir().iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            found.append(InstalledModel(folder, Manifest.read(folder / MANIFEST_NAME)))
        except BadModelFile as err:
            broken.append(BrokenModel(folder, str(err).removeprefix(f"{folder / MANIFEST_NAME}: ")))
    return found, broken


def installed() -> list[InstalledModel]:
    """Every registered model whose manifest reads, sorted by folder name (see `broken`)."""
    return _scan()[0]


def broken() -> list[BrokenModel]:
    """Registered model folders whose manifest is missing or damaged."""
    return _scan()[1]


def default_name() -> str | None:
    """The default model's name, if set and still installed."""
    name = _settings().get("default")
    return name if name and any(m.name == name for m in installed()) else None


def set_default(name: str) -> None:
    """Make `name` the model used when none is given."""
    find(name)
    _save_settings({**_settings(), "default": name})


def find(name: str | None = None) -> InstalledModel:
    """The model called `name`, or the default, or the only one.

    ModelNotFound only where no such model was installed; a damaged one that would have
    been used (asked for, the default, or all there is) is a BadModelFile naming it.
    """
    models, damaged = _scan()
    wanted = name or _settings().get("default")
    for model in models:
        if wanted and (model.name == wanted or model.folder.name == wanted):
            return model
    for bad in damaged:
        if wanted and bad.folder.name in (wanted, _slug(wanted)):
            raise bad.error()
    if not models:
        if damaged:
            raise damaged[0].error()
        raise ModelNotFound(INSTALL_HINT)
    if name is None:
        if len(models) == 1:
            return models[0]
        raise ModelNotFound("several models are installed and none is the default: "
                            "pass --model NAME or run `critic models default NAME`")
    names = ", ".join(m.name for m in models)
    raise ModelNotFound(f"no model named '{name}'{did_you_mean(name, [m.name for m in models])} "
                        f"(installed: {names})")


def remove(name: str) -> None:
    """Delete a registered model's folder (a damaged one by its folder name)."""
    for bad in broken():
        if bad.folder.name == name:
            shutil.rmtree(bad.folder)
            return
    model = find(name)
    shutil.rmtree(model.folder)
    if _settings().get("default") == model.name:
        rest = installed()
        _save_settings({**_settings(), "default": rest[0].name if rest else None})


def verified(name: str | None = None) -> InstalledModel:
    """The model `find` picks, its files checked against the manifest (critic.engine loads it)."""
    model = find(name)
    verify_files(model.folder, model.manifest)
    return model
