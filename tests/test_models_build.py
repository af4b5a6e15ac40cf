"""`critic models build gallerygpt`: the release route from a loopback hub, on the release-exact tiny fixture."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from critic.cli import main
from critic.engine import registry

pytest.importorskip("huggingface_hub")
from child_process import signal_when  # noqa: E402
from fake_hub import RELEASE_BASE as BASE  # noqa: E402
from fake_hub import RELEASE_TOWER as TOWER  # noqa: E402
from fake_hub import FakeHub, add_release  # noqa: E402



@pytest.fixture
def release_hub(tiny_dir, monkeypatch):
    """The release's two hub repositories on a loopback hub (HF_ENDPOINT points there)."""
    with FakeHub() as hub:
        add_release(hub, tiny_dir)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        yield hub


@pytest.fixture
def lora_zip(tiny_dir, tmp_path) -> Path:
    """The LoRA folder zipped inside a top folder, as a browser download of the Drive folder arrives."""
    archive = tmp_path / "GalleryGPT.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted((tiny_dir / "lora").rglob("*")):
            if path.is_file():
                bundle.write(path, "GalleryGPT/" + path.relative_to(tiny_dir / "lora").as_posix())
    return archive


def test_build_from_the_hub_end_to_end_with_verify(release_hub, lora_zip, tmp_path, capsys):
    work = tmp_path / "work"
    assert main(["models", "build", "gallerygpt", "--lora", str(lora_zip), "--quant", "F16",
                 "--work", str(work), "--keep-checkpoint"]) == 0
    out = capsys.readouterr()
    assert "installed gallerygpt-f16 (F16)" in out.out
    for stage in ("lora", "resolve", "download-base", "download-tower", "config", "convert", "verify", "install"):
        assert f"  {stage}" in out.out
    model = registry.find("gallerygpt-f16")
    assert registry.default_name() == "gallerygpt-f16"
    source = model.manifest.source
    assert source["base_revision"] == release_hub.repos[BASE].sha
    assert source["vision_tower_revision"] == release_hub.repos[TOWER].sha
    record = json.loads((work / "build.json").read_text())
    assert source["lora_sha256"] == record["stages"]["lora"]["sha256"]
    assert source["verify"]["tokens_equal"] is True and model.manifest.class_token_layout == "exact"
    fetched = {(e["repo"], e["path"]) for e in release_hub.log}
    assert (BASE, "training_args.bin") not in fetched and (BASE, "README.md") not in fetched
    assert (BASE, "pytorch_model-00001-of-00002.bin") in fetched and (TOWER, "pytorch_model.bin") in fetched
    assert json.loads((work / "ShareGPT4V-7B" / "config.hub.json").read_text())["model_type"] == "share4v"
    assert not (work / "out" / "gallerygpt-f16").exists() or not any((work / "out" / "gallerygpt-f16").glob("*.gguf"))
    # a rerun finds it built; --delete-checkpoint then frees the downloads
    assert main(["models", "build", "gallerygpt", "--lora", str(lora_zip), "--quant", "F16", "--work", str(work),
                 "--delete-checkpoint", "--no-verify"]) == 0
    assert "deleted the downloaded checkpoint" in capsys.readouterr().err
    assert not (work / "ShareGPT4V-7B").exists() and not (work / "lora-unpacked").exists()


def test_a_killed_build_resumes_at_its_stage_and_fetches_no_finished_file_twice(release_hub, tiny_dir, tmp_path,
                                                                               critic_home):
    work = tmp_path / "work"
    slow = "pytorch_model-00001-of-00002.bin"
    release_hub.slow[(BASE, slow)] = 0.01
    env = {**os.environ, "HF_ENDPOINT": release_hub.url, "CRITIC_HOME": str(critic_home)}
    command = [sys.executable, "-m", "critic", "models", "build", "gallerygpt", "--lora", str(tiny_dir / "lora"),
               "--quant", "F16", "--work", str(work), "--no-verify", "--keep-checkpoint"]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    signal_when(child, lambda: any(e["path"] == slow and e["sent"] > 32 * 1024 for e in release_hub.log),
                signal.SIGKILL, "the base download never started")
    child.wait()
    stages = json.loads((work / "build.json").read_text())["stages"]
    assert set(stages) == {"lora", "resolve"}
    del release_hub.slow[(BASE, slow)]
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "[lora]" not in rerun.stderr and "[resolve]" not in rerun.stderr
    for repo, path in {(e["repo"], e["path"]) for e in release_hub.log}:
        bodies = release_hub.bodies(repo, path)
        finished = [i for i, e in enumerate(bodies) if e["complete"]]
        assert len(finished) == 1 and finished[0] == len(bodies) - 1, (path, bodies)
    assert len(release_hub.bodies(BASE, slow)) == 2
    assert [m.name for m in registry.installed()] == ["gallerygpt-f16"]
    assert sorted(json.loads((work / "build.json").read_text())["stages"]) == sorted(
        ["lora", "resolve", "download-base", "download-tower", "config", "convert", "install"])


def test_not_enough_disk_for_the_build_is_refused_before_the_first_byte(release_hub, tiny_dir, tmp_path,
                                                                         monkeypatch, capsys):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=1_000_000))
    assert main(["models", "build", "gallerygpt", "--lora", str(tiny_dir / "lora"), "--work", str(tmp_path / "w"),
                 "--no-verify"]) == 12
    err = capsys.readouterr().err
    assert "building gallerygpt-q4 (downloads and conversion) needs" in err and "the disk has 1.0 MB" in err
    assert release_hub.log == []


def test_a_drive_link_goes_through_gdown_or_names_the_manual_step(release_hub, tiny_dir, tmp_path, monkeypatch,
                                                                  capsys):
    link = "https://drive.google.com/drive/folders/1qLbnxxBwZ15ejaHES_LRCi2Fahv3Od5G"
    monkeypatch.setitem(sys.modules, "gdown", None)  # not installed
    assert main(["models", "build", "gallerygpt", "--lora", link, "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "install gdown" in err and "download the folder in a browser" in err and link in err
    assert release_hub.log == []

    monkeypatch.delitem(sys.modules, "gdown")
    gdown = pytest.importorskip("gdown", reason="gdown (the hub extra) is not installed")
    calls = []

    def download_folder(url, output, quiet, resume):  # Drive is not reachable from a test: the folder arrives
        calls.append((url, resume))
        shutil.copytree(tiny_dir / "lora", Path(output) / "GalleryGPT", dirs_exist_ok=True)

    monkeypatch.setattr(gdown, "download_folder", download_folder)
    work = tmp_path / "w"
    assert main(["models", "build", "gallerygpt", "--lora", link, "--quant", "F16", "--work", str(work),
                 "--no-verify", "--keep-checkpoint"]) == 0
    assert calls == [(link, True)]
    record = json.loads((work / "build.json").read_text())
    assert record["stages"]["lora"]["folder"] == str((work / "lora-download" / "GalleryGPT").resolve())
    assert registry.find("gallerygpt-f16").manifest.source["lora_source"] == link
