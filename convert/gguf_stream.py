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


def prefetched(tensors: list[PlannedTensor], depth: int = 3) -> list[PlannedTensor]:
    """The same tensors, their blocks made ahead by one background thread in write order (at most `depth`
    blocks waiting), so reading and merging the checkpoint overlaps the quantizing and writing of the
    blocks before. Blocks must be consumed in the order of `tensors`, as `write_gguf` does."""
    import queue
    import threading

    done = object()
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for index, tensor in enumerate(tensors):
                for block in tensor.blocks():
                    while not stop.is_set():
                        try:
                            ready.put((index, block), timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                ready.put((index, done))
        except BaseException as err:  # handed to the writer, which raises it
            ready.put((-1, err))

    thread = threading.Thread(target=produce, name="gguf-prefetch", daemon=True)

    def blocks_of(index: int) -> Iterator[np.ndarray]:
        if thread.ident is None:  # started by the first tensor the writer reads
            thread.start()
        try:
            while True:
                got, block = ready.get()
                if got == -1:
                    raise block
                if block is done:
                    return
                if got != index:
                    raise RuntimeError(f"blocks of tensor {got} came when {index}'s were expected")
                yield block
        except BaseException:
            stop.set()
            raise

    return [PlannedTensor(t.name, t.shape, t.dtype, lambda i=i: blocks_of(i), t.ggml_type)
            for i, t in enumerate(tensors)]
