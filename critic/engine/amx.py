"""Keeping llama.cpp's AMX weight buffers out of model loads.

On CPUs with Intel AMX (Xeon since Sapphire Rapids), a llama.cpp built for the machine it runs
on (``GGML_NATIVE``, what ``pip install llama-cpp-python`` does) places Q4_K, Q6_K and Q8_0
weights in its AMX buffer type, first in the CPU backend's list of *extra* buffer types
(before CPU_REPACK). Matrix products from that buffer crash the process with a segmentation
fault on the first evaluation: seen here with llama-cpp-python 0.3.36 on an Intel Xeon with
AMX, for a bare ``Llama(...)`` and ``eval`` of a Q8_0 or Q4_K_M model, and reported upstream
(ggml-org/llama.cpp#20824, "segfault in ggml_backend_amx_mul_mat", closed without a fix).
llama.cpp's only switch, ``use_extra_bufts``, drops CPU_REPACK too, which the engine's decode
speed rests on (see `LlamaEngine._load`).

So the AMX entry alone is taken out of that list. The CPU device hands every model load the
same null-terminated array (``ggml_backend_dev_get_extra_bufts``, reached through the CPU
registry's proc address, the way llama.cpp itself reaches it); the entries after AMX are moved
up over it, in place, before the first load. Weights then go where they go on a CPU without
AMX: CPU_REPACK where it has kernels, the plain CPU buffer otherwise. Nothing else changes: the
AMX buffer type still exists, it just holds nothing. llama-cpp-python binds none of ggml's
registry, hence ctypes; see critic.engine.devices for the same calls.
"""

from __future__ import annotations

import ctypes

AMX = "AMX"
_done = False
left_out = False
"""Whether this process took AMX out of the list (`critic doctor` says so)."""


def _bind():
    """libggml and libggml-base as llama-cpp-python loaded them, with the calls used here typed."""
    from critic.engine.native import ggml_library

    ggml, base = ggml_library("ggml"), ggml_library("ggml-base")
    voidp = ctypes.c_void_p
    for lib, name, args, result in (
        (ggml, "ggml_backend_dev_by_type", [ctypes.c_int], voidp),
        (ggml, "ggml_backend_dev_backend_reg", [voidp], voidp),
        (ggml, "ggml_backend_reg_get_proc_address", [voidp, ctypes.c_char_p], voidp),
        (base, "ggml_backend_buft_name", [voidp], ctypes.c_char_p),
    ):
        function = getattr(lib, name)
        function.argtypes, function.restype = args, result
    return ggml, base


def extra_buffer_types(llama_cpp) -> tuple[list[str], object]:
    """The names of the CPU's extra buffer types that model loads consider, in order, and the array
    they are read from (None where the CPU backend offers no such list)."""
    llama_cpp.llama_backend_init()
    ggml, base = _bind()
    device = ggml.ggml_backend_dev_by_type(0)  # GGML_BACKEND_DEVICE_TYPE_CPU
    if not device:
        return [], None
    address = ggml.ggml_backend_reg_get_proc_address(ggml.ggml_backend_dev_backend_reg(device),
                                                     b"ggml_backend_dev_get_extra_bufts")
    if not address:
        return [], None
    get_extra = ctypes.CFUNCTYPE(ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p)(address)
    array = get_extra(device)
    names = []
    while array and array[len(names)]:
        names.append((base.ggml_backend_buft_name(array[len(names)]) or b"").decode("ascii", "replace"))
    return names, array


def leave_out_amx(llama_cpp) -> bool:
    """Take AMX out of the extra buffer types model loads use (once per process); True if it was there."""
    global _done, left_out
    if _done:
        return False
    _done = True  # first: the libraries are found through load_llama_cpp, which calls this
    try:
        names, array = extra_buffer_types(llama_cpp)
    except (OSError, AttributeError):  # a llama.cpp whose libraries lie elsewhere or lack the calls: as it is
        return False
    if AMX not in names:
        return False
    kept = [array[i] for i, name in enumerate(names) if name != AMX]
    for i in range(len(names)):  # the array keeps its length: the freed slot becomes a second terminator
        array[i] = kept[i] if i < len(kept) else None
    left_out = True
    return True
