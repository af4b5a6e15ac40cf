"""llama.cpp's AMX weight buffers are kept out of model loads (critic.engine.amx), on the real llama.cpp.

On a CPU with AMX, the installed llama.cpp crashed evaluating a Q8_0 model from its AMX buffer;
elsewhere the list holds no AMX and these tests check that nothing else is lost."""

from __future__ import annotations

import json
import subprocess
import sys

_LISTS = """
import json, llama_cpp
from critic.engine import amx
amx._done = True  # as llama.cpp offers it: nothing taken out yet
before, _ = amx.extra_buffer_types(llama_cpp)
amx._done = False
from critic.engine.native import load_llama_cpp
after, _ = amx.extra_buffer_types(load_llama_cpp())
again = amx.leave_out_amx(llama_cpp)
print(json.dumps({"before": before, "after": after, "left_out": amx.left_out, "again": again}))
"""

_EVAL = """
import sys
from critic.engine.native import load_llama_cpp
llama_cpp = load_llama_cpp()
from critic.engine.llama import silence_llama_logs
silence_llama_logs()
llama = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, n_batch=64, verbose=False)
llama.eval(list(range(1, 40)))
print(len(llama.scores[0]))
"""


def test_amx_alone_leaves_the_weight_layouts_once_llama_cpp_is_loaded():
    run = subprocess.run([sys.executable, "-c", _LISTS], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lists = json.loads(run.stdout)
    assert lists["after"] == [name for name in lists["before"] if name != "AMX"]
    assert lists["left_out"] == ("AMX" in lists["before"]) and lists["again"] is False


def test_a_q8_0_model_evaluates_in_a_process_of_its_own(tiny_gguf, tmp_path):
    """Q8_0 is one of the types AMX takes; the child's exit says whether llama.cpp survived the product."""
    from critic.convert.quantize import quantize
    from critic.core.manifest import Manifest

    q8 = tmp_path / "llm.Q8_0.gguf"
    quantize(Manifest.read(tiny_gguf).file_paths(tiny_gguf)[0], q8, "Q8_0")
    run = subprocess.run([sys.executable, "-c", _EVAL, str(q8)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    assert int(run.stdout) > 0


def test_doctor_names_the_weight_layouts(installed_model, capsys):
    from critic.cli import main
    from critic.engine import amx
    from critic.engine.native import load_llama_cpp

    assert main(["doctor", "--json"]) == 0
    buffers = json.loads(capsys.readouterr().out)["llama_cpp"]["weight_buffers"]
    assert buffers == {"used": amx.extra_buffer_types(load_llama_cpp())[0], "amx_left_out": amx.left_out}
    assert "AMX" not in buffers["used"]
    assert main(["doctor"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("CPU weight layouts:"))
    assert ("AMX left out" in line) == amx.left_out
