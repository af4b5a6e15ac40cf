"""`critic models pull REF`: a converted model from a hub repository (or a folder), checked, then installed.

REF is ``hf:OWNER/REPO[@REVISION][:QUANT]``, the repository's address on the hub
(``https://huggingface.co/OWNER/REPO[/tree/REVISION]``), or a local folder.

What a repository (or folder) may hold, in order of preference:

- one or more critic model folders: a ``critic.json`` with the GGUF files it names, at the top or
  in a sub-folder per quantization (what `critic models push` writes: ``Q4_K_M/critic.json`` …);
  QUANT picks one by the LLM's quantization;
- GGUF files without a manifest (as llama.cpp's ``-hf`` repositories are laid out): QUANT picks
  the LLM by its file name; the mmproj is the file with ``mmproj`` in its name.

Every file is checked before anything is registered: its size and the hub's sha256 (LFS) or git
blob id as it lands (critic.models.hub), then the manifest's sha256 and the GGUF header checks
(critic.engine.registry). Downloads go to a hidden folder beside the installed models and are
moved into place, so the files take disk once and stay out of the hub's shared cache.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from critic.core.errors import BadModelFile, UsageError
from critic.core.manifest import MANIFEST_NAME, Manifest
from critic.core.paths import models_dir
from critic.engine import registry
from critic.models.hub import RemoteFile, fetch, gb, listing

DEFAULT_QUANT = "Q4_K_M"
HUB_HOSTS = ("huggingface.co", "hf.co", "www.huggingface.co")


@dataclass(frozen=True)
class Ref:
    """What `pull` was asked for: a hub repository or a folder, with an optional revision and quantization."""

    repo: str | None = None
    folder: Path | None = None
    revision: str | None = None
    quant: str | None = None

    @property
    def name(self) -> str:
        """The default name to install under: the repository's (or folder's) own name."""
        return self.repo.split("/")[-1] if self.repo else self.folder.resolve().name


_REPO = r"[A-Za-z0-9][\w.-]*/[\w.-]+"


def parse_ref(text: str, quant: str | None = None) -> Ref:
    """Read REF; `quant` (from --quant) is used when REF names none."""
    if text.startswith("hf:"):
        m = re.fullmatch(rf"({_REPO})(?:@([^:]+))?(?::([\w.-]+))?", text[3:])
        if not m:
            raise UsageError(f"'{text}': write hf:OWNER/REPO, hf:OWNER/REPO:QUANT or hf:OWNER/REPO@REVISION:QUANT")
        return Ref(repo=m.group(1), revision=m.group(2), quant=m.group(3) or quant)
    if text.startswith(("https://", "http://")):
        from critic.models.hub import endpoint

        url = urlsplit(text)
        if url.hostname not in HUB_HOSTS + (urlsplit(endpoint()).hostname,):
            raise UsageError(f"'{text}': only a hub repository's address is understood "
                             "(https://huggingface.co/OWNER/REPO); download other files yourself and give the folder")
        m = re.fullmatch(rf"/({_REPO})(?:/(?:tree|blob|resolve)/([^/]+).*)?/?", url.path)
        if not m:
            raise UsageError(f"'{text}': not a repository's address (https://huggingface.co/OWNER/REPO)")
        return Ref(repo=m.group(1), revision=m.group(2), quant=quant)
    folder = Path(text)
    if not folder.is_dir():
        hint = " (a hub repository is written hf:OWNER/REPO)" if re.fullmatch(_REPO + r"(:[\w.-]+)?", text) else ""
        raise UsageError(f"'{text}': no such folder{hint}")
    return Ref(folder=folder, quant=quant)


@dataclass
class Choice:
    """The files to fetch and how to install them."""

    files: list[RemoteFile]
    manifest_dir: str | None = None
    """The sub-folder (of the repository or folder) holding the chosen critic.json; None: bare GGUF files."""
    llm: str = ""
    mmproj: str = ""
    patch0: str | None = None
    quant: str = ""


def _quant_list(quants) -> str:
    return ", ".join(sorted(set(quants))) or "none"


def choose(files: list[RemoteFile], quant: str | None, where: str, read_manifest) -> Choice:
    """Pick what to fetch from a listing. `read_manifest(path)` returns the Manifest stored at `path`."""
    by_path = {f.path: f for f in files}
    manifests = sorted(p for p in by_path if PurePosixPath(p).name == MANIFEST_NAME)
    if manifests:
        found = {p: read_manifest(p) for p in manifests}
        wanted = quant or (DEFAULT_QUANT if any(m.quantization == DEFAULT_QUANT for m in found.values())
                           else None)
        if wanted:
            picks = [p for p, m in found.items() if m.quantization.upper() == wanted.upper()]
        else:
            picks = list(found)
        if not picks:
            raise UsageError(f"{where} has no {wanted} model; available: "
                             f"{_quant_list(m.quantization for m in found.values())} (pick one with :QUANT or --quant)")
        if len(picks) > 1:
            raise UsageError(f"{where} holds several models ({_quant_list(found[p].quantization for p in picks)}): "
                             "pick one with :QUANT")
        path = picks[0]
        manifest = found[path]
        folder = str(PurePosixPath(path).parent)
        folder = "" if folder == "." else folder + "/"
        missing = [e.path for e in manifest.files if folder + e.path not in by_path]
        if missing:
            raise BadModelFile(f"{where}: {path} names {', '.join(missing)}, which the repository does not hold")
        return Choice([by_path[path]] + [by_path[folder + e.path] for e in manifest.files],
                      manifest_dir=folder, quant=manifest.quantization)
    ggufs = [p for p in by_path if p.lower().endswith(".gguf")]
    if not ggufs:
        listed = ", ".join(sorted(by_path)[:8]) or "nothing"
        raise BadModelFile(f"{where} holds no critic.json and no GGUF files (it has: {listed})")
    mmprojs = [p for p in ggufs if "mmproj" in PurePosixPath(p).name.lower()]
    llms = [p for p in ggufs if p not in mmprojs]
    if not mmprojs:
        raise BadModelFile(f"{where} has no mmproj GGUF, the vision half critic needs for a picture "
                           f"(it has: {', '.join(sorted(ggufs))})")
    if not llms:
        raise BadModelFile(f"{where} has an mmproj but no LLM GGUF (it has: {', '.join(sorted(ggufs))})")
    quants = {p: _quant_in_name(p) for p in llms}
    wanted = quant or (DEFAULT_QUANT if DEFAULT_QUANT in quants.values() else None)
    picks = [p for p, q in quants.items() if wanted and q == wanted.upper()] if wanted else llms
    if not picks:
        raise UsageError(f"{where} has no {wanted} LLM; available: {_quant_list(q or '?' for q in quants.values())}")
    if len(picks) > 1:
        raise UsageError(f"{where} holds several LLMs ({_quant_list(q or '?' for q in quants.values())}): "
                         "pick one with :QUANT")
    patch0 = [p for p in mmprojs if "patch0" in p.lower()]
    mains = sorted((p for p in mmprojs if p not in patch0), key=lambda p: ("f16" not in p.lower(), p))
    chosen = [picks[0], mains[0]] + patch0[:1]
    return Choice([by_path[p] for p in chosen], llm=picks[0], mmproj=mains[0],
                  patch0=patch0[0] if patch0 else None, quant=quants[picks[0]] or "?")


def _quant_in_name(path: str) -> str | None:
    m = re.search(r"(?:^|[._-])(F16|F32|BF16|Q\d(?:_[A-Z0-9]+)*)(?=[._-]|\.gguf$)", PurePosixPath(path).name.upper())
    return m.group(1) if m else None


def staging_dir(ref: Ref) -> Path:
    """Where a pull of `ref` downloads to: hidden beside the installed models (same disk: installing is a rename)."""
    return models_dir() / ".pull" / ref.repo.replace("/", "--")


def pull(ref: Ref, name: str | None = None, force: bool = False, show_progress: bool = True,
         say=lambda text: print(text, file=sys.stderr)) -> registry.InstalledModel:
    """Fetch, check and install what `ref` names; return the installed model."""
    name = name or ref.name
    target = models_dir() / registry._slug(name)
    if target.exists() and not force:
        raise UsageError(f"a model named '{name}' is installed: add --force to replace it, or --name")
    if ref.folder is not None:
        return _pull_folder(ref, name, force)
    from critic.core.store import output_lock

    stage = staging_dir(ref)
    stage.mkdir(parents=True, exist_ok=True)
    with output_lock(stage, "models pull"):
        sha, files = listing(ref.repo, ref.revision)
        where = ref.repo
        manifests = [f for f in files if PurePosixPath(f.path).name == MANIFEST_NAME]
        fetch(ref.repo, sha, manifests, stage, show_progress=False, space=False)
        choice = choose(files, ref.quant, where, lambda p: Manifest.read(stage / p))
        size = sum(f.size for f in choice.files)
        say(f"pulling {ref.repo}@{sha[:12]} ({choice.quant}, {len(choice.files)} files, {gb(size)}) into {stage}; "
            "critic keeps its own copy (the hub's shared cache is not used), moved into place once checked")
        fetch(ref.repo, sha, choice.files, stage, show_progress)
        source = {"pulled_from": f"hf:{ref.repo}@{sha}"}
        model = _install(stage, choice, name, force, source, move=True)
    shutil.rmtree(stage, ignore_errors=True)
    return model


def _install(folder: Path, choice: Choice, name: str, force: bool, source: dict,
             move: bool) -> registry.InstalledModel:
    if choice.manifest_dir is not None:
        sub = folder / choice.manifest_dir
        manifest = Manifest.read(sub)
        manifest.source = {**manifest.source, **source}
        hashed = {f.path: f.sha256 for f in choice.files if f.sha256}
        registry.remember_hashes(sub, {e.path: hashed[choice.manifest_dir + e.path] for e in manifest.files
                                       if choice.manifest_dir + e.path in hashed})
        registry.verify_files(sub, manifest)
        (sub / MANIFEST_NAME).write_text(manifest.to_json())
        return registry.add_folder(sub, name, force, move=move)
    return registry.add_files(folder / choice.llm, folder / choice.mmproj, name, force,
                              patch0=folder / choice.patch0 if choice.patch0 else None, move=move,
                              source={**source, "llm": choice.llm, "mmproj": choice.mmproj})


def _pull_folder(ref: Ref, name: str, force: bool) -> registry.InstalledModel:
    folder = ref.folder
    files = [RemoteFile(p.relative_to(folder).as_posix(), p.stat().st_size)
             for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    choice = choose(files, ref.quant, str(folder), lambda p: Manifest.read(folder / p))
    if choice.manifest_dir is not None:
        return registry.add_folder(folder / choice.manifest_dir, name, force)
    return _install(folder, choice, name, force, {"folder": str(folder.resolve())}, move=False)
