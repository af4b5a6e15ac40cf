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
import os
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


def wait_passively() -> None:
    """Let llama.cpp's CPU threads sleep at their barriers instead of spinning, unless the user chose.

    The CPU backend is built with OpenMP. libgomp's default is to spin at every barrier (hundreds
    per token) before sleeping: when another process (or critic's own measuring threads) takes
    one of the cores, the descheduled thread holds each barrier for a time slice while the others
    spin on the cores it needs (bench/contention.py measures it). Read by libgomp when it loads,
    so set before llama.cpp's libraries are."""
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def load_llama_cpp():
    """The llama_cpp module, imported after `promote_libstdcxx` and `wait_passively` (every import of it
    in critic goes here)."""
    if "llama_cpp" not in sys.modules:
        wait_passively()
    promote_libstdcxx()  # also when llama_cpp is imported already: calls bind lazily, at the first model load
    import llama_cpp

    return llama_cpp
