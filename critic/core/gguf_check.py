"""GGUF validation with gguf-py, before llama.cpp ever opens a file.

llama.cpp aborts the whole process on some malformed files, so everything critic hands it
has been read here first: a valid GGUF whose tensors fit in the file, the architecture
expected, the keys llama.cpp requires with the types it asserts, and a projector whose
output width is the LLM's embedding width.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from critic.core.errors import BadModelFile, ModelMismatch

GGUF_MAGIC = b"GGUF"

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
    """What critic needs from a GGUF header."""

    path: Path
    fields: dict[str, Any]
    types: dict[str, str]
    tensors: dict[str, tuple[tuple[int, ...], str]]

    @property
    def architecture(self) -> str:
        return str(self.fields.get("general.architecture", ""))


def _value(field) -> Any:
    from gguf import GGUFValueType

    if not field.types:
        return None
    if field.types[0] == GGUFValueType.ARRAY:
        if len(field.types) > 1 and field.types[1] == GGUFValueType.STRING:
            return len(field.data)  # token lists: the count is enough here
        return [field.parts[i].tolist()[0] for i in field.data]
    if field.types[0] == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
    return field.parts[field.data[0]].tolist()[0]


def read_header(path: Path) -> Header:
    """Parse a GGUF's metadata and tensor table; raise BadModelFile on anything malformed."""
    path = Path(path)
    if not path.is_file():
        raise BadModelFile(f"{path}: no such file")
    with open(path, "rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise BadModelFile(f"{path}: not a GGUF file (wrong magic bytes)")
    try:
        from gguf import GGUFReader

        reader = GGUFReader(path, "r")
        fields = {name: _value(f) for name, f in reader.fields.items()}
        types = {name: f.types[0].name if f.types else "" for name, f in reader.fields.items()}
        size = path.stat().st_size
        tensors = {}
        for t in reader.tensors:
            if t.data_offset + t.n_bytes > size:
                raise BadModelFile(f"{path}: truncated: tensor {t.name} runs past the end of the file")
            tensors[t.name] = (tuple(int(d) for d in t.shape), t.tensor_type.name)
    except BadModelFile:
        raise
    except Exception as err:  # gguf-py raises ValueError, IndexError, struct errors on damage
        raise BadModelFile(f"{path}: damaged GGUF ({err.__class__.__name__}: {err})") from None
    return Header(path, fields, types, tensors)


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
