"""Hermetic tests: data dir in tmp, no network beyond loopback, the tiny model built once."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

SHARED_PAINTINGS = Path(__file__).resolve().parents[2] / "shared" / "paintings"


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
    """A copy of one sample painting when ../shared is there, else a synthetic picture."""
    source = SHARED_PAINTINGS / "great_wave_hokusai.jpg"
    target = tmp_path / "painting.jpg"
    if source.exists():
        target.write_bytes(source.read_bytes())
    else:
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (320, 200), (30, 60, 140))
        ImageDraw.Draw(image).ellipse((100, 40, 220, 160), fill=(230, 200, 120))
        image.save(target, quality=92)
    return target


# -- the tiny reference model, built once per test session ---------------------------------

@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """The tiny LLaVA checkpoint folders (base, vision-tower, lora)."""
    pytest.importorskip("transformers")
    from convert.tiny import build

    return build(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_gguf(tiny_dir, tmp_path_factory) -> Path:
    """The tiny model converted to F16 GGUF files with the LoRA merged."""
    from convert.pipeline import ConvertConfig, convert

    out = tmp_path_factory.mktemp("gguf") / "tiny-f16"
    return convert(ConvertConfig(base=str(tiny_dir / "base"), vision_tower=str(tiny_dir / "vision-tower"),
                                 lora=str(tiny_dir / "lora"), out=str(out), quant="F16", name="tiny"),
                   show_progress=False)


@pytest.fixture
def installed_model(tiny_gguf, critic_home):
    """The tiny model registered in this test's data directory."""
    from critic import registry

    return registry.add_folder(tiny_gguf)
