"""How many of the LLM's layers go to the GPU, and whether the vision encoder goes with them.

`gpu_layers` is ``auto`` (the default), ``all``, ``0`` (CPU only) or a number, from
``--gpu-layers``, else ``CRITIC_GPU_LAYERS``, else ``"gpu_layers"`` in the data directory's
settings.json. ``auto`` offloads every layer when the build has a GPU backend and the GPU has
room, as many as fit otherwise, and none on a CPU build.

The fit is estimated from the GGUF headers: llama.cpp's own fitting helper (common/fit.cpp)
lives in its `common` library, which llama-cpp-python does not ship. The estimate counts
what llama.cpp puts on the GPU for ``n_gpu_layers = k`` (llama-model.cpp): the last k
repeating layers with their share of the KV cache, the output layer only when every layer
is offloaded (k = n_layer + 1; the token embeddings always stay in host memory), the
compute buffer, and the mmproj files when the vision encoder runs there. A margin is kept
free for the driver and other programs. If the estimate is wrong and the load still runs
out of memory, the engine falls back to fewer layers, then to the CPU (critic.engine.llama).

Pure functions: the devices' free memory is passed in (critic.engine.devices asks llama.cpp).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Union

from critic.core.errors import UsageError

GpuLayers = Union[str, int]
"""``"auto"``, ``"all"`` or a number of layers (0: CPU only)."""

ENV = "CRITIC_GPU_LAYERS"
MARGIN = 1 << 30
"""Device memory left free: llama.cpp's own fitting leaves 1 GiB by default."""
VISION_COMPUTE = 512 << 20
"""The CLIP graph's working buffers at 336 px (577 tokens), two encodes at most at a time."""
GIB = 1 << 30


def parse_gpu_layers(value: str | int | None) -> GpuLayers:
    """``auto``, ``all`` or a whole number ≥ 0; a UsageError naming the choices otherwise."""
    if value is None or value == "":
        return "auto"
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip().lower()
        if text in ("auto", "all"):
            return text
        try:
            number = int(text)
        except ValueError:
            number = -1
    if number == -1 and str(value).strip() == "-1":
        return "all"  # llama.cpp's own spelling of every layer
    if number < 0:
        raise UsageError(f"--gpu-layers {value}: give auto, all, 0 (CPU only) or a number of layers")
    return number


def configured_gpu_layers(flag: str | int | None = None) -> tuple[GpuLayers, str]:
    """The setting in force and where it came from: the flag, the environment, the settings file, or the default."""
    if flag not in (None, ""):
        return parse_gpu_layers(flag), "--gpu-layers"
    if os.environ.get(ENV, "").strip():
        return parse_gpu_layers(os.environ[ENV]), ENV
    from critic.core.settings import read_settings

    saved = read_settings().get("gpu_layers")
    if saved not in (None, ""):
        return parse_gpu_layers(saved), "settings.json"
    return "auto", "default"


@dataclass(frozen=True)
class ModelSizes:
    """What the LLM's and vision encoder's parts weigh, from their GGUF headers."""

    n_layer: int
    layer_bytes: tuple[int, ...]
    """Each repeating layer's weights (``blk.N.*``)."""
    output_bytes: int
    """The output layer (``output.weight``, ``output_norm``): offloaded only with every layer."""
    host_bytes: int
    """Weights that always stay in host memory (the token embeddings)."""
    kv_bytes_per_token_layer: int
    """K and V of one position in one layer (F16)."""
    n_embd: int
    n_head: int
    n_ff: int
    n_vocab: int
    vision_bytes: int
    """The mmproj file(s)."""

    @property
    def weights(self) -> int:
        return sum(self.layer_bytes) + self.output_bytes + self.host_bytes


KV_BYTES = {"f16": (2, 1), "q8_0": (34, 32)}
"""Bytes per KV-cache element, as a fraction (numerator, denominator): Q8_0 is 34 bytes per block of 32."""


def model_sizes(llm_header, mmproj_headers: Iterable, kv_cache: str = "f16") -> ModelSizes:
    """Sizes from critic.core.gguf_check headers (fields and the tensor table), the KV cache of type `kv_cache`."""
    fields = llm_header.fields
    n_layer = int(fields["llama.block_count"])
    n_embd = int(fields["llama.embedding_length"])
    n_head = int(fields["llama.attention.head_count"])
    n_head_kv = int(fields.get("llama.attention.head_count_kv") or n_head)
    n_ff = int(fields.get("llama.feed_forward_length") or 4 * n_embd)
    layers = [0] * n_layer
    output = host = 0
    n_vocab = 0
    for name, (shape, _type) in llm_header.tensors.items():
        size = llm_header.tensor_bytes[name]
        if name.startswith("blk."):
            index = int(name.split(".")[1])
            if 0 <= index < n_layer:
                layers[index] += size
        elif name.startswith("output"):
            output += size
        else:
            host += size
            if name.startswith("token_embd"):
                n_vocab = int(shape[-1]) if len(shape) > 1 else 0
    vision = sum(sum(header.tensor_bytes.values()) for header in mmproj_headers)
    numerator, denominator = KV_BYTES[kv_cache]
    kv = 2 * (n_embd // n_head) * n_head_kv * numerator // denominator  # K and V
    return ModelSizes(n_layer, tuple(layers), output, host, kv, n_embd, n_head, n_ff, n_vocab or 32000, vision)


def compute_bytes(sizes: ModelSizes, n_ctx: int, n_batch: int) -> int:
    """A generous bound on llama.cpp's GPU compute buffer for one batch of `n_batch` tokens:
    the attention scores over the whole context (no flash attention assumed), the feed-forward
    activations and the logits."""
    scores = n_batch * n_ctx * sizes.n_head * 4
    ffn = 3 * n_batch * sizes.n_ff * 4
    logits = n_batch * sizes.n_vocab * 4
    return scores + ffn + logits


@dataclass(frozen=True)
class Placement:
    """Where a model will run: what llama.cpp is given and why."""

    gpu_layers: int
    """n_gpu_layers handed to llama.cpp (n_layer + 1 is every layer, the output layer included)."""
    total_layers: int
    vision_gpu: bool
    reason: str
    has_gpu: bool = True
    """False where llama.cpp has no GPU to put layers on: they all run on the CPU, whatever was asked."""

    @property
    def offloaded(self) -> int:
        """Layers that really run on a GPU."""
        return min(self.gpu_layers, self.total_layers) if self.has_gpu else 0

    @property
    def where(self) -> str:
        if self.offloaded <= 0:
            return "CPU"
        if self.offloaded >= self.total_layers:
            return "GPU"
        return "GPU + CPU"


def plan(request: GpuLayers, sizes: ModelSizes, n_ctx: int, n_batch: int, offload_supported: bool,
         gpus: Iterable, vision_cpu: bool = False, margin: int = MARGIN) -> Placement:
    """The layers to offload for `request`, given the GPU devices' free memory (objects with
    `.name` and `.free`, as critic.engine.devices lists them)."""
    total = sizes.n_layer + 1
    gpus = list(gpus)
    usable = offload_supported and bool(gpus)
    vision = not vision_cpu and usable
    cpu_build = "this llama.cpp build has no GPU backend (a CPU build): see README, Running on a GPU"
    if request == 0:
        return Placement(0, total, vision, "--gpu-layers 0: the LLM on the CPU", usable)
    if request == "all" or (isinstance(request, int) and request >= total):
        return Placement(total, total, vision, f"every layer asked for ({request})"
                         + ("" if usable else f"; but {cpu_build if not offload_supported else 'no GPU is seen'}"),
                         usable)
    if isinstance(request, int):
        return Placement(request, total, vision, f"{request} of {total} layers asked for"
                         + ("" if usable else f"; but {cpu_build if not offload_supported else 'no GPU is seen'}"),
                         usable)
    if not offload_supported:
        return Placement(0, total, False, f"auto: {cpu_build}", False)
    if not gpus:
        return Placement(0, total, False, "auto: GPU offload is compiled in but llama.cpp sees no GPU "
                                          "(driver missing, or hidden by CUDA_VISIBLE_DEVICES?)", False)
    free = sum(g.free for g in gpus) - margin
    names = ", ".join(f"{g.name} {g.free / GIB:.1f} GiB free" for g in gpus)
    compute = compute_bytes(sizes, n_ctx, n_batch)
    kv_layer = sizes.kv_bytes_per_token_layer * n_ctx
    need_all = sum(sizes.layer_bytes) + sizes.output_bytes + kv_layer * sizes.n_layer + compute
    vision_need = sizes.vision_bytes + VISION_COMPUTE
    if vision and need_all + vision_need > free and free - vision_need < need_all / 2:
        vision = False  # a tight GPU is better spent on the LLM's layers, which run for every token
    room = free - (vision_need if vision else 0)
    where = f"{names}; needs {need_all / GIB:.1f} GiB with a {n_ctx}-token context"
    if need_all <= room:
        return Placement(total, total, vision, f"auto: every layer fits ({where})")
    room -= compute
    layers = 0
    for size in reversed(sizes.layer_bytes):  # llama.cpp offloads the last layers first
        if room < size + kv_layer:
            break
        room -= size + kv_layer
        layers += 1
    if layers == 0:
        return Placement(0, total, False, f"auto: no layer fits ({where}); on the CPU")
    return Placement(layers, total, vision, f"auto: {layers} of {total} layers fit ({where})")
