"""The model registry: one folder per model under the data directory, each with its manifest.

A model is trusted only after its files pass `check_pair` and match the manifest's sha256.
Hashing a 4 GB file takes seconds, so the verified (size, mtime, sha256) of each file is
remembered in ``.verified.json``; a file whose size or mtime changed is hashed again.
The registry returns folders and model info only; critic.engine.open_engine builds an engine
from a verified folder.

An installed model shares no file with where it came from: files are copied (or, for a folder
critic downloaded or built itself, moved), never hard-linked, so damaging the source cannot damage
the install. Installing records each file's size and mtime beside its sha256, so `file_problems`
(what `critic models list` shows) finds a file truncated or changed since without hashing it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from critic.core.errors import BadModelFile, ModelNotFound, UsageError, did_you_mean
from critic.core.gguf_check import check_mmproj, check_pair, check_patch0, read_header
from critic.core.images import file_sha256
from critic.core.manifest import MANIFEST_NAME, Manifest, ModelFile
from critic.core.paths import models_dir
from critic.core.settings import read_settings, save_settings
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


def _slug(name: str) -> str:
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip(".-")
    if not slug:
        raise UsageError(f"'{name}' is not usable as a model name")
    return slug


def verify_files(folder: Path, manifest: Manifest) -> None:
    """Check both files exist, match the manifest's sha256, and form a valid pair."""
    cache_path = folder / _VERIFIED
    cache = _verified_cache(folder)
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


def remember_hashes(folder: Path, sha256: dict[str, str]) -> None:
    """Record sha256 digests already computed for files in `folder` (as a download checked them), so
    `verify_files` does not read them again while their size and mtime stay the same."""
    cache = _verified_cache(folder)
    for path, digest in sha256.items():
        stat = (folder / path).stat()
        cache[path] = {"key": f"{stat.st_size}:{stat.st_mtime_ns}", "sha256": digest}
    (folder / _VERIFIED).write_text(json.dumps(cache))


def _place(source: Path, target: Path, move: bool) -> None:
    """Move `source` to `target` (same disk: a rename), or copy it; never a hard link.

    shutil.copy2 uses the system's in-kernel copy where Python has one (sendfile on Linux,
    fcopyfile on macOS) and keeps the mtime.
    """
    if move:
        try:
            os.replace(source, target)
            return
        except OSError:  # another disk: copy, then remove the source below
            pass
    shutil.copy2(source, target)
    if move:
        source.unlink()


def file_problems(model: InstalledModel) -> list[str]:
    """What is wrong with an installed model's files, read from sizes and mtimes (fast; no hashing).

    A file is fine while its size is the manifest's and its (size, mtime) is the one recorded
    when it was installed or last verified against its sha256.
    """
    cache = _verified_cache(model.folder)
    problems = []
    for entry in model.manifest.files:
        path = model.folder / entry.path
        try:
            stat = path.stat()
        except OSError:
            problems.append(f"{entry.path} is missing")
            continue
        if stat.st_size != entry.size:
            how = "truncated" if stat.st_size < entry.size else "grown"
            problems.append(f"{entry.path} is {stat.st_size} bytes, {entry.size} when installed ({how})")
        elif cache.get(entry.path, {}).get("key") != f"{stat.st_size}:{stat.st_mtime_ns}" \
                or cache[entry.path].get("sha256") != entry.sha256:
            problems.append(f"{entry.path} was changed since it was installed")
    return problems


def _verified_cache(folder: Path) -> dict:
    try:
        cache = json.loads((folder / _VERIFIED).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return cache if isinstance(cache, dict) and all(isinstance(v, dict) for v in cache.values()) else {}


def add_folder(folder: str | Path, name: str | None = None, force: bool = False,
               move: bool = False) -> InstalledModel:
    """Register a folder made by `critic convert` (its files copied, or with `move` moved, into the registry)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadModelFile(f"{folder}: no such folder; give a folder made by `critic convert`")
    manifest = Manifest.read(folder / MANIFEST_NAME)
    verify_files(folder, manifest)
    if name:
        manifest.name = name
    return _install(manifest, folder, force, move=move)


def _quantization(header) -> str:
    from gguf import LlamaFileType

    try:
        return LlamaFileType(int(header.fields.get("general.file_type", -1))).name.removeprefix("MOSTLY_")
    except ValueError:
        return "unknown"


def add_files(llm: str | Path, mmproj: str | Path, name: str, force: bool = False,
              patch0: str | Path | None = None, move: bool = False,
              source: dict | None = None) -> InstalledModel:
    """Register GGUF files made elsewhere under `name`: an LLM and its mmproj, and for the ``exact``
    layout `critic convert` writes, the patch-0 mmproj beside the (rotated) main one."""
    llm, mmproj = Path(llm), Path(mmproj)
    patch0 = Path(patch0) if patch0 else None
    llm_header, mm_header = check_pair(llm, mmproj)
    fields = mm_header.fields
    layout = str(fields.get("critic.class_token_layout", "stock"))
    if layout == "patch0":
        raise UsageError(f"{mmproj} is the patch-0 mmproj of an exact conversion: give it with --patch0 "
                         "and the other mmproj (…mmproj-F16.gguf) with --mmproj")
    patch0_entry = None
    if patch0 is not None:
        check_patch0(mm_header, check_mmproj(patch0))  # the test the engine makes of the pair
        patch0_entry = ModelFile(patch0.name, file_sha256(patch0), patch0.stat().st_size,
                                 _quantization(read_header(patch0)))
        layout = "exact"
    manifest = Manifest(
        name=name,
        llm=ModelFile(llm.name, file_sha256(llm), llm.stat().st_size, _quantization(llm_header)),
        mmproj=ModelFile(mmproj.name, file_sha256(mmproj), mmproj.stat().st_size, _quantization(mm_header)),
        patch0=patch0_entry,
        image={"size": fields["clip.vision.image_size"], "patch": fields["clip.vision.patch_size"],
               "mean": fields["clip.vision.image_mean"], "std": fields["clip.vision.image_std"],
               "preprocess": str(fields.get("critic.preprocess", "pad"))},
        source=source or {"llm": str(llm.resolve()), "mmproj": str(mmproj.resolve()),
                          **({"patch0": str(patch0.resolve())} if patch0 else {})},
        class_token_layout=layout,
        tokenizer_legacy=bool(llm_header.fields.get(LEGACY_KEY, False)),
    )
    names = [f.path for f in manifest.files]
    if len(set(names)) != len(names):
        raise UsageError("two of the files have the same name; rename one")
    return _install(manifest, None, force, sources=[llm, mmproj] + ([patch0] if patch0 else []), move=move)


def _install(manifest: Manifest, folder: Path | None, force: bool,
             sources: list[Path] | None = None, move: bool = False) -> InstalledModel:
    target = models_dir() / _slug(manifest.name)
    if target.exists() and not force:
        raise UsageError(f"a model named '{manifest.name}' is installed: add --force to replace it, or --name")
    staging = target.with_name(f".{target.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    verified = {}
    writing = staging
    try:
        staging.mkdir(parents=True)
        for entry, source in zip(manifest.files, sources or [folder / f.path for f in manifest.files]):
            writing = staging / entry.path
            _place(source, writing, move)
            stat = (staging / entry.path).stat()
            verified[entry.path] = {"key": f"{stat.st_size}:{stat.st_mtime_ns}", "sha256": entry.sha256}
        (staging / MANIFEST_NAME).write_text(manifest.to_json())
        (staging / _VERIFIED).write_text(json.dumps(verified))  # the sources were checked against these sha256
    except OSError as err:  # a full disk: one line, and no half-copied model left to be mistaken for one
        from critic.core.store import write_error

        shutil.rmtree(staging, ignore_errors=True)
        raise write_error(writing, err) from None
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    if not read_settings().get("default"):
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
    name = read_settings().get("default")
    return name if name and any(m.name == name for m in installed()) else None


def set_default(name: str) -> None:
    """Make `name` the model used when none is given."""
    find(name)
    save_settings({**read_settings(), "default": name})


def find(name: str | None = None) -> InstalledModel:
    """The model called `name`, or the default, or the only one.

    ModelNotFound only where no such model was installed; a damaged one that would have
    been used (asked for, the default, or all there is) is a BadModelFile naming it.
    """
    models, damaged = _scan()
    wanted = name or read_settings().get("default")
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
    if read_settings().get("default") == model.name:
        rest = installed()
        save_settings({**read_settings(), "default": rest[0].name if rest else None})


def verified(name: str | None = None) -> InstalledModel:
    """The model `find` picks, its files checked against the manifest (critic.engine loads it)."""
    model = find(name)
    verify_files(model.folder, model.manifest)
    return model
