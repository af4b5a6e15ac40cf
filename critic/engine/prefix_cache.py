"""The persistent prefix cache: a painting's evaluated prompt, kept on disk.

The first question about a painting pays for the CLIP encode(s) and the prefill of ~640
positions through the LLM; every later one — another `critic analyze` of it, reopening it
in `critic chat`, `critic chat --resume` — restores llama.cpp's sequence state instead
(``llama_state_seq_get_data`` / ``llama_state_seq_set_data``: the KV cache of those
positions), which is a file read.

What an entry holds: the system prompt and the image (the *prefix*), and after them the
last first question asked about the painting (the *tail*: its token ids, and the logits
after its last token). The same question again — `critic analyze` run twice, the common
case — restores the prompt whole and samples its first token from the kept logits, so it
evaluates nothing (at 7B on two cores the question's ~20 tokens alone took 1 s, as long as
the restore). Another question drops the tail's positions and is read after the prefix, as
without the cache; either way the answer is the one computed without it, bit for bit. The
entry then keeps the newest first question.

An entry is keyed by everything the state depends on: the model's files (LLM, mmproj and
patch-0 mmproj sha256), the image-token layout and preprocessing, the prompt format and
the text before the image, the tokenizer's setting, the context size and the KV-cache
type, and the painting's sha256. It is one file: a header line (JSON with the key, the
position counts, the payload's size and CRC-32, and a CRC-32 of the header itself) and the
payload (the tail's ids as int32, its logits as float32, then llama.cpp's state), written
to a temporary name and renamed.

Nothing in an entry is trusted: the header's length is bounded before it is read, each of
its fields is checked for type and range (the sizes against the file's, the position counts
against each other and the context), both checksums are verified before anything is handed
to llama.cpp, and the engine then checks the position count against the state llama.cpp
restored and the logits against its vocabulary. An entry that fails any of these, or
anything else in an entry's place (a folder, a FIFO), is deleted, and `DamagedEntry` says
why in one line; the painting is then encoded again. The folder is bounded (least recently
used first out; default `DEFAULT_LIMIT_GB`, `critic cache limit GB`); `critic cache
info|clear`.

Who writes: `critic chat` and `critic analyze` of one painting keep new entries; a batch
(`critic analyze DIR`, `critic eval generate`) only restores what is there, since writing
and evicting ~330 MB for each of thousands of paintings seen once would cost time and disk
wear for nothing.

At 7B shapes an entry is 2 (K and V) × 32 layers × 4096 × 2 bytes (F16) = 512 KiB per
position, about 330 MB for the ~640 positions of the paper's prompt with the release
tokenizer (bench/real_size.py), plus 128 KB of logits.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

from critic.core.files import NotRegular, open_regular
from critic.core.paths import cache_dir as paths_cache_dir
from critic.core.paths import data_dir

MAGIC = b"critic-prefix 3\n"
"""Version 3 added the tail (the first question and its logits), version 2 the header's own checksum;
entries of an earlier version are dropped as damaged and rebuilt."""
DEFAULT_LIMIT_GB = 4.0
_SUFFIX = ".kv"
_MAX_HEADER = 1024
"""A header line is ~200 bytes; a longer one is damage, refused before it is read whole."""
_FIELDS = {"key": str, "n_tokens": int, "prefix": int, "tail": int, "n_logits": int, "size": int, "crc32": int,
           "check": int}
_ID = 4
"""Bytes of one tail token id (int32) and of one logit (float32)."""


def cache_dir() -> Path:
    """Where this cache's files live (`critic.core.paths.cache_dir`)."""
    return paths_cache_dir("prefix")


def _limit_path() -> Path:
    return data_dir() / "cache-limit.json"


def limit_bytes() -> int:
    """The cache's size bound in bytes."""
    try:
        gigabytes = float(json.loads(_limit_path().read_text())["gb"])
    except (OSError, ValueError, KeyError, TypeError):
        gigabytes = DEFAULT_LIMIT_GB
    return int(gigabytes * (1 << 30))


def set_limit(gigabytes: float) -> None:
    """Bound the cache to `gigabytes` (0 keeps nothing)."""
    from critic.core.store import write_atomic

    write_atomic(_limit_path(), json.dumps({"gb": gigabytes}) + "\n")


def entry_key(fingerprint: dict, image_sha256: str) -> str:
    """The key of one painting's prefix under one model and set-up."""
    text = json.dumps({**fingerprint, "image": image_sha256}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Entry:
    """A restored prompt: llama.cpp's sequence state and how many positions it holds, of which the
    first `prefix` are the system prompt and the image and the rest the token ids `tail`, after
    which llama.cpp gave `logits` (empty when there is no tail)."""

    state: memoryview
    n_tokens: int
    prefix: int = 0
    tail: tuple[int, ...] = ()
    logits: object = None
    """float32 numpy array of the vocabulary's size, or None."""

    def __post_init__(self) -> None:
        self.prefix = self.prefix or self.n_tokens


class DamagedEntry(Exception):
    """A cache entry that did not hold up, already deleted; `str(err)` is the line that tells the user."""


def _header_check(header: dict) -> int:
    """The CRC-32 of a header's fields other than its own checksum."""
    return zlib.crc32(json.dumps({k: v for k, v in header.items() if k != "check"}, sort_keys=True).encode())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class PrefixCache:
    """One folder of entries, bounded by `limit` bytes."""

    def __init__(self, folder: Path | None = None, limit: int | None = None, writable: bool = True) -> None:
        """`writable` False: restore what is there, keep nothing new (batches of paintings seen once)."""
        self.folder = folder or cache_dir()
        self.limit = limit_bytes() if limit is None else limit
        self.writable = writable

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}{_SUFFIX}"

    def load(self, key: str, max_tokens: int | None = None) -> Entry | None:
        """The entry for `key`, or None when there is none. An entry that does not hold up (see the
        module's notes; `max_tokens`: the most positions it may hold, the context size) is deleted
        and raises `DamagedEntry`."""
        path = self._path(key)
        try:
            handle = open_regular(path)
        except NotRegular as err:
            if err.kind == "missing":
                return None
            self.drop(key, "a folder in its place" if err.kind == "folder" else str(err))
        with handle:
            try:
                entry = self._read(handle, key, max_tokens)
            except (OSError, ValueError) as err:
                problem = err
            else:
                os.utime(path)  # recently used
                return entry
        self.drop(key, str(problem))

    @staticmethod
    def _read(handle, key: str, max_tokens: int | None) -> Entry:
        """The entry in the open file `handle`; ValueError naming the first thing that does not hold up."""
        import numpy as np

        size = os.fstat(handle.fileno()).st_size
        if handle.read(len(MAGIC)) != MAGIC:
            raise ValueError("not a prefix entry of this version")
        line = handle.readline(_MAX_HEADER)
        if not line.endswith(b"\n"):
            raise ValueError("its header is cut or too long")
        try:
            header = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError("its header is not JSON") from None
        if not isinstance(header, dict) or set(header) != set(_FIELDS) or any(
                type(header[name]) is not kind for name, kind in _FIELDS.items()):
            raise ValueError("its header lacks fields or has wrong types")
        if header["check"] != _header_check(header):
            raise ValueError("its header's checksum does not match")
        if header["key"] != key:
            raise ValueError("it holds another key")
        payload = size - len(MAGIC) - len(line)
        if header["size"] != payload:
            raise ValueError(f"its header promises {header['size']} bytes of state, the file holds {payload}")
        n, prefix, tail, n_logits = (header[name] for name in ("n_tokens", "prefix", "tail", "n_logits"))
        if n < 1 or (max_tokens is not None and n > max_tokens):
            raise ValueError(f"it records {n} positions, and the context holds {max_tokens}")
        if prefix < 1 or tail < 0 or prefix + tail != n or n_logits < 0 or (n_logits > 0) != (tail > 0):
            raise ValueError(f"its position counts do not add up ({prefix} + {tail} ≠ {n}, {n_logits} logits)")
        extra = _ID * (tail + n_logits)
        if extra >= payload:
            raise ValueError(f"its tail takes {extra} of the {payload} bytes, leaving no state")
        data = bytearray(payload)
        if handle.readinto(data) != payload or zlib.crc32(data) != header["crc32"]:
            raise ValueError("its state's checksum does not match")
        view = memoryview(data)
        ids = np.frombuffer(view[: _ID * tail], dtype="<i4")
        logits = np.frombuffer(view[_ID * tail: extra], dtype="<f4") if n_logits else None
        if ids.size and ids.min() < 0:
            raise ValueError("its tail holds negative token ids")
        if logits is not None and not np.isfinite(logits).all():
            raise ValueError("its logits are not all finite")
        return Entry(view[extra:], n, prefix, tuple(int(i) for i in ids), logits)

    def drop(self, key: str, why: str) -> None:
        """Delete `key`'s entry (whatever is in its place) and raise `DamagedEntry` saying `why`."""
        _remove(self._path(key))
        raise DamagedEntry(f"a damaged prefix cache entry ({why}) was deleted: the painting is encoded again")

    def store(self, key: str, state, n_tokens: int, tail: tuple[int, ...] = (), logits=None) -> None:
        """Keep `state` (a bytes-like object holding `n_tokens` positions, the last ones `tail` after
        which llama.cpp gave `logits`) under `key` atomically, then evict the least recently used
        past the limit."""
        import numpy as np

        from critic.core.store import atomic_path

        if not self.writable:
            return
        ids = np.asarray(tail, dtype="<i4").tobytes()
        scores = np.asarray(logits, dtype="<f4").tobytes() if tail else b""
        size = len(ids) + len(scores) + len(state)
        if size > self.limit:
            return
        header = {"key": key, "n_tokens": n_tokens, "prefix": n_tokens - len(tail), "tail": len(tail),
                  "n_logits": len(scores) // _ID, "size": size,
                  "crc32": zlib.crc32(state, zlib.crc32(scores, zlib.crc32(ids)))}
        header["check"] = _header_check(header)
        try:
            with atomic_path(self._path(key)) as tmp:
                with open(tmp, "wb") as handle:
                    handle.write(MAGIC + json.dumps(header).encode() + b"\n")
                    handle.write(ids)
                    handle.write(scores)
                    handle.write(state)
        except OSError:
            return  # a full disk (or a folder in the entry's place) costs the next run time, never this answer
        self.evict()

    def entries(self) -> list[Path]:
        """Entry files, least recently used first."""
        files = [p for p in self.folder.glob(f"*{_SUFFIX}") if p.is_file()]
        return sorted(files, key=lambda p: p.stat().st_mtime)

    def size(self) -> int:
        """Bytes on disk."""
        return sum(p.stat().st_size for p in self.entries())

    def evict(self) -> int:
        """Delete the least recently used entries until the folder fits the limit; return how many."""
        files = self.entries()
        total = sum(p.stat().st_size for p in files)
        removed = 0
        while files and total > self.limit:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink(missing_ok=True)
            removed += 1
        return removed

    def clear(self) -> int:
        """Delete every entry; return how many."""
        files = self.entries()
        for path in files:
            path.unlink(missing_ok=True)
        return len(files)
