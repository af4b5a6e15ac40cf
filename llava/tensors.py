"""Tensors of a checkpoint folder, read lazily and by rows: safetensors and torch .bin files.

A 7B checkpoint is 14 GB; nothing here holds a whole file, or a whole large tensor, in memory
at once (see `SafetensorsFile` and `TensorStore._pickle_rows` for why and what was measured).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from critic.core.errors import BadCheckpoint


def read_json(path: Path) -> dict:
    """Load a JSON file, or raise BadCheckpoint naming it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BadCheckpoint(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadCheckpoint(f"{path}: not valid JSON ({err})") from None


def load_torch_pickle(path: Path) -> dict:
    """Load a torch .bin state dict safely: tensors only, memory-mapped where possible."""
    return _load_torch_pickle(path)[0]


def _load_torch_pickle(path: Path) -> tuple[dict, bool]:
    """(state dict, whether it is memory-mapped) for a torch .bin, tensors only."""
    import pickle

    import torch

    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True), True
        except RuntimeError as err:
            if "mmap" not in str(err) and "zip" not in str(err):
                raise
            return torch.load(path, map_location="cpu", weights_only=True), False
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsafe content"
        raise BadCheckpoint(
            f"{path}: refused to load: this pickle needs more than plain tensors ({first}); "
            "re-save it as tensors only, or as .safetensors"
        ) from None
    except (EOFError, OSError, RuntimeError) as err:
        raise BadCheckpoint(f"{path}: not a readable torch checkpoint ({err})") from None


class TensorStore:
    """Lazy access to the tensors of a folder of safetensors or torch .bin files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._where: dict[str, Path] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._pickles: dict[Path, dict] = {}  # .bin files that could not be memory-mapped
        self._handles: dict[Path, object] = {}
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            files = sorted(p for p in folder.glob("*.bin") if p.name.startswith(("pytorch_model", "model")))
        if not files:
            raise BadCheckpoint(f"{folder}: no weights (*.safetensors or pytorch_model*.bin)")
        for file in files:
            for name in self._names(file):
                self._where[name] = file

    def _safetensors(self, file: Path) -> "SafetensorsFile":
        if file not in self._handles:
            self._handles[file] = SafetensorsFile(file)
        return self._handles[file]

    def _names(self, file: Path) -> list[str]:
        if file.suffix == ".safetensors":
            return list(self._safetensors(file).header)
        state, mapped = _load_torch_pickle(file)
        if not mapped:
            self._pickles[file] = state
        self._shapes.update({name: tuple(tensor.shape) for name, tensor in state.items()})
        return list(state)

    def _pickle_rows(self, file: Path, name: str, start: int | None, stop: int | None):
        """Rows of a .bin tensor. A memory-mapped file is mapped afresh for each read and let go
        after it: every page read stays resident while a mapping lives, which for a 14 GB
        checkpoint would keep the whole model in the converter's RSS (measured: 1.18 × the
        model with one mapping kept, 0.20 this way; bench/convert_memory.py)."""
        if file in self._pickles:
            return self._pickles[file][name][start:stop]
        return _load_torch_pickle(file)[0][name][start:stop].clone()

    def names(self) -> list[str]:
        """All tensor names."""
        return list(self._where)

    def ref(self, name: str) -> "TensorRef":
        """A lazy reference to one tensor."""
        file = self._where[name]
        if file.suffix == ".safetensors":
            handle = self._safetensors(file)
            return TensorRef(handle.shape(name), lambda a, b: handle.rows(name, a, b))
        return TensorRef(self._shapes[name], lambda a, b: self._pickle_rows(file, name, a, b))


class SafetensorsFile:
    """Row-range reads from a .safetensors file with plain file reads.

    The safetensors library memory-maps the file: every page a conversion touches stays
    resident in the process until the mapping closes, so streaming a 14 GB checkpoint would
    still show (and, on a small machine, cost) 14 GB of RSS. The format is a JSON header and
    raw little-endian arrays, so reading the rows of the block at hand takes a few lines.
    """

    _DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}

    def __init__(self, path: Path) -> None:
        import json as _json
        import struct

        self.path = path
        try:
            with open(path, "rb") as handle:
                (length,) = struct.unpack("<Q", handle.read(8))
                if length > 100 << 20:
                    raise ValueError("header too large")
                header = _json.loads(handle.read(length))
        except (OSError, ValueError, struct.error, UnicodeDecodeError) as err:
            raise BadCheckpoint(f"{path}: not a readable safetensors file ({err})") from None
        header.pop("__metadata__", None)
        self.data_start = 8 + length
        self.header = header
        size = path.stat().st_size
        for name, info in header.items():
            if info.get("dtype") not in self._DTYPES:
                raise BadCheckpoint(f"{path}: tensor {name} has unsupported dtype {info.get('dtype')}")
            if self.data_start + info["data_offsets"][1] > size:
                raise BadCheckpoint(f"{path}: truncated: tensor {name} runs past the end of the file")

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.header[name]["shape"])

    def rows(self, name: str, start: int | None, stop: int | None):
        """Rows `start:stop` of a tensor as a torch tensor (float32 for floating types)."""
        import torch

        info = self.header[name]
        shape = info["shape"]
        dtype = np.dtype(self._DTYPES[info["dtype"]])
        if not shape:
            start, stop, row = 0, 1, 1
        else:
            start = 0 if start is None else start
            stop = shape[0] if stop is None else min(stop, shape[0])
            row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
        offset = self.data_start + info["data_offsets"][0] + start * row * dtype.itemsize
        count = (stop - start) * row
        array = np.fromfile(self.path, dtype=dtype, count=count, offset=offset)
        if info["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        elif dtype.kind == "f":
            array = array.astype(np.float32)
        return torch.from_numpy(array.reshape((stop - start, *shape[1:]) if shape else ()))


class TensorRef:
    """One tensor: its shape, and its rows read on demand as float32 torch tensors.

    Reading by rows keeps a 32000×4096 embedding from ever being whole in float32.
    """

    def __init__(self, shape: tuple[int, ...], read: Callable[[int, int], object]) -> None:
        self.shape = tuple(shape)
        self._read = read

    @classmethod
    def of(cls, tensor) -> "TensorRef":
        """Wrap an in-memory tensor."""
        return cls(tuple(tensor.shape), lambda a, b: tensor[a:b])

    def rows(self, start: int, stop: int):
        """Rows `start:stop` (the first axis) as float32."""
        import torch

        return self._read(start, stop).to(torch.float32)

    def load(self):
        """The whole tensor as float32."""
        return self.rows(0, self.shape[0]) if self.shape else self._read(None, None).float()
