"""GGUF validation, before llama.cpp ever opens a file.

llama.cpp aborts the whole process on some malformed files, so everything critic hands it
has been read here first: a valid GGUF whose tensors fit in the file, the architecture
expected, the keys llama.cpp requires with the types it asserts, and a projector whose
output width is the LLM's embedding width.

The header is parsed here rather than with gguf-py's `GGUFReader`, whose bounds cannot be
set from outside: it memory-maps the file and walks every count the file declares without
comparing it with the bytes left (a read past the end gives an empty array, not an error),
so a 132-byte file declaring an array of 2^62 items loops while its list of per-item arrays
grows without end; and it builds one NumPy array per item even for a sound file. Here every
count, length and offset is checked against the bytes left before anything is allocated or
iterated, long arrays are stepped over rather than kept, and strings kept are bounded in
total. The format's definitions (value and tensor types, block sizes, the default alignment)
still come from gguf-py.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.core.errors import BadModelFile, ModelMismatch
from critic.core.files import NotRegular, open_regular

GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)
"""The versions llama.cpp (and gguf-py) read; version 1 stored counts in 32 bits."""
MAX_DIMS = 4
"""GGML_MAX_DIMS: llama.cpp refuses a tensor with more."""
MAX_ARRAY_ITEMS = 1 << 22
"""Items in one metadata array. The largest vocabularies have ~262k tokens; a bound keeps
stepping over a crafted array's items (strings must be stepped one by one) to a second or two."""
KEPT_ARRAY_ITEMS = 64
"""Arrays up to this long are read as lists (image_mean, image_std); longer ones (vocabularies,
scores) as their length, which is all critic needs of them."""
MAX_KEPT_BYTES = 64 << 20
"""Metadata strings kept, in total: chat templates and names are a few kB each."""

# clip keys llama.cpp reads with get_u32/get_f32 (asserting the type) for a LLaVA mmproj.
MMPROJ_U32 = ("clip.vision.image_size", "clip.vision.patch_size", "clip.vision.embedding_length",
              "clip.vision.feed_forward_length", "clip.vision.projection_dim", "clip.vision.block_count",
              "clip.vision.attention.head_count")
MMPROJ_F32 = ("clip.vision.attention.layer_norm_epsilon",)
MMPROJ_TENSORS = ("v.patch_embd.weight", "v.class_embd", "v.position_embd.weight", "v.pre_ln.weight",
                  "mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias")
LLM_U32 = ("llama.embedding_length", "llama.block_count", "llama.attention.head_count")


@dataclass
class Header:
    """What critic needs from a GGUF header.

    `fields`: each key's value; an array of strings, or of more than `KEPT_ARRAY_ITEMS`
    numbers, is given as its length. `types`: each key's GGUF value type name ("UINT32",
    "STRING", "ARRAY"…). `tensors`: each tensor's shape (ne[0] first, as gguf-py lists it)
    and type name; `tensor_bytes`: the bytes of its data."""

    path: Path
    fields: dict[str, Any]
    types: dict[str, str]
    tensors: dict[str, tuple[tuple[int, ...], str]]
    tensor_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.fields.get("general.architecture", ""))


def ggml_bytes(type_name: str, elements: int) -> int:
    """Bytes of `elements` values (whole blocks) stored as the ggml type called `type_name` (Q4_K, F16…)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    return elements // block * type_size


def check_patch0(main: Header, patch0: Header) -> None:
    """The exact layout's patch-0 mmproj must be the main (rotated) one's twin: the same model with its own
    position table. BadModelFile naming the file otherwise."""
    if patch0.fields.get("critic.class_token_layout") != "patch0":
        raise BadModelFile(f"{patch0.path}: not a patch-0 mmproj (critic.class_token_layout is "
                           f"{patch0.fields.get('critic.class_token_layout')!r})")
    if main.fields.get("critic.class_token_layout") != "rotated":
        raise BadModelFile(f"{main.path}: the exact layout needs the rotated mmproj beside the patch-0 one")
    if {k: v[0] for k, v in main.tensors.items()} != {k: v[0] for k, v in patch0.tensors.items()}:
        raise BadModelFile(f"{patch0.path}: its tensors differ in shape from {main.path}; not the same model")


class _Damaged(Exception):
    """A header that cannot be what it says; the message says where."""


class _Cursor:
    """Reads little-endian values from a buffer, refusing any read past its end."""

    def __init__(self, buffer) -> None:
        self.buffer, self.pos, self.size = buffer, 0, len(buffer)
        self.kept = 0

    def left(self) -> int:
        return self.size - self.pos

    def need(self, count: int, what: str) -> None:
        if count > self.left():
            raise _Damaged(f"truncated or damaged: at offset {self.pos}, {what} would take {count} bytes, "
                           f"and {self.left()} are left")

    def unpack(self, fmt: str, what: str) -> tuple:
        size = struct.calcsize(fmt)
        self.need(size, what)
        values = struct.unpack_from(fmt, self.buffer, self.pos)
        self.pos += size
        return values

    def u32(self, what: str) -> int:
        return self.unpack("<I", what)[0]

    def u64(self, what: str) -> int:
        return self.unpack("<Q", what)[0]

    def skip(self, count: int, what: str) -> None:
        self.need(count, what)
        self.pos += count

    def string(self, what: str) -> bytes:
        length = self.u64(f"the length of {what}")
        self.need(length, what)
        if self.kept + length > MAX_KEPT_BYTES:
            raise _Damaged(f"{what} would take the metadata past {MAX_KEPT_BYTES >> 20} MiB of text")
        self.kept += length
        data = bytes(self.buffer[self.pos:self.pos + length])
        self.pos += length
        return data

    def name(self, what: str) -> str:
        """A key's or a tensor's name: a string that must be UTF-8."""
        try:
            return self.string(what).decode("utf-8")
        except UnicodeDecodeError:
            raise _Damaged(f"{what} is not UTF-8") from None


def _scalar_formats() -> dict[int, str]:
    from gguf import GGUFValueType as T

    return {T.UINT8: "B", T.INT8: "b", T.UINT16: "H", T.INT16: "h", T.UINT32: "I", T.INT32: "i",
            T.FLOAT32: "f", T.BOOL: "?", T.UINT64: "Q", T.INT64: "q", T.FLOAT64: "d"}


def _type_name(value_type: int) -> str:
    from gguf import GGUFValueType

    try:
        return GGUFValueType(value_type).name
    except ValueError:
        raise _Damaged(f"unknown value type {value_type}") from None


def _read_value(cursor: _Cursor, value_type: int, key: str) -> Any:
    from gguf import GGUFValueType

    scalars = _scalar_formats()
    if value_type == GGUFValueType.STRING:
        return cursor.string(f"the value of '{key}'").decode("utf-8", "replace")
    if value_type in scalars:
        return cursor.unpack("<" + scalars[value_type], f"the value of '{key}'")[0]
    if value_type != GGUFValueType.ARRAY:
        raise _Damaged(f"'{key}' has unknown value type {value_type}")
    item_type = cursor.u32(f"the item type of '{key}'")
    count = cursor.u64(f"the length of '{key}'")
    if count > MAX_ARRAY_ITEMS:
        raise _Damaged(f"'{key}' declares {count} items, more than any model has ({MAX_ARRAY_ITEMS})")
    if item_type == GGUFValueType.STRING:
        cursor.need(8 * count, f"the {count} strings of '{key}'")  # each at least its length
        for index in range(count):
            cursor.skip(cursor.u64(f"the length of item {index} of '{key}'"), f"item {index} of '{key}'")
        return count
    if item_type not in scalars:
        raise _Damaged(f"'{key}' is an array of {_type_name(item_type)}, which llama.cpp does not read")
    fmt = f"<{count}{scalars[item_type]}"
    size = struct.calcsize(fmt)
    cursor.need(size, f"the {count} items of '{key}'")
    if count > KEPT_ARRAY_ITEMS:
        cursor.skip(size, f"the items of '{key}'")
        return count
    return list(cursor.unpack(fmt, f"the items of '{key}'"))


def _read_tensor_infos(cursor: _Cursor, count: int) -> list[tuple[str, tuple[int, ...], Any, int, int]]:
    """(name, shape, type, offset, bytes) of each tensor, its shape and type checked as llama.cpp does."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    infos = []
    seen = set()
    for index in range(count):
        name = cursor.name(f"the name of tensor {index}")
        if name in seen:
            raise _Damaged(f"tensor {name} appears twice")
        seen.add(name)
        n_dims = cursor.u32(f"the dimension count of tensor {name}")
        if n_dims > MAX_DIMS:
            raise _Damaged(f"tensor {name} has {n_dims} dimensions, llama.cpp allows {MAX_DIMS}")
        shape = cursor.unpack(f"<{n_dims}Q", f"the shape of tensor {name}")
        raw_type = cursor.u32(f"the type of tensor {name}")
        offset = cursor.u64(f"the offset of tensor {name}")
        try:
            kind = GGMLQuantizationType(raw_type)
            block = GGML_QUANT_SIZES[kind][0]
        except (ValueError, KeyError):
            raise _Damaged(f"tensor {name} has unknown type {raw_type}") from None
        elements = 1
        for dim in shape:
            elements *= dim
        if elements >= 1 << 63:
            raise _Damaged(f"tensor {name} has an impossible shape {shape}")
        if shape and shape[0] % block:
            raise _Damaged(f"tensor {name}: a row of {shape[0]} is not whole {kind.name} blocks of {block}")
        infos.append((name, tuple(shape), kind, offset, ggml_bytes(kind.name, elements)))
    return infos


def _parse(buffer, size: int) -> tuple[dict, dict, dict, dict]:
    from gguf import GGUF_DEFAULT_ALIGNMENT

    cursor = _Cursor(buffer)
    cursor.skip(4, "the magic bytes")
    version = cursor.u32("the version")
    if version not in GGUF_VERSIONS:
        swapped = version & 0xFFFF == 0
        raise _Damaged("a big-endian GGUF, which llama.cpp on this machine cannot read" if swapped
                       else f"GGUF version {version}, llama.cpp reads versions {GGUF_VERSIONS}")
    tensor_count, kv_count = cursor.unpack("<QQ", "the tensor and key counts")
    # the smallest key/value: a length, an empty key, a type, one byte; the smallest tensor entry:
    # a name length, a dimension count, a type and an offset
    cursor.need(13 * kv_count, f"{kv_count} metadata keys")
    cursor.need(24 * tensor_count, f"{tensor_count} tensor entries")
    fields: dict[str, Any] = {}
    types: dict[str, str] = {}
    for index in range(kv_count):
        key = cursor.name(f"the name of key {index}")
        if key in fields:
            raise _Damaged(f"key '{key}' appears twice")
        value_type = cursor.u32(f"the type of '{key}'")
        types[key] = _type_name(value_type)
        fields[key] = _read_value(cursor, value_type, key)
    infos = _read_tensor_infos(cursor, tensor_count)
    alignment = GGUF_DEFAULT_ALIGNMENT
    if "general.alignment" in fields:
        alignment = fields["general.alignment"]
        if types["general.alignment"] != "UINT32" or alignment <= 0 or alignment & (alignment - 1):
            raise _Damaged(f"general.alignment {alignment!r} is not a power of two (UINT32)")
    data_start = -(-cursor.pos // alignment) * alignment
    tensors, tensor_bytes = {}, {}
    for name, shape, kind, offset, n_bytes in infos:
        if offset % alignment:
            raise _Damaged(f"tensor {name} starts at offset {offset}, not a multiple of the alignment {alignment}")
        if data_start + offset + n_bytes > size:
            raise _Damaged(f"truncated: tensor {name} runs past the end of the file")
        tensors[name] = (shape, kind.name)
        tensor_bytes[name] = n_bytes
    return fields, types, tensors, tensor_bytes


def read_header(path: Path) -> Header:
    """Parse a GGUF's metadata and tensor table; raise BadModelFile on anything malformed."""
    path = Path(path)
    try:
        handle = open_regular(path)
    except NotRegular as err:
        raise BadModelFile(f"{path}: {err}") from None
    with handle:
        size = handle.seek(0, 2)
        handle.seek(0)
        if handle.read(4) != GGUF_MAGIC:
            raise BadModelFile(f"{path}: not a GGUF file (wrong magic bytes)")
        try:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                fields, types, tensors, tensor_bytes = _parse(mapped, size)
        except _Damaged as err:
            raise BadModelFile(f"{path}: damaged GGUF: {err}") from None
        except (OSError, ValueError) as err:  # the map itself (a file changing under us)
            raise BadModelFile(f"{path}: cannot be read ({err})") from None
    return Header(path, fields, types, tensors, tensor_bytes)


def _require(header: Header, keys: tuple[str, ...], kind: str, what: str) -> None:
    for key in keys:
        if key not in header.fields:
            raise BadModelFile(f"{header.path}: {what} lacks '{key}' which llama.cpp requires")
        if header.types[key] != kind:
            raise BadModelFile(f"{header.path}: '{key}' is {header.types[key]}, llama.cpp requires {kind}")


def check_llm(path: Path) -> Header:
    """Check an LLM GGUF: llama architecture, vocabulary, embedding width."""
    header = read_header(path)
    if header.architecture != "llama":
        hint = " (this looks like an mmproj: give it as the mmproj)" if header.architecture == "clip" else ""
        raise BadModelFile(f"{path}: architecture '{header.architecture}', expected 'llama'{hint}")
    _require(header, LLM_U32, "UINT32", "the LLM")
    if "tokenizer.ggml.tokens" not in header.fields or "token_embd.weight" not in header.tensors:
        raise BadModelFile(f"{path}: the LLM has no vocabulary or token embeddings")
    return header


def check_mmproj(path: Path) -> Header:
    """Check a LLaVA mmproj GGUF: clip architecture, MLP projector, the keys and tensors llama.cpp needs."""
    header = read_header(path)
    if header.architecture != "clip":
        hint = " (this looks like an LLM: give it as the LLM)" if header.architecture == "llama" else ""
        raise BadModelFile(f"{path}: architecture '{header.architecture}', expected 'clip'{hint}")
    if header.fields.get("clip.has_vision_encoder") is not True:
        raise BadModelFile(f"{path}: the mmproj has no vision encoder (clip.has_vision_encoder)")
    if header.fields.get("clip.projector_type") != "mlp":
        raise BadModelFile(f"{path}: projector '{header.fields.get('clip.projector_type')}', LLaVA-1.5 needs 'mlp'")
    _require(header, MMPROJ_U32, "UINT32", "the mmproj")
    _require(header, MMPROJ_F32, "FLOAT32", "the mmproj")
    for key in ("clip.vision.image_mean", "clip.vision.image_std"):
        value = header.fields.get(key)
        if not isinstance(value, list) or len(value) != 3:
            raise BadModelFile(f"{path}: '{key}' must be an array of 3 floats")
    for name in MMPROJ_TENSORS:
        if name not in header.tensors:
            raise BadModelFile(f"{path}: the mmproj lacks tensor {name}")
    if header.tensors["v.class_embd"][1] != "F32":
        raise BadModelFile(f"{path}: v.class_embd is {header.tensors['v.class_embd'][1]}, llama.cpp requires F32")
    return header


def check_pair(llm: Path, mmproj: Path) -> tuple[Header, Header]:
    """Check both files and that the projector feeds the LLM's embedding width."""
    llm_header, mm_header = check_llm(llm), check_mmproj(mmproj)
    n_embd = llm_header.fields["llama.embedding_length"]
    projected = mm_header.tensors["mm.2.weight"][0][-1]  # gguf-py lists ne[0] first: out is last
    declared = mm_header.fields["clip.vision.projection_dim"]
    if projected != n_embd or declared != n_embd:
        raise ModelMismatch(
            f"{mmproj}: the projector outputs {projected} values per image token but {llm} embeds {n_embd}; "
            "these files come from different models"
        )
    return llm_header, mm_header
