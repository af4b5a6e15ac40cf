"""Hermetic tests: data dir in tmp, no network beyond loopback, the tiny model built once."""

from __future__ import annotations

import functools
import ipaddress
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def critic_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own data directory."""
    home = tmp_path / "critic-home"
    monkeypatch.setenv("CRITIC_HOME", str(home))
    return home


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that connects anywhere but loopback (or a Unix socket)."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise AssertionError(f"test tried to reach the network: {address}")

    def connect(sock, address):
        guard(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        guard(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture
def painting(tmp_path) -> Path:
    """A generated painting as a JPEG: critic's example seascape (tests use nothing from outside the repository)."""
    from critic.example import draw_example

    target = tmp_path / "painting.jpg"
    draw_example(480, 320).save(target, quality=92)
    return target


QUADRANTS = {  # what each quarter of the `quadrants` painting holds: colours and stroke direction
    "top-left": ((205, 60, 35), (150, 35, 20), "horizontal"),
    "top-right": ((60, 90, 200), (35, 55, 150), "vertical"),
    "bottom-left": ((80, 60, 40), (35, 25, 20), "diagonal"),
    "bottom-right": ((235, 225, 195), (205, 195, 165), "horizontal"),
}
"""Two colours striped 12 px each way (a period of 24), per quarter of a 400 × 300 canvas."""


@pytest.fixture(scope="session")
def quadrants(tmp_path_factory) -> Path:
    """A 400 × 300 PNG whose quarters differ in colour and stroke direction (`QUADRANTS`): red strokes running
    across at the top left, blue ones running down at the top right, dark brown diagonals, pale cream."""
    import numpy as np
    from PIL import Image

    height, width = 300, 400
    y, x = np.mgrid[0:height, 0:width]
    along = {"horizontal": y, "vertical": x, "diagonal": (x + y) / np.sqrt(2)}
    pixels = np.zeros((height, width, 3), np.uint8)
    for n, (light, dark, direction) in enumerate(QUADRANTS.values()):
        rows = slice(0, height // 2) if n < 2 else slice(height // 2, height)
        cols = slice(0, width // 2) if n % 2 == 0 else slice(width // 2, width)
        stripe = (np.sin(along[direction][rows, cols] * 2 * np.pi / 24) > 0)[..., None]
        pixels[rows, cols] = np.where(stripe, light, dark)
    path = tmp_path_factory.mktemp("quadrants") / "quadrants.png"
    Image.fromarray(pixels).save(path)
    return path


# -- the tiny reference model, built once per test session ---------------------------------

@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """The tiny LLaVA checkpoint folders (base, vision-tower, lora)."""
    pytest.importorskip("transformers")
    from critic.convert.tiny import build

    return build(tmp_path_factory.mktemp("tiny"))


def _f16_gguf(checkpoint: Path, out: Path, name: str) -> Path:
    """A tiny checkpoint folder (base, vision-tower, lora) converted to F16 GGUF files, the LoRA merged."""
    from critic.convert.pipeline import ConvertConfig, convert

    return convert(ConvertConfig(base=str(checkpoint / "base"), vision_tower=str(checkpoint / "vision-tower"),
                                 lora=str(checkpoint / "lora"), out=str(out), quant="F16", name=name),
                   show_progress=False)


@pytest.fixture(scope="session")
def tiny_gguf(tiny_dir, tmp_path_factory) -> Path:
    """The tiny model converted to F16 GGUF files with the LoRA merged."""
    return _f16_gguf(tiny_dir, tmp_path_factory.mktemp("gguf") / "tiny-f16", "tiny")


@pytest.fixture(scope="session")
def tiny256(tmp_path_factory) -> Path:
    """The tiny checkpoint 256 wide, its attention heads 64 (a q8_0 KV cache needs a multiple of 32)."""
    pytest.importorskip("transformers")
    from critic.convert.tiny import TinySpec, build

    return build(tmp_path_factory.mktemp("tiny256"), TinySpec(hidden=256, heads=4))


@pytest.fixture(scope="session")
def tiny256_gguf(tiny256, tmp_path_factory) -> Path:
    """`tiny256` converted to F16 GGUF files."""
    return _f16_gguf(tiny256, tmp_path_factory.mktemp("gguf256") / "tiny256-f16", "tiny256")


@pytest.fixture
def installed_model(tiny_gguf, critic_home):
    """The tiny model registered in this test's data directory."""
    from critic.engine import registry

    return registry.add_folder(tiny_gguf)


@pytest.fixture(scope="module")
def engine(tiny_gguf):
    """The tiny model in critic's engine, as its folder describes it (one thread), shared by a module's tests."""
    from critic.engine.llama import LlamaEngine

    engine = LlamaEngine.from_folder(tiny_gguf, n_ctx=2048, threads=1)
    yield engine
    engine.close()


@pytest.fixture
def llama_server(tiny_gguf, tmp_path):
    """Starts `python -m llama_cpp.server` on the tiny model (with extra flags); returns its base URL (no /v1)."""
    pytest.importorskip("uvicorn")  # the llama_cpp.server extra
    import urllib.request

    from critic.core.manifest import Manifest

    llm, mmproj = Manifest.read(tiny_gguf).file_paths(tiny_gguf)
    started = []

    def start(*extra: str) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log_path = tmp_path / f"llama-server-{len(started)}.log"
        log = open(log_path, "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(llm), "--clip_model_path", str(mmproj),
             "--chat_format", "llava-1-5", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", *extra],
            stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")[-2000:]
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=2).close()
                return url
            except OSError:
                assert time.monotonic() < deadline, "llama_cpp.server did not come up"
                time.sleep(0.2)

    yield start
    for process, log in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# -- the annotate tests' scripted provider ----------------------------------------------------

@pytest.fixture
def server():
    """The scripted OpenAI-compatible server on loopback, answering as annotate_support.answer does."""
    from annotate_support import answer
    from openai_script_server import ScriptServer

    with ScriptServer(answer) as scripted:
        yield scripted


@pytest.fixture
def world(tmp_path, server, monkeypatch):
    """Paintings, images and a providers file pointing at the scripted server (its key in the environment)."""
    from annotate_support import CANARY, make_world

    monkeypatch.setenv("CRITIC_TEST_KEY", CANARY)
    return make_world(tmp_path, server.url)


# -- the screens' SVG snapshots ----------------------------------------------------------------

@functools.cache
def _module_snapshots():
    """An SVG snapshot extension that keeps snapshots in tests/snapshots/<test module>/."""
    from pytest_textual_snapshot import SVGImageExtension

    class ModuleSnapshots(SVGImageExtension):
        @classmethod
        def dirname(cls, *, test_location) -> str:
            return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)

    return ModuleSnapshots


@pytest.fixture
def svg_snapshot(snapshot):
    """Compares a screen's SVG with tests/snapshots/<test module>/<test>.svg."""
    return snapshot.use_extension(_module_snapshots())


@pytest.fixture
def fixed_cells(monkeypatch):
    """The same cell size whatever terminal runs the tests, so pictures scale the same."""
    from textual_image._terminal import CellSize, get_cell_size

    monkeypatch.setattr(get_cell_size, "_result", CellSize(10, 20), raising=False)
