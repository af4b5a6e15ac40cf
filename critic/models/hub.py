"""A model hub through huggingface_hub: list a repository, fetch chosen files into a folder, check them.

huggingface_hub (the ``hub`` extra) is imported inside the functions, so critic's runtime stays
light. ``HF_ENDPOINT`` is read when a command runs and passed to every call (huggingface_hub reads
it once, at import); ``HF_TOKEN`` and ``HF_HUB_OFFLINE`` are huggingface_hub's own.

Files are fetched one at a time into a plain folder (huggingface_hub's ``local_dir`` mode: the
hub's shared cache is not used, so a file takes disk once), each checked as soon as it lands:
its size, and the hub's sha256 for LFS files or the git blob id for small ones. A file once
checked is recorded (size and mtime) in ``.checked.json`` and never fetched or hashed again, so a
killed run resumes where it stopped. huggingface_hub 2.x writes each download to a temporary
name unique to its process: a dropped connection resumes with a ``Range`` request within the
run, but a file cut short by a kill starts again from its first byte on the rerun (the killed
run's temporary is removed then).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from critic.core.errors import BadModelFile, CriticError, HubError, NotEnoughSpace, require
from critic.core.images import file_sha256

HEADROOM = 256 * 1024 * 1024
"""Free space kept beyond what the files need (file-system metadata, the temporary of a finished file)."""
CHECKED = ".checked.json"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a hub repository at one commit."""

    path: str
    size: int
    sha256: str | None = None
    """The LFS object's sha256 (large files); None for a file stored as a git blob."""
    blob_id: str | None = None
    """The git blob id (sha1 of ``blob <size>\\0<bytes>``) of a file stored in git."""


def endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` as set now, else huggingface_hub's default."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _hub():
    require("huggingface_hub", "hub")
    import huggingface_hub

    return huggingface_hub


def progress_bars(on: bool) -> None:
    """Turn huggingface_hub's progress bars on or off (off when stderr is not a terminal)."""
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    (enable_progress_bars if on else disable_progress_bars)()


@contextlib.contextmanager
def hub_errors(repo: str) -> Iterator[None]:
    """Turn huggingface_hub's and the network's exceptions into one-line HubErrors naming `repo`."""
    hub = _hub()
    from huggingface_hub import errors

    try:
        yield
    except CriticError:
        raise
    except errors.GatedRepoError:
        raise HubError(f"{repo} is gated: accept its terms on its page at {endpoint()}, then set HF_TOKEN") from None
    except errors.RepositoryNotFoundError:
        raise HubError(f"{repo}: no such repository at {endpoint()} (a private one needs HF_TOKEN)") from None
    except errors.RevisionNotFoundError:
        raise HubError(f"{repo}: no such revision") from None
    except (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError) as err:
        if hub.constants.HF_HUB_OFFLINE:
            raise HubError(f"{repo}: HF_HUB_OFFLINE is set, and this needs the hub; unset it to download "
                           "(models already installed run offline)") from None
        raise HubError(f"{repo}: cannot reach {endpoint()} ({_first_line(err)})") from None
    except errors.HfHubHTTPError as err:
        raise HubError(f"{repo}: the hub answered {_first_line(err)}") from None
    except OSError as err:  # a full disk, or connection refused, DNS, TLS (httpx's own errors: below)
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise NotEnoughSpace(f"{repo}: the disk filled while downloading ({err.strerror}); free some space and "
                                 "run the command again (finished files are kept)") from None
        raise HubError(f"{repo}: cannot reach {endpoint()} ({_first_line(err)})") from None
    except Exception as err:
        if type(err).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2"):
            raise HubError(f"{repo}: cannot reach {endpoint()} ({type(err).__name__}: {_first_line(err)})") from None
        raise


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def listing(repo: str, revision: str | None = None) -> tuple[str, list[RemoteFile]]:
    """(commit id, every file) of `repo` at `revision` (default: the main branch), as the hub lists them."""
    hub = _hub()
    from huggingface_hub.hf_api import RepoFile

    if hub.constants.HF_HUB_OFFLINE:
        raise HubError(f"{repo}: HF_HUB_OFFLINE is set, and this needs the hub; unset it to download "
                       "(models already installed run offline)")
    api = hub.HfApi(endpoint=endpoint())
    with hub_errors(repo):
        sha = api.repo_info(repo, revision=revision or "main").sha
        files = [RemoteFile(f.path, f.size, f.lfs.sha256 if f.lfs else None, f.blob_id)
                 for f in api.list_repo_tree(repo, recursive=True, revision=sha)
                 if isinstance(f, RepoFile)]
    return sha, files


def _checked(folder: Path) -> dict:
    try:
        return json.loads((folder / CHECKED).read_text())
    except (OSError, ValueError):
        return {}


def _stat_key(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def is_done(folder: Path, file: RemoteFile) -> bool:
    """`file` is in `folder`, checked, and unchanged since."""
    path = folder / file.path
    return path.is_file() and _checked(folder).get(file.path) == _stat_key(path)


def free_space(folder: Path) -> int:
    """Bytes free on the disk that holds `folder` (or would: its nearest existing parent)."""
    probe = Path(folder).resolve()
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


def gb(n: float) -> str:
    """Bytes as GB with one decimal (MB under a gigabyte), decimal units as the hub shows sizes."""
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def check_space(folder: Path, needed: int, what: str) -> None:
    """Refuse, before anything is written, when `needed` bytes (plus headroom) do not fit where `folder` lives."""
    free = free_space(folder)
    if needed + HEADROOM > free:
        raise NotEnoughSpace(f"{what} needs {gb(needed + HEADROOM)} free in {folder}, and the disk has "
                             f"{gb(free)}: free some space, or put it on a larger disk (CRITIC_HOME, or --work DIR)")


def clear_temporaries(folder: Path) -> None:
    """Remove what killed runs left half-written in `folder` (huggingface_hub's ``*.incomplete``)."""
    downloads = folder / ".cache" / "huggingface" / "download"
    if downloads.is_dir():
        for stale in downloads.rglob("*.incomplete"):
            stale.unlink(missing_ok=True)


def fetch(repo: str, sha: str, files: list[RemoteFile], folder: Path, show_progress: bool = True,
          space: bool = True) -> None:
    """Download `files` of `repo` at commit `sha` into `folder`, each checked; skip those already done.

    Free space is checked for all that is still missing before the first byte (`space`; off for the
    few kilobytes of manifests read to choose what to fetch). A file whose bytes do not match the
    hub's checksum is deleted (with its download record) and refused.
    """
    hub = _hub()
    folder.mkdir(parents=True, exist_ok=True)
    clear_temporaries(folder)
    todo = [f for f in files if not is_done(folder, f)]
    if space:
        check_space(folder, sum(f.size for f in todo), f"downloading {len(todo)} files of {repo}")
    if not todo:
        return
    if not show_progress:
        progress_bars(False)
    try:
        for file in todo:
            with hub_errors(repo):
                hub.hf_hub_download(repo, file.path, revision=sha, local_dir=folder, endpoint=endpoint())
            check_file(folder, file)
    finally:
        if not show_progress:
            progress_bars(True)


def check_file(folder: Path, file: RemoteFile) -> None:
    """`folder/file.path` has the hub's size and checksum; else it is deleted and BadModelFile raised."""
    path = folder / file.path
    size = path.stat().st_size
    if file.sha256:
        digest, expected, kind = file_sha256(path), file.sha256, "sha256"
    else:
        digest, expected, kind = _git_blob_id(path), file.blob_id, "git blob id"
    if size != file.size or (expected and digest != expected):
        forget(folder, file.path)
        found = f"{size} bytes" if size != file.size else f"{kind} {digest[:12]}…"
        raise BadModelFile(f"{file.path}: the download does not match the hub ({found}; the hub lists "
                           f"{file.size} bytes, {kind} {(expected or '?')[:12]}…): deleted, nothing installed; "
                           "run the command again to fetch it again")
    checked = _checked(folder)
    checked[file.path] = _stat_key(path)
    (folder / CHECKED).write_text(json.dumps(checked, indent=1))


def forget(folder: Path, path: str) -> None:
    """Delete a downloaded file and huggingface_hub's record of it, so the next run fetches it again."""
    (folder / path).unlink(missing_ok=True)
    (folder / ".cache" / "huggingface" / "download" / f"{path}.metadata").unlink(missing_ok=True)


def _git_blob_id(path: Path) -> str:
    data = path.read_bytes()  # only small files are git blobs (the hub puts large ones in LFS)
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
