"""Installing shares nothing with the source; `models list` marks damaged files; every layout registers;
the README's and `--help`'s `critic models` examples run as written."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import zipfile
from pathlib import Path

import pytest

from critic.cli import main
from critic.cli.examples import EXAMPLES
from critic.core.manifest import Manifest
from critic.engine import registry

ROOT = Path(__file__).resolve().parents[1]


def test_an_install_shares_no_inode_with_its_source_and_survives_its_damage(tiny_gguf, tmp_path, capsys):
    source = tmp_path / "converted"
    shutil.copytree(tiny_gguf, source)
    model = registry.add_folder(source)
    for entry in model.manifest.files:
        installed, original = (model.folder / entry.path).stat(), (source / entry.path).stat()
        assert installed.st_ino != original.st_ino and installed.st_nlink == 1
    with open(source / model.manifest.llm.path, "r+b") as handle:  # damage the converted folder
        handle.truncate(100)
    registry.verified("tiny")  # the install still checks out
    assert main(["models", "list"]) == 0
    assert "DAMAGED" not in capsys.readouterr().out


def test_models_list_marks_truncated_and_changed_files(installed_model, capsys):
    folder, manifest = installed_model.folder, installed_model.manifest
    assert main(["models", "list"]) == 0
    assert re.search(r"tiny .* ok", capsys.readouterr().out)
    mmproj = folder / manifest.mmproj.path
    os.utime(mmproj, ns=(mmproj.stat().st_atime_ns, mmproj.stat().st_mtime_ns + 10**9))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "CHANGED tiny" in out and f"{manifest.mmproj.path} was changed since it was installed" in out
    registry.verified("tiny")  # its sha256 is checked and recorded: the mark goes
    assert main(["models", "list"]) == 0
    assert "CHANGED" not in capsys.readouterr().out
    with open(folder / manifest.llm.path, "r+b") as handle:
        handle.truncate(manifest.llm.size // 2)
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert f"DAMAGED tiny: {manifest.llm.path} is {manifest.llm.size // 2} bytes, {manifest.llm.size} " \
           "when installed (truncated)" in " ".join(out.split())


def test_add_registers_the_exact_layouts_patch0_mmproj(tiny_gguf, capsys):
    manifest = Manifest.read(tiny_gguf)
    llm, mmproj, patch0 = (str(tiny_gguf / e.path) for e in manifest.files)
    assert main(["models", "add", "--llm", llm, "--mmproj", patch0, "--name", "wrong"]) == 2
    assert "give it with --patch0" in capsys.readouterr().err
    assert main(["models", "add", "--llm", llm, "--mmproj", mmproj, "--patch0", patch0, "--name", "exact"]) == 0
    model = registry.verified("exact")
    assert model.manifest.class_token_layout == "exact"
    assert [e.sha256 for e in model.manifest.files] == [e.sha256 for e in manifest.files]


# -- the examples, as written -------------------------------------------------------------------

def _readme_commands(prefix: str) -> list[str]:
    """`critic …` lines of the README's "Getting GalleryGPT" section, continuation lines joined."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Getting GalleryGPT"):text.index("### Serving a collection")]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith(prefix):
                commands.append(" ".join(line.split()))
    return commands


@pytest.fixture
def release_folders(tiny_dir, tmp_path, monkeypatch):
    """A working folder with the release's three folders under their real names, and the LoRA's zip."""
    work = tmp_path / "cwd"
    work.mkdir()
    for name, part in (("ShareGPT4V-7B", "base"), ("ShareGPT4V-7B_Pretrained_vit-large336-l12", "vision-tower"),
                       ("GalleryGPT", "lora")):
        (work / name).symlink_to(tiny_dir / part)
    with zipfile.ZipFile(work / "GalleryGPT.zip", "w") as bundle:
        for path in sorted((tiny_dir / "lora").rglob("*")):
            if path.is_file():
                bundle.write(path, "GalleryGPT/" + path.relative_to(tiny_dir / "lora").as_posix())
    monkeypatch.chdir(work)
    return work


def test_every_models_example_runs_as_written(release_folders, tiny_dir, tiny_gguf, monkeypatch, capsys):
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    from fake_hub import FakeHub, add_release

    # the manual route of the README, then `models add` / `default` as written
    for line in _readme_commands("critic convert"):
        assert main(shlex.split(line)[1:]) == 0, line
    manifest = Manifest.read(tiny_gguf)
    for name, entry in (("model.Q4_K_M.gguf", manifest.llm), ("mmproj.gguf", manifest.mmproj),
                        ("g.Q4_K_M.gguf", manifest.llm), ("g.mmproj-F16.gguf", manifest.mmproj),
                        ("g.mmproj-patch0-F16.gguf", manifest.patch0)):
        shutil.copyfile(tiny_gguf / entry.path, name)
    examples = [line for key, lines in EXAMPLES.items() if key.startswith("models") for line in lines]
    examples += _readme_commands("critic models")
    order = ("critic models add gallerygpt-q4", "critic models default", "critic models show", "critic models list",
             "critic models add --llm", "critic models push", "critic models pull", "critic models build",
             "critic models rm")
    ran = set()
    with FakeHub() as hub:
        add_release(hub, tiny_dir)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        gdown = pytest.importorskip("gdown")
        monkeypatch.setattr(gdown, "download_folder",  # the Drive link: no network in a test
                            lambda url, output, quiet, resume: shutil.copytree(tiny_dir / "lora", Path(output),
                                                                               dirs_exist_ok=True))
        for start in order:
            for line in dict.fromkeys(examples):
                if not line.startswith(start) or line in ran or line.endswith("--help"):
                    continue
                if line.startswith("critic models pull"):
                    main(["models", "rm", "REPO"]) if any(m.name == "REPO" for m in registry.installed()) else None
                if line.startswith("critic models build"):
                    main(["models", "rm", "gallerygpt-q4"])
                    main(["models", "rm", "gallerygpt-q8"]) if any(
                        m.name == "gallerygpt-q8" for m in registry.installed()) else None
                assert main(shlex.split(line)[1:]) == 0, (line, capsys.readouterr().err)
                ran.add(line)
    assert ran == {line for line in examples if not line.endswith("--help")}
    assert "critic models default gallerygpt-q4" in ran
