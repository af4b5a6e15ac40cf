"""`critic models pull` and `push` against a loopback hub that the real huggingface_hub client talks to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from critic.cli import main
from critic.core.manifest import Manifest
from critic.engine import registry

pytest.importorskip("huggingface_hub")
from child_process import signal_when  # noqa: E402
from fake_hub import FakeHub, read_folder  # noqa: E402

REPO = "critic-test/tiny-gguf"


@pytest.fixture
def hub(monkeypatch):
    """The fake hub, with HF_ENDPOINT pointing at it (read by critic when a command runs)."""
    with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        yield fake


def model_files(tiny_gguf: Path, prefix: str = "") -> dict[str, bytes]:
    """A converted folder as a repository holds it (what `critic models push` uploads)."""
    files = read_folder(tiny_gguf, prefix)
    return {p: data for p, data in files.items() if not Path(p).name.startswith(".")}


def test_pull_checks_installs_and_analyses(hub, tiny_gguf, painting, capsys):
    hub.add(REPO, {**model_files(tiny_gguf), "README.md": b"# tiny\n"})
    assert main(["models", "pull", f"hf:{REPO}"]) == 0
    out = capsys.readouterr()
    assert "installed tiny-gguf (F16" in out.out
    assert "the hub's shared cache is not used" in out.err
    model = registry.find("tiny-gguf")
    assert model.manifest.source["pulled_from"].startswith(f"hf:{REPO}@{hub.repos[REPO].sha}")
    assert not (registry.models_dir() / ".pull" / "critic-test--tiny-gguf").exists()
    assert {e["path"] for e in hub.log} == {"critic.json", *(f.path for f in model.manifest.files)}
    assert main(["analyze", str(painting), "--model", "tiny-gguf", "--max-tokens", "6", "--no-facts"]) == 0
    assert capsys.readouterr().out.strip()


def test_kill_mid_download_then_rerun_sends_no_finished_file_twice(hub, tiny_gguf, tmp_path, critic_home):
    hub.add(REPO, model_files(tiny_gguf))
    manifest = Manifest.read(tiny_gguf)
    slow = manifest.llm.path  # the largest file, fetched last
    hub.slow[(REPO, slow)] = 0.01
    env = {**os.environ, "HF_ENDPOINT": hub.url, "CRITIC_HOME": str(critic_home)}
    command = [sys.executable, "-m", "critic", "models", "pull", f"hf:{REPO}"]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    signal_when(child, lambda: any(e["path"] == slow and e["sent"] > 64 * 1024 for e in hub.log),
                signal.SIGKILL, "the LLM download never started")
    child.wait()
    assert not registry.installed()
    del hub.slow[(REPO, slow)]
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    for path in ("critic.json", manifest.mmproj.path, manifest.patch0.path, slow):
        bodies = hub.bodies(REPO, path)
        finished = [i for i, e in enumerate(bodies) if e["complete"]]
        assert len(finished) == 1 and finished[0] == len(bodies) - 1, (path, bodies)
    assert len(hub.bodies(REPO, slow)) == 2  # the cut one, then the whole file once
    assert [m.name for m in registry.installed()] == ["tiny-gguf"]
    leftovers = list((critic_home / "models").rglob("*.incomplete"))
    assert leftovers == []


def test_bytes_not_matching_the_sha256_are_refused_and_nothing_installed(hub, tiny_gguf, capsys):
    hub.add(REPO, model_files(tiny_gguf))
    bad = Manifest.read(tiny_gguf).mmproj.path
    hub.corrupt.add((REPO, bad))
    assert main(["models", "pull", f"hf:{REPO}"]) == 4
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("critic: error:")]
    assert len(errors) == 1 and f"{bad}: the download does not match the hub" in errors[0]
    assert "nothing installed" in errors[0]
    assert registry.installed() == []
    hub.corrupt.clear()  # the hub is mended: the rerun fetches that file again, and only that one
    assert main(["models", "pull", f"hf:{REPO}"]) == 0
    assert len(hub.bodies(REPO, bad)) == 2
    assert len(hub.bodies(REPO, Manifest.read(tiny_gguf).llm.path)) == 1


def test_a_repository_without_mmproj_or_without_the_quant_is_refused_in_one_line(hub, tiny_gguf, capsys):
    manifest = Manifest.read(tiny_gguf)
    llm = (tiny_gguf / manifest.llm.path).read_bytes()
    hub.add("someone/llm-only", {"model.Q4_K_M.gguf": llm, "README.md": b"text only\n"})
    assert main(["models", "pull", "hf:someone/llm-only"]) == 4
    err = capsys.readouterr().err.strip()
    assert "has no mmproj GGUF" in err and "model.Q4_K_M.gguf" in err and len(err.splitlines()) == 1
    hub.add(REPO, model_files(tiny_gguf, "F16/"))
    assert main(["models", "pull", f"hf:{REPO}:Q4_K_M"]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no Q4_K_M model; available: F16" in err and len(err.splitlines()) == 1
    assert main(["models", "pull", "hf:nobody/nothing"]) == 11
    assert "no such repository" in capsys.readouterr().err
    assert registry.installed() == [] and all(e["path"].endswith("critic.json") for e in hub.log)


def test_bare_gguf_files_are_pulled_with_the_quant_asked_for(hub, tiny_gguf, capsys):
    manifest = Manifest.read(tiny_gguf)
    data = {p: (tiny_gguf / p).read_bytes() for p in (manifest.llm.path, manifest.mmproj.path)}
    hub.add("someone/llava-gguf", {"tiny.Q8_0.gguf": data[manifest.llm.path], "tiny.F16.gguf": data[manifest.llm.path],
                                   "mmproj-tiny-f16.gguf": data[manifest.mmproj.path]})
    assert main(["models", "pull", "https://huggingface.co/someone/llava-gguf", "--quant", "F16", "--name", "bare"]) == 0
    model = registry.find("bare")
    assert model.manifest.llm.path == "tiny.F16.gguf" and model.manifest.mmproj.path == "mmproj-tiny-f16.gguf"
    assert {e["path"] for e in hub.log} == {"tiny.F16.gguf", "mmproj-tiny-f16.gguf"}


def test_not_enough_disk_is_refused_before_the_first_byte(hub, tiny_gguf, monkeypatch, capsys):
    import shutil

    hub.add(REPO, model_files(tiny_gguf))
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=10 * 1024 * 1024))
    assert main(["models", "pull", f"hf:{REPO}"]) == 12
    err = capsys.readouterr().err.strip()
    assert "needs" in err and "free in" in err and "and the disk has 10.5 MB" in err
    assert [e["path"] for e in hub.log] == ["critic.json"]  # the manifest (a few KB) only: no model byte
    assert "downloading 3 files" in err
    assert registry.installed() == []


def test_offline_mode_says_so(hub, tiny_gguf, monkeypatch, capsys):
    from huggingface_hub import constants

    hub.add(REPO, model_files(tiny_gguf))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["models", "pull", f"hf:{REPO}"]) == 11
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err
    assert hub.requests == []


def test_push_then_pull_round_trip_with_a_model_card(hub, installed_model, monkeypatch, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the fake speaks the LFS protocol, not Xet
    assert main(["models", "push", "tiny", "someone/gallerygpt-gguf"]) == 0
    repo = hub.repos["someone/gallerygpt-gguf"]
    manifest = installed_model.manifest
    assert sorted(repo.files) == sorted(["README.md", "F16/critic.json"] + [f"F16/{e.path}" for e in manifest.files])
    card = repo.files["README.md"].decode()
    assert "critic models pull hf:someone/gallerygpt-gguf:F16" in card
    assert manifest.llm.sha256 in card and "Provenance" in card
    assert main(["models", "pull", "hf:someone/gallerygpt-gguf:F16", "--name", "again"]) == 0
    again = registry.find("again")
    assert [e.sha256 for e in again.manifest.files] == [e.sha256 for e in manifest.files]
    assert json.loads(repo.files["F16/critic.json"])["name"] == "tiny"
