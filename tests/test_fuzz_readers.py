"""Property-based fuzzing of the two readers of untrusted binary files: the GGUF header reader and the
prefix-cache entry reader, over real files of the tiny model damaged at random (truncations, bit
flips, huge counts and lengths, crafted header fields).

Every call runs in a worker process whose address space is capped (RLIMIT_AS), under a per-call
timer and with tracemalloc measuring its peak, so a reader that loops or allocates what a file
merely declares fails the test instead of hanging or swapping the machine. Each call must end in
a clean refusal (BadModelFile, DamagedEntry) or a correct result.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import struct
import subprocess
import sys
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PEAK = 32 << 20
"""Most a call may allocate: the files are ~300 kB, and nothing they declare may be allocated."""

_WORKER = r"""
import hashlib, json, resource, signal, sys, tracemalloc
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from critic.core.errors import BadModelFile
from critic.core.gguf_check import read_header
from critic.engine.prefix_cache import DamagedEntry, PrefixCache

class TooSlow(BaseException):  # not an Exception: no reader may swallow it
    pass

def ring(*_):
    raise TooSlow()

signal.signal(signal.SIGALRM, ring)

def read(job):
    if job["kind"] == "gguf":
        h = read_header(job["path"])
        summary = repr((sorted(h.fields.items()), sorted(h.types.items()), sorted(h.tensors.items())))
        return {"ok": hashlib.sha256(summary.encode()).hexdigest()}
    entry = PrefixCache(Path(job["folder"]), limit=1 << 40).load(job["key"], job["max_tokens"])
    if entry is None:
        return {"ok": None}
    import numpy as np
    logits = b"" if entry.logits is None else entry.logits.tobytes()
    payload = np.asarray(entry.tail, dtype="<i4").tobytes() + logits + bytes(entry.state)  # as written
    return {"ok": [hashlib.sha256(payload).hexdigest(), entry.n_tokens]}

for line in sys.stdin:
    job = json.loads(line)
    tracemalloc.start()
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    try:
        out = read(job)
    except (BadModelFile, DamagedEntry) as err:
        out = {"refused": str(err)}
    except TooSlow:
        out = {"error": "still reading after 5 s"}
    except BaseException as err:
        out = {"error": f"{type(err).__name__}: {err}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        out["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(json.dumps(out), flush=True)
"""


class Worker:
    """The bounded reader process: one JSON job a line in, one JSON answer a line out."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})

    def __call__(self, **job) -> dict:
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        answer = self.process.stdout.readline() if ready else ""
        if not answer:
            self.process.kill()
            raise AssertionError(f"the reader died or hung on {job}: {self.process.stderr.read()[-2000:]}")
        result = json.loads(answer)
        assert "error" not in result, (job, result)
        assert result["peak"] < PEAK, (job, result)
        return result

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def worker():
    reader = Worker()
    yield reader
    reader.close()


# -- GGUF ----------------------------------------------------------------------------------------------


class Sample:
    """A real file for the fuzzer, shown by its name alone when hypothesis reports an example."""

    def __init__(self, name: str, **facts) -> None:
        self.name = name
        self.__dict__.update(facts)

    def __repr__(self) -> str:
        return self.name


@pytest.fixture(scope="module")
def gguf_files(tiny_gguf, worker):
    """Each of the tiny model's GGUFs: its bytes, where gguf-py (the reference) says the tensor data begins
    and ends, the offsets of the counts that shape the header (tensor and key counts, array lengths,
    dimension counts and sizes, tensor offsets) and of every string's length, and what the reader
    makes of the whole file."""
    from gguf import GGUFReader, GGUFValueType

    files = []
    for path in sorted(tiny_gguf.glob("*.gguf")):
        reference = GGUFReader(path)
        header, arrays, tensors, lengths = [8, 16], [], [], set()  # header: the tensor and key counts
        for field in reference.fields.values():
            if field.name.startswith("GGUF."):
                continue
            starts = [field.offset]
            for part in field.parts:
                starts.append(starts[-1] + part.nbytes)
            lengths.add(starts[0])  # the key's length
            if field.types[0] == GGUFValueType.ARRAY:
                arrays.append(starts[4])  # key length, key, type, item type, then the item count
                if field.types[1] == GGUFValueType.STRING:
                    lengths.update(starts[i] for i in range(5, len(field.parts), 2))
            elif field.types[0] == GGUFValueType.STRING:
                lengths.add(starts[3])
        for tensor in reference.tensors:
            parts = tensor.field.parts  # name length, name, dimension count, dimensions, type, offset
            starts = [tensor.field.offset]
            for part in parts:
                starts.append(starts[-1] + part.nbytes)
            lengths.add(starts[0])
            tensors += [starts[2], *range(starts[3], starts[4], 8), starts[5]]
        data_end = max(t.data_offset + t.n_bytes for t in reference.tensors)
        whole = worker(kind="gguf", path=str(path))
        assert "ok" in whole
        files.append(Sample(path.name, data=path.read_bytes(), data_offset=int(reference.data_offset),
                            data_end=data_end, counts=(arrays, tensors, header), lengths=sorted(lengths),
                            expected=whole["ok"]))
    return files


def _damage(sample: Sample, draw) -> tuple[bytes, str, int]:
    """(damaged bytes, how, the first byte changed)."""
    data = sample.data
    how = draw(st.sampled_from(["count", "length", "truncate", "flip"]))
    if how == "truncate":
        cut = draw(st.integers(0, len(data) - 1))
        return data[:cut], how, cut
    changed = bytearray(data)
    if how == "flip":
        spots = draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=8))
        for bit in spots:
            changed[bit // 8] ^= 1 << (bit % 8)
        return bytes(changed), how, min(spots) // 8
    places = draw(st.sampled_from(sample.counts)) if how == "count" else sample.lengths  # each kind as often
    offset = draw(st.sampled_from(places))
    value = draw(st.one_of(st.sampled_from([1 << 32, 1 << 40, 1 << 62, (1 << 63) - 1, (1 << 64) - 1]),
                           st.integers(0, (1 << 64) - 1)))
    changed[offset:offset + 8] = struct.pack("<Q", value)
    if draw(st.sampled_from([True, False])):  # and the file cut where whole items end: a reader walking a count past the end stops
        return bytes(changed[:offset + 8 + 4 * draw(st.integers(0, (len(data) - offset - 9) // 4))]), how, offset
    return bytes(changed), how, offset


@EXAMPLES
@given(data=st.data())
def test_gguf_reader_refuses_cleanly_or_reads_right(gguf_files, worker, tmp_path_factory, data):
    sample = data.draw(st.sampled_from(gguf_files))
    damaged, how, first = _damage(sample, data.draw)
    path = tmp_path_factory.getbasetemp() / "fuzzed.gguf"
    path.write_bytes(damaged)
    result = worker(kind="gguf", path=str(path))
    if how == "truncate" and first < sample.data_end:  # every tensor's data is needed: a cut file is refused
        assert "refused" in result and result["refused"].startswith(f"{path}:"), result
    elif first >= sample.data_offset:  # only tensor data (or the padding after it) changed: read as it was
        assert result.get("ok") == sample.expected, result
    if "refused" in result:
        assert "\n" not in result["refused"]


# -- the prefix cache ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_entry(tiny_gguf, tmp_path_factory, painting_bytes):
    """A real entry: the tiny model's evaluated prompt of a painting (prefix, and the question as its
    tail with its logits), as the engine keeps it."""
    from critic.engine.base import Settings
    from critic.engine.llama import LlamaEngine
    from critic.engine.prefix_cache import PrefixCache

    folder = tmp_path_factory.mktemp("prefix")
    picture = folder / "painting.jpg"
    picture.write_bytes(painting_bytes)
    engine = LlamaEngine.from_folder(tiny_gguf, n_ctx=2048, threads=1, cache=PrefixCache(folder, limit=1 << 30))
    try:
        session = engine.open_session(picture)
        "".join(session.ask("What is here?", Settings(max_tokens=1)))
        session.close()
    finally:
        engine.close()
    (entry,) = PrefixCache(folder, limit=1 << 30).entries()
    return Sample("a prefix of the tiny model", key=entry.name.removesuffix(".kv"), data=entry.read_bytes())


@pytest.fixture(scope="module")
def painting_bytes(tmp_path_factory) -> bytes:
    from critic.example import draw_example

    path = tmp_path_factory.mktemp("picture") / "p.jpg"
    draw_example(120, 90).save(path, quality=90)
    return path.read_bytes()


def _header(entry: bytes) -> tuple[bytes, dict, bytes]:
    magic_end = entry.index(b"\n") + 1
    line, payload = entry[magic_end:].split(b"\n", 1)
    return entry[:magic_end], json.loads(line), payload


ODD_VALUES = st.one_of(st.integers(-(1 << 70), 1 << 70), st.sampled_from([0, 1, 2048, 2049, 1 << 45, 1 << 63]),
                       st.floats(allow_nan=True), st.text(max_size=5), st.none(), st.booleans(),
                       st.lists(st.integers(), max_size=2))


@EXAMPLES
@given(data=st.data())
def test_cache_reader_refuses_cleanly_or_reads_right(cache_entry, worker, tmp_path_factory, data):
    key, whole = cache_entry.key, cache_entry.data
    magic, header, payload = _header(whole)
    how = data.draw(st.sampled_from(["truncate", "flip", "field"]))
    if how == "truncate":
        damaged = whole[:data.draw(st.integers(0, len(whole) - 1))]
    elif how == "flip":
        changed = bytearray(whole)
        for bit in data.draw(st.lists(st.integers(0, len(whole) * 8 - 1), min_size=1, max_size=4, unique=True)):
            changed[bit // 8] ^= 1 << (bit % 8)
        damaged = bytes(changed)
    else:  # a field given another value, its header checksum made to match or not (a crafted entry)
        name = data.draw(st.sampled_from(sorted(header)))
        crafted = {**header, name: data.draw(ODD_VALUES)}
        if data.draw(st.booleans()):
            rest = {k: v for k, v in crafted.items() if k != "check"}
            crafted["check"] = zlib.crc32(json.dumps(rest, sort_keys=True).encode())
        damaged = magic + json.dumps(crafted).encode() + b"\n" + payload
    folder = tmp_path_factory.getbasetemp() / "fuzzed-cache"
    folder.mkdir(exist_ok=True)
    entry = folder / f"{key}.kv"
    entry.write_bytes(damaged)
    result = worker(kind="cache", folder=str(folder), key=key, max_tokens=2048)
    if damaged == whole:
        assert result["ok"] == [hashlib.sha256(payload).hexdigest(), header["n_tokens"]]
    elif "ok" in result:
        # only a crafted header with its checksum remade can pass the reader, and then it holds exactly
        # this file's state and a position count the context can hold (the engine checks it against llama.cpp)
        assert how == "field" and result["ok"] is not None, result  # never a damaged entry dropped without a word
        assert result["ok"][0] == hashlib.sha256(payload).hexdigest()
        assert 1 <= result["ok"][1] <= 2048 and not isinstance(crafted["n_tokens"], bool)
    else:
        assert "damaged prefix cache entry" in result["refused"] and "\n" not in result["refused"]
        assert not entry.exists()  # deleted, never read again
