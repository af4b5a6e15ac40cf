"""The GalleryGPT LoRA from wherever the user has it: a folder, a zip, or the authors' Google Drive link.

The release is a Google Drive folder (GalleryGPT's README links it). Drive has no stable download
API for folders; `gdown` (the ``hub`` extra) is the maintained downloader that handles its pages and
resumes files. Without it, the user is told the one manual step. Whatever arrives, the LoRA folder
is the one holding ``adapter_config.json`` (a training ``checkpoint-N/`` copy inside it is skipped:
it lacks the trained projector).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

from critic.core.errors import BadCheckpoint, UsageError
from critic.core.images import file_sha256

RELEASE_LINK = "https://drive.google.com/drive/folders/1qLbnxxBwZ15ejaHES_LRCi2Fahv3Od5G"
"""GalleryGPT's LoRA checkpoint, as its README links it."""
HASHED = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "non_lora_trainables.bin",
          "config.json")


def is_drive_link(text: str) -> bool:
    """A Google Drive address (a shared file or folder)."""
    return text.startswith(("https://drive.google.com/", "http://drive.google.com/", "https://docs.google.com/"))


def find_lora(root: Path) -> Path:
    """The one folder under `root` (or `root` itself) that is a LoRA folder."""
    found = sorted({p.parent for p in root.rglob("adapter_config.json")
                    if not p.parent.name.startswith("checkpoint-")})
    if (root / "adapter_config.json").exists():
        return root
    if len(found) == 1:
        return found[0]
    with_projector = [f for f in found if (f / "non_lora_trainables.bin").exists()]
    if len(with_projector) == 1:
        return with_projector[0]
    if not found:
        raise BadCheckpoint(f"{root}: no LoRA folder in it (a folder with adapter_config.json)")
    raise BadCheckpoint(f"{root}: several LoRA folders ({', '.join(str(f) for f in found)}); give the one to use")


def extract_zip(archive: Path, dest: Path) -> Path:
    """Unpack `archive` into `dest` (whole, or not at all; no member may land outside it)."""
    if dest.is_dir():
        return dest
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise BadCheckpoint(f"{archive}: not a zip archive that can be read ({err})") from None
    work = dest.with_name(f".{dest.name}.part")
    shutil.rmtree(work, ignore_errors=True)
    with bundle:
        for member in bundle.namelist():
            target = (work / member).resolve()
            if not target.is_relative_to(work.resolve()):
                raise BadCheckpoint(f"{archive}: member '{member}' would be written outside the folder; refused")
        bundle.extractall(work)
    os.replace(work, dest)
    return dest


def fetch_drive(link: str, dest: Path) -> Path:
    """Download a Drive folder or file into `dest` through gdown (resuming); or say the manual step."""
    try:
        import gdown
    except ImportError:
        raise UsageError(
            f"the LoRA is on Google Drive ({link}): install gdown to fetch it (`pip install 'critic[hub]'`), "
            "or download the folder in a browser and give its path (or the zip) with --lora") from None
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if "/folders/" in link:
            gdown.download_folder(url=link, output=str(dest), quiet=False, resume=True)
        else:
            gdown.download(url=link, output=str(dest) + os.sep, quiet=False, resume=True)
    except Exception as err:  # gdown raises its own and requests' errors; each is one line for the user
        raise UsageError(f"could not download {link} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                         "download it in a browser and give the folder (or zip) with --lora") from None
    return dest


def lora_folder(source: str, work: Path) -> Path:
    """The LoRA folder for `source` (a folder, a .zip, or a Drive link), downloading or unpacking into `work`."""
    if is_drive_link(source):
        root = fetch_drive(source, work / "lora-download")
        zips = sorted(root.rglob("*.zip"))
        if zips and not any(root.rglob("adapter_config.json")):
            root = extract_zip(zips[0], work / "lora-unpacked")
        return find_lora(root)
    path = Path(source)
    if path.is_file() and zipfile.is_zipfile(path):
        return find_lora(extract_zip(path, work / "lora-unpacked"))
    if path.is_dir():
        return find_lora(path)
    raise UsageError(f"--lora {source}: no such folder or zip (or give the Google Drive link)")


def lora_digests(folder: Path) -> dict[str, str]:
    """sha256 of the LoRA's files that define the model (for the provenance record)."""
    return {name: file_sha256(folder / name) for name in HASHED if (folder / name).is_file()}


def digest_of(digests: dict[str, str]) -> str:
    """One sha256 standing for the LoRA: over its files' names and digests, in name order."""
    return hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(digests.items())).encode()).hexdigest()
