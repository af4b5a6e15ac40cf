"""Streaming GGUF output: tensor infos first, then each tensor's data produced on demand.

gguf-py's GGUFWriter keeps added tensors in memory until the file is written. Declaring
every tensor with `add_tensor_info` and then handing `write_tensor_data` one object at a
time keeps a single tensor (or a block of its rows) in memory instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

ROW_BLOCK_BYTES = 32 << 20


@dataclass
class PlannedTensor:
    """A tensor to write: GGUF name, numpy shape and dtype, and a producer of row blocks.

    A quantized tensor has its ggml type name in `ggml_type`, dtype uint8 and blocks of rows as bytes."""

    name: str
    shape: tuple[int, ...]
    dtype: type
    blocks: Callable[[], Iterator[np.ndarray]]
    ggml_type: str | None = None

    @property
    def nbytes(self) -> int:
        if self.ggml_type:
            from critic.convert.stream_quant import row_bytes

            return int(np.prod(self.shape[:-1])) * row_bytes(self.ggml_type, self.shape[-1])
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


class _Streamed:
    """What `GGUFWriter.write_tensor_data` needs of an array (`nbytes`, `tofile`), row block by block."""

    def __init__(self, planned: PlannedTensor) -> None:
        self.planned = planned
        self.nbytes = planned.nbytes

    def tofile(self, handle) -> None:
        written = 0
        for block in self.planned.blocks():
            block = np.ascontiguousarray(block, dtype=self.planned.dtype)
            block.tofile(handle)
            written += block.nbytes
        if written != self.nbytes:
            raise RuntimeError(f"{self.planned.name}: wrote {written} bytes, planned {self.nbytes}")


def row_blocks(n_rows: int, row_bytes: int) -> Iterator[tuple[int, int]]:
    """Row ranges of at most ROW_BLOCK_BYTES (fp32) each."""
    step = max(1, ROW_BLOCK_BYTES // max(row_bytes, 1))
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


Progress = Callable[[int, int], None]
"""Called with (bytes written so far, bytes to write in all)."""


def write_gguf(path: Path, writer, tensors: Iterable[PlannedTensor], progress: Progress | None = None) -> None:
    """Declare, then stream, every tensor into `writer` (a GGUFWriter for `path` with its KV set)."""
    planned = list(tensors)
    total = sum(t.nbytes for t in planned)
    done = 0
    for t in planned:
        if t.ggml_type:
            from gguf import GGMLQuantizationType

            writer.add_tensor_info(t.name, t.shape, np.dtype(np.float32), t.nbytes,
                                   raw_dtype=GGMLQuantizationType[t.ggml_type])
        else:
            writer.add_tensor_info(t.name, t.shape, np.dtype(t.dtype), t.nbytes)
    writer.write_header_to_file(path=path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in planned:
        writer.write_tensor_data(_Streamed(t))  # type: ignore[arg-type]
        done += t.nbytes
        if progress:
            progress(done, total)
    writer.close()
