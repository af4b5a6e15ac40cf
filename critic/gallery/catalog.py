"""The pictures of a folder, each with a thumbnail and its measured facts, cached on disk by sha256.

Opening a folder of a thousand paintings must not wait for a thousand decodes: `scan`
only lists the files, and `GalleryCache.entry` fills one entry in (from the cache, or by
decoding and measuring) in the gallery's worker thread. A cache entry is two files named
by the picture's sha256 — a small PNG thumbnail and a JSON record of the facts — so a
renamed, moved or copied painting is found again, and an edited one is measured anew.
The JSON is written last (both atomically): its presence means the entry is whole. The
record carries `MEASURE_VERSION`, a digest of the measuring code, so facts measured by
another version of critic are measured again rather than shown.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from PIL import Image

from critic.core.errors import BadImage
from critic.core.images import file_sha256, iter_image_paths, load_image
from critic.core.names import safe_name
from critic.core.paths import cache_dir as paths_cache_dir
from critic.core.store import write_atomic
from critic.facts.measure import MEASURING_MODULES, Facts, measure
from critic.facts.working import WORK_SIDE
from critic.gallery.facts_io import facts_from_dict

THUMB_SIDE = 256
"""Longest side of a cached thumbnail: enough for the detail pane in a graphics terminal."""


@lru_cache(maxsize=1)
def measure_version() -> str:
    """A digest of the modules whose code decides the facts: a change there invalidates the cache."""
    import importlib

    digest = hashlib.sha256()
    for name in MEASURING_MODULES:
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Where this cache's files live (`critic.core.paths.cache_dir`)."""
    return paths_cache_dir("gallery")


@dataclass(eq=False)
class Entry:
    """One picture of the gallery; `sha256`, `facts` and `thumbnail` stay None until it is loaded.

    Compared by identity: the grid, the marks and the worker all hold the same objects."""

    path: Path
    sha256: str | None = None
    facts: Facts | None = None
    thumbnail: Image.Image | None = None
    size: tuple[int, int] | None = None  # the file's own pixel size
    format: str = ""
    error: str | None = None
    cached: bool = False  # True when the facts came from the disk cache
    analyses: list[dict] = field(default_factory=list)  # records of `critic analyze --out`, oldest first

    @property
    def loaded(self) -> bool:
        return self.facts is not None or self.error is not None

    @property
    def name(self) -> str:
        """The file's name as shown: control characters escaped (critic.core.names)."""
        return safe_name(self.path.name)


def scan(folder: Path) -> list[Entry]:
    """Every picture under `folder` (recursively, sorted), not yet loaded."""
    return [Entry(path) for path in iter_image_paths([folder])]


class GalleryCache:
    """Thumbnails and facts by image sha256, in `folder` (default: critic's cache directory)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir()

    def _paths(self, sha256: str) -> tuple[Path, Path]:
        return self.folder / f"{sha256}.json", self.folder / f"{sha256}.png"

    def load(self, sha256: str) -> tuple[Facts, Image.Image, dict] | None:
        """The cached facts, thumbnail and record for `sha256`, or None (a damaged entry is removed)."""
        record_path, thumb_path = self._paths(sha256)
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            if record.get("measure") != measure_version() or record.get("sha256") != sha256:
                return None
            facts = facts_from_dict(record["facts"])
            with Image.open(thumb_path) as opened:
                thumb = opened.convert("RGB")
            return facts, thumb, record
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            record_path.unlink(missing_ok=True)
            thumb_path.unlink(missing_ok=True)
            return None

    def store(self, sha256: str, facts: Facts, thumb: Image.Image, size: tuple[int, int], fmt: str) -> None:
        """Keep an entry (thumbnail first, then the record that says it is whole); a full disk is ignored."""
        record_path, thumb_path = self._paths(sha256)
        record = {"sha256": sha256, "measure": measure_version(), "size": list(size), "format": fmt,
                  "facts": facts.to_dict()}
        try:
            buffer = BytesIO()
            thumb.save(buffer, "PNG", optimize=False)
            write_atomic(thumb_path, buffer.getvalue())
            write_atomic(record_path, json.dumps(record, ensure_ascii=False))
        except OSError:
            return  # the next open measures again; this one has its answer

    def fill(self, entry: Entry) -> Entry:
        """Load `entry` in place: from the cache when its sha256 is there, else decode, measure and keep."""
        try:
            entry.sha256 = file_sha256(entry.path)
        except OSError as err:
            entry.error = f"{safe_name(entry.path)}: cannot be read ({err.strerror or err})"
            return entry
        hit = self.load(entry.sha256)
        if hit is not None:
            entry.facts, entry.thumbnail, record = hit
            entry.size, entry.format, entry.cached = tuple(record["size"]), record.get("format", ""), True
            return entry
        try:
            # A JPEG decodes at 1/2–1/8 scale straight away: the facts run on 320 px anyway.
            image = load_image(entry.path, draft=2 * WORK_SIDE)
        except BadImage as err:
            entry.error = safe_name(err)
            return entry
        entry.facts = measure(image.image)
        thumb = image.image.copy()
        thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
        entry.thumbnail, entry.size, entry.format = thumb, image.original_size, image.format
        # The file may have changed between the two reads: keep it under the bytes actually measured.
        entry.sha256 = image.sha256
        self.store(image.sha256, entry.facts, thumb, image.original_size, image.format)
        return entry
