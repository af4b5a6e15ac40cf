"""Importing llama-cpp-python so that a GPU build loads in any process.

A CUDA build's libggml-cuda exports its own copies of some libstdc++ template functions
(``std::ostream::_M_insert<long>`` among them). When libstdc++ was loaded before llama.cpp
without being in the process's global symbol scope, which is what importing numpy first does
(extension modules load with RTLD_LOCAL), libllama's calls into the C++ library bind to those
copies instead, and `llama_model::print_info()` crashes with a segmentation fault during every
model load: seen on an H200 with llama-cpp-python 0.3.36 built with ``-DGGML_CUDA=on``, for
critic's engine and for a bare ``import numpy, llama_cpp; Llama(...)`` alike. Putting libstdc++
in the global scope before llama.cpp's libraries load makes those calls bind to libstdc++
itself. CPU builds are unaffected; the promotion is harmless there.
"""

from __future__ import annotations

import ctypes
import sys

LIBSTDCXX = "libstdc++.so.6"


def promote_libstdcxx() -> bool:
    """Put libstdc++ in the global symbol scope (Linux; elsewhere nothing to do). True if it is there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL(LIBSTDCXX, mode=ctypes.RTLD_GLOBAL)
    except OSError:  # a libc++ or static toolchain: no shared libstdc++ to bind to
        return False
    return True


def ggml_library(name: str) -> ctypes.CDLL:
    """One of the ggml libraries llama-cpp-python ships and has loaded (``ggml``, ``ggml-base``), by the path
    its own loader used, so the handle is the same library: for the calls it does not bind."""
    from pathlib import Path

    lib_dir = Path(load_llama_cpp().__file__).parent / "lib"
    file = {"win32": f"{name}.dll", "darwin": f"lib{name}.dylib"}.get(sys.platform, f"lib{name}.so")
    return ctypes.CDLL(str(lib_dir / file))


def load_llama_cpp():
    """The llama_cpp module, imported after `promote_libstdcxx` and with AMX left out of its weight buffers
    (critic.engine.amx); every import of it in critic goes here."""
    promote_libstdcxx()  # also when llama_cpp is imported already: calls bind lazily, at the first model load
    import llama_cpp

    from critic.engine.amx import leave_out_amx

    leave_out_amx(llama_cpp)
    return llama_cpp
