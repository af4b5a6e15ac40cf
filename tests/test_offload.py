"""Where the model runs, with the real llama.cpp on the tiny model: layers handed to llama.cpp,
threads, the fallback from a GPU that runs out of memory, what every record keeps, `critic doctor`,
and loading a GPU build safely whatever was imported first."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from critic.engine.base import Settings

QUESTION = "Describe the composition."


def _answer(engine, painting, max_tokens: int = 12) -> tuple[str, object]:
    session = engine.open_session(painting)
    text = "".join(session.ask(QUESTION, Settings(max_tokens=max_tokens)))
    return text, session


def test_auto_is_the_cpu_on_a_cpu_build_and_the_record_says_where_it_ran(tiny_gguf, painting):
    import llama_cpp

    from critic.engine.llama import LlamaEngine

    assert not llama_cpp.llama_supports_gpu_offload()  # this machine's build: the CPU one
    engine = LlamaEngine.from_folder(tiny_gguf, n_ctx=2048, threads=1)
    try:
        assert engine.placement.gpu_layers == 0 and "no GPU backend" in engine.placement.reason
        text, session = _answer(engine, painting)
        runtime = session.turns[-1].runtime
        assert runtime == {"backend": "CPU", "device": "CPU", "gpu_layers": 0, "layers": 3, "vision": "CPU",
                           "threads": 1, "threads_batch": 1, "kv_cache": "f16"}
    finally:
        engine.close()


def test_an_explicit_layer_count_reaches_llama_cpp_and_changes_no_word(tiny_gguf, painting):
    from critic.engine.llama import LlamaEngine

    texts = {}
    for layers in ("auto", 0, 2):
        engine = LlamaEngine.from_folder(tiny_gguf, n_ctx=2048, threads=1, gpu_layers=layers)
        try:
            # the parameters llama_model_load_from_file was called with, kept by the loaded model
            assert engine.llama._model.params.n_gpu_layers == (2 if layers == 2 else 0)
            # one copy of the weights: read into memory and repacked there, not mapped beside a repacked copy
            import llama_cpp

            assert engine.llama._model.params.use_extra_bufts
            assert engine.llama._model.params.load_mode == llama_cpp.LLAMA_LOAD_MODE_NONE
            texts[layers], _ = _answer(engine, painting)
            assert engine.runtime["gpu_layers"] == 0  # a CPU build offloads nothing, whatever was asked
        finally:
            engine.close()
    assert texts["auto"] == texts[0] == texts[2]


@pytest.fixture
def pretend_gpu(monkeypatch):
    """llama.cpp as a GPU build with one 8 GiB device would report itself: the one thing faked,
    since this machine has no GPU; loads and prompts still run on the real (CPU) llama.cpp."""
    import llama_cpp

    from critic.engine import devices

    gpu = devices.Device("CUDA0", "Pretend GPU", "GPU", 8 << 30, 8 << 30)
    real = devices.list_devices
    monkeypatch.setattr(devices, "list_devices", lambda: (("CUDA", "CPU"), (*real()[1], gpu)))
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: True)
    return gpu


def test_a_load_that_fails_on_the_gpu_falls_back_to_fewer_layers_then_the_cpu(tiny_gguf, painting, pretend_gpu,
                                                                               monkeypatch):
    import llama_cpp

    from critic.engine.llama import LlamaEngine

    real_llama = llama_cpp.Llama
    asked = []

    def llama_without_gpu_memory(*args, **kwargs):
        asked.append(kwargs["n_gpu_layers"])
        if kwargs["n_gpu_layers"] > 0:  # as llama-cpp-python reports a failed load
            raise ValueError("Failed to load model from file")
        return real_llama(*args, **kwargs)

    monkeypatch.setattr(llama_cpp, "Llama", llama_without_gpu_memory)
    engine = LlamaEngine.from_folder(tiny_gguf, n_ctx=2048, threads=1)
    try:
        assert asked == [3, 1, 0]  # every layer, half, none
        assert engine.placement.gpu_layers == 0
        text, session = _answer(engine, painting)
        assert text
        assert any("running on the CPU" in n for n in session.notices)
        assert session.turns[-1].runtime["gpu_layers"] == 0
    finally:
        engine.close()


def test_a_prompt_that_fails_on_the_gpu_is_read_again_with_fewer_layers(tiny_gguf, painting, pretend_gpu):
    from critic.engine.llama import LlamaEngine

    reference = LlamaEngine.from_folder(tiny_gguf, n_ctx=2048, threads=1, gpu_layers=0)
    try:
        expected, _ = _answer(reference, painting)
    finally:
        reference.close()
    engine = LlamaEngine.from_folder(tiny_gguf, n_ctx=2048, threads=1, gpu_layers=2)
    try:
        assert engine.placement.offloaded == 2
        real_eval = engine.llama.eval
        failures = []

        def eval_out_of_memory(tokens):  # llama_decode failing on a full GPU, once
            if not failures:
                failures.append(len(tokens))
                raise RuntimeError("llama_decode returned -3")
            return real_eval(tokens)

        engine.llama.eval = eval_out_of_memory
        text, session = _answer(engine, painting)
        assert failures and text == expected
        assert engine.placement.gpu_layers == 1
        assert any("reading the prompt" in n and "1 layers on the GPU" in n for n in session.notices)
        assert session.turns[-1].runtime["gpu_layers"] == 1
    finally:
        engine.close()


def test_records_history_and_transcripts_keep_where_it_ran(installed_model, painting, tmp_path, capsys):
    from critic.cli import main
    from critic.history import History
    from critic.tui.transcript import to_markdown

    assert main(["analyze", str(painting), "--max-tokens", "4", "--format", "json", "--no-facts",
                 "--threads", "1", "--gpu-layers", "0"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["runtime"]["backend"] == "CPU" and record["runtime"]["threads"] == 1
    assert main(["analyze", str(painting), "--max-tokens", "4", "--format", "markdown", "--no-facts",
                 "--threads", "1"]) == 0
    assert "**Ran on:** llama.cpp (CPU) on the CPU, 1 threads (1 for the prompt)" in capsys.readouterr().out

    from critic.engine.llama import LlamaEngine
    from critic.history import SavedTurn

    engine = LlamaEngine.from_folder(installed_model.folder, n_ctx=2048, threads=1)
    try:
        _, session = _answer(engine, painting, 4)
    finally:
        engine.close()
    turn = session.turns[-1]
    history = History()
    conversation = history.create(painting, "sha", "tiny")
    history.add_turn(conversation, SavedTurn(turn.question, turn.answer, runtime=turn.runtime))
    saved = history.get(conversation)
    assert saved.turns[0].runtime == turn.runtime
    assert "- Ran on: llama.cpp (CPU) on the CPU, 1 threads" in to_markdown(saved, saved.turns)


def test_the_setting_comes_from_the_flag_then_the_environment_then_the_settings_file(monkeypatch):
    from critic.core.settings import save_settings
    from critic.engine.offload import configured_gpu_layers

    assert configured_gpu_layers() == ("auto", "default")
    save_settings({"gpu_layers": 7})
    assert configured_gpu_layers() == (7, "settings.json")
    monkeypatch.setenv("CRITIC_GPU_LAYERS", "all")
    assert configured_gpu_layers() == ("all", "CRITIC_GPU_LAYERS")
    assert configured_gpu_layers("0") == (0, "--gpu-layers")


def test_bad_hardware_flags_are_one_line_errors(installed_model, painting, capsys):
    from critic.cli import main

    assert main(["analyze", str(painting), "--gpu-layers", "lots"]) == 2
    assert "give auto, all, 0 (CPU only) or a number" in capsys.readouterr().err
    assert main(["analyze", str(painting), "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_doctor_says_what_will_run_where(installed_model, capsys):
    from critic.cli import main
    from critic.engine.cores import core_counts

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "GPU offload not compiled in (a CPU build)" in out
    assert "Model tiny" in out and "runs on the CPU" in out and "no GPU backend" in out
    assert "GPU layers setting: auto (from default)" in out
    assert main(["doctor", "--json", "--gpu-layers", "2", "--threads", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    counts = core_counts()
    assert report["cpu"]["threads"] == 3 and report["cpu"]["physical"] == counts.physical
    assert report["gpu_layers_setting"] == {"value": 2, "from": "--gpu-layers"}
    assert report["plan"]["asked_gpu_layers"] == 2 and report["plan"]["gpu_layers"] == 0
    assert report["llama_cpp"]["backends"] == ["CPU"] and report["devices"][0]["kind"] == "CPU"
    assert {row["extra"] for row in report["extras"]} >= {"convert", "train", "annotate", "eval", "hub"}


def test_numpy_first_then_a_model_load_binds_llama_cpp_to_libstdcxx(tiny_gguf):
    """A CUDA build crashed in every model load when numpy had been imported before llama_cpp (its
    libggml-cuda exports copies of libstdc++ functions that libllama then bound to). Loading through
    critic puts libstdc++ in the global symbol scope first; here that is checked where the symbol
    resolves, and the model loads and answers with critic's log callbacks in place."""
    code = textwrap.dedent(f"""
        import ctypes, ctypes.util, sys
        import numpy  # first, as critic's own modules import it
        from pathlib import Path
        scope = ctypes.CDLL(None)
        before = hasattr(scope, "_ZNSo9_M_insertIlEERSoT_")
        from critic.engine.llama import LlamaEngine, silence_llama_logs
        silence_llama_logs()
        engine = LlamaEngine.from_folder(Path({str(tiny_gguf)!r}), n_ctx=2048, threads=1)
        symbol = ctypes.cast(getattr(ctypes.CDLL(None), "_ZNSo9_M_insertIlEERSoT_"), ctypes.c_void_p).value

        class DlInfo(ctypes.Structure):
            _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p), ("sname", ctypes.c_char_p),
                        ("saddr", ctypes.c_void_p)]
        info = DlInfo()
        ctypes.CDLL(ctypes.util.find_library("c")).dladdr(ctypes.c_void_p(symbol), ctypes.byref(info))
        print(before, info.fname.decode())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    before, library = done.stdout.split()
    assert before == "False"  # numpy leaves libstdc++ out of the global scope
    assert Path(library).name.startswith("libstdc++.so")
