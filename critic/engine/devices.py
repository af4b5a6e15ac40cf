"""What the installed llama.cpp can run on: its backends, its devices and their free memory.

llama-cpp-python binds llama.h but not ggml's device registry, so the few registry calls
critic needs (`ggml_backend_reg_*`, `ggml_backend_dev_*`, all plain C functions of the
libggml that llama-cpp-python ships and has already loaded) are bound here with ctypes.
Imported only where a model is loaded or `critic doctor` runs.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from critic.engine.native import ggml_library, load_llama_cpp

DEVICE_TYPES = {0: "CPU", 1: "GPU", 2: "iGPU", 3: "accelerator", 4: "meta"}
GPU_TYPES = ("GPU", "iGPU")


@dataclass(frozen=True)
class Device:
    """One device llama.cpp can compute on."""

    name: str
    description: str
    kind: str
    """CPU, GPU, iGPU (shares host memory, e.g. Apple Silicon), accelerator."""
    free: int
    total: int

    @property
    def is_gpu(self) -> bool:
        return self.kind in GPU_TYPES


@dataclass(frozen=True)
class Build:
    """The llama.cpp that llama-cpp-python carries, as it reports itself."""

    version: str
    gpu_offload: bool
    """llama_supports_gpu_offload(): a GPU backend (Metal, CUDA, Vulkan, ROCm…) is compiled in."""
    backends: tuple[str, ...]
    devices: tuple[Device, ...]
    cpu_features: str

    @property
    def gpus(self) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.is_gpu)


def _ggml():
    """libggml as llama-cpp-python loaded it, its device registry bound."""
    lib = ggml_library("ggml")
    voidp, size_t = ctypes.c_void_p, ctypes.c_size_t
    for name, args, result in (
        ("ggml_backend_reg_count", [], size_t), ("ggml_backend_reg_get", [size_t], voidp),
        ("ggml_backend_reg_name", [voidp], ctypes.c_char_p), ("ggml_backend_dev_count", [], size_t),
        ("ggml_backend_dev_get", [size_t], voidp), ("ggml_backend_dev_name", [voidp], ctypes.c_char_p),
        ("ggml_backend_dev_description", [voidp], ctypes.c_char_p), ("ggml_backend_dev_type", [voidp], ctypes.c_int),
        ("ggml_backend_dev_memory", [voidp, ctypes.POINTER(size_t), ctypes.POINTER(size_t)], None),
    ):
        function = getattr(lib, name)
        function.argtypes, function.restype = args, result
    return lib


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace")


def list_devices() -> tuple[tuple[str, ...], tuple[Device, ...]]:
    """(backends compiled in, devices with their free and total memory now)."""
    llama_cpp = load_llama_cpp()

    llama_cpp.llama_backend_init()
    lib = _ggml()
    backends = tuple(_text(lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)))
                     for i in range(lib.ggml_backend_reg_count()))
    devices = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        devices.append(Device(_text(lib.ggml_backend_dev_name(dev)), _text(lib.ggml_backend_dev_description(dev)),
                              DEVICE_TYPES.get(lib.ggml_backend_dev_type(dev), "other"), free.value, total.value))
    return backends, tuple(devices)


def build_info() -> Build:
    """The installed llama.cpp: version, GPU offload support, backends and devices."""
    llama_cpp = load_llama_cpp()

    backends, devices = list_devices()
    features = _text(llama_cpp.llama_print_system_info())
    return Build(getattr(llama_cpp, "__version__", "?"), bool(llama_cpp.llama_supports_gpu_offload()),
                 backends, devices, features)
