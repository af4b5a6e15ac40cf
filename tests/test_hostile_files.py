"""Crafted and damaged inputs end in a one-line refusal or a correct result, in bounded time and memory:
GGUF headers that declare more than they hold, and special files given as paintings or models
(damaged prefix-cache entries: test_prefix_cache_damage.py)."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys

import pytest

from critic.cli import main
from critic.core.errors import BadImage, BadModelFile
from critic.core.gguf_check import read_header
from critic.core.images import load_image
from critic.core.manifest import Manifest

# -- GGUF headers -----------------------------------------------------------------------------------

ARRAY, STRING, UINT8 = 9, 8, 0


def _gguf(kvs: bytes = b"", n_kv: int = 0, n_tensors: int = 0, tensors: bytes = b"", size: int = 132) -> bytes:
    """A GGUF v3 file (llama.cpp's layout: magic, version, tensor count, key count, keys, tensor table)."""
    data = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + kvs + tensors
    return data + bytes(max(0, size - len(data)))


def _str(text: bytes, length: int | None = None) -> bytes:
    return struct.pack("<Q", len(text) if length is None else length) + text


CRAFTED = {
    "an array of 2^62 items": (_gguf(_str(b"general.architecture") + struct.pack("<IIQ", ARRAY, UINT8, 1 << 62), 1),
                               "declares 4611686018427387904 items"),
    "an array of 2^40 strings": (_gguf(_str(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", ARRAY, STRING, 1 << 40), 1),
                                 "declares 1099511627776 items"),
    "100 strings in 20 bytes": (_gguf(_str(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", ARRAY, STRING, 100), 1),
                                "the 100 strings of 'tokenizer.ggml.tokens' would take 800 bytes"),
    "a string of 2^62 bytes": (_gguf(_str(b"general.architecture") + struct.pack("<I", STRING) + _str(b"", 1 << 62), 1),
                               "the value of 'general.architecture' would take 4611686018427387904 bytes"),
    "a key of 2^62 bytes": (_gguf(_str(b"", 1 << 62), 1), "the name of key 0 would take"),
    "2^60 keys": (_gguf(n_kv=1 << 60), "1152921504606846976 metadata keys would take"),
    "2^40 tensors": (_gguf(n_tensors=1 << 40), "1099511627776 tensor entries would take"),
    "a tensor of 2^31 dimensions": (_gguf(n_tensors=1, tensors=_str(b"t") + struct.pack("<I", 1 << 31)),
                                    "2147483648 dimensions"),
    "a tensor at offset 2^63": (_gguf(n_tensors=1, tensors=_str(b"t") + struct.pack("<IQIQ", 1, 32, 0, 1 << 63)),
                                "truncated: tensor t runs past the end"),
    "a tensor of 2^62 x 2^62 elements": (_gguf(n_tensors=1, tensors=_str(b"t") + struct.pack("<IQQIQ", 2, 1 << 62,
                                                                                              1 << 62, 0, 0)),
                                         "impossible shape"),
    "an unknown tensor type": (_gguf(n_tensors=1, tensors=_str(b"t") + struct.pack("<IQIQ", 1, 32, 9999, 0)),
                               "unknown type 9999"),
}

_BOUNDED = """
import json, resource, signal, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))  # 2 GiB of address space
signal.alarm(20)
from critic.core.errors import BadModelFile
from critic.core.gguf_check import read_header
for path in sys.argv[1:]:
    try:
        read_header(path)
        print(json.dumps("accepted"))
    except BadModelFile as err:
        print(json.dumps(str(err)))
"""


def test_crafted_gguf_headers_are_refused_at_once_with_what_is_wrong(tmp_path):
    paths = []
    for number, (data, _) in enumerate(CRAFTED.values()):
        paths.append(tmp_path / f"crafted-{number}.gguf")
        paths[-1].write_bytes(data)
    # in a child with its address space and time bounded: the reader used to loop and grow without end
    child = subprocess.run([sys.executable, "-c", _BOUNDED, *map(str, paths)], capture_output=True, text=True,
                           env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}, timeout=60)
    assert child.returncode == 0, child.stderr[-2000:]
    answers = [json.loads(line) for line in child.stdout.splitlines()]
    for (what, (_, words)), path, answer in zip(CRAFTED.items(), paths, answers):
        assert answer.startswith(f"{path}: damaged GGUF") and words in answer, (what, answer)
        assert "MemoryError" not in answer and "\n" not in answer


def test_the_header_reader_agrees_with_gguf_py_on_real_files(tiny_gguf):
    from gguf import GGUFReader, GGUFValueType

    for path in tiny_gguf.glob("*.gguf"):
        ours, reference = read_header(path), GGUFReader(path)
        assert ours.tensors == {t.name: (tuple(int(d) for d in t.shape), t.tensor_type.name) for t in reference.tensors}
        for name, field in reference.fields.items():
            if name.startswith("GGUF."):
                continue
            assert ours.types[name] == field.types[0].name
            if field.types[0] == GGUFValueType.ARRAY:
                expected = ([field.parts[i].tolist()[0] for i in field.data] if len(field.data) <= 64
                            and field.types[1] != GGUFValueType.STRING else len(field.data))
            else:
                expected = field.contents()
            assert ours.fields[name] == expected, name


# -- special files -------------------------------------------------------------------------------------

@pytest.fixture
def special(tmp_path):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.jpg"
    loop.symlink_to("loop.jpg")
    return {"fifo": (fifo, "a named pipe (FIFO), not a regular file"),
            "device": ("/dev/zero", "a character device, not a regular file"),
            "loop": (loop, "a symlink loop")}


def test_special_files_are_named_for_what_they_are(special, tiny_gguf, capsys):
    mmproj = Manifest.read(tiny_gguf).file_paths(tiny_gguf)[1]
    for path, words in special.values():
        with pytest.raises(BadImage, match=re.escape(f"{path}: {words}")):
            load_image(path)  # never opened as a picture: a FIFO would block, /dev/zero never end
        with pytest.raises(BadModelFile, match=re.escape(f"{path}: {words}")):
            read_header(path)
        assert main(["analyze", str(path)]) == 1  # no model installed: the measured facts, and this error
        assert f"critic: error: {path}: {words}" in capsys.readouterr().err
        assert main(["models", "add", "--llm", str(path), "--mmproj", str(mmproj), "--name", "x"]) == 4
        assert f"{path}: {words}" in capsys.readouterr().err
