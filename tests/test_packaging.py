"""The package as pip builds it: every data file in, no setuptools warning, no extra that pins torch."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_extras_never_pin_torch_to_one_version():
    """A user's CUDA or MPS build of torch must survive `pip install critic[train]`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra, needs in project["optional-dependencies"].items():
        for need in needs:
            if need.replace(" ", "").startswith("torch"):
                assert "==" not in need, f"[{extra}] pins {need}"


def test_the_wheel_builds_without_warnings_and_carries_its_data(tmp_path):
    import shutil

    had_build = (ROOT / "build").exists()
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
                           "--disable-pip-version-check", str(ROOT), "-w", str(tmp_path / "wheel")],
                          capture_output=True, text=True, cwd=tmp_path)
    if not had_build:  # setuptools builds in the source tree
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in (done.stdout + done.stderr).splitlines()
                if ("Warning" in line or "would be ignored" in line) and "root" not in line]
    assert not warnings, "\n".join(warnings)
    wheel = next((tmp_path / "wheel").glob("critic-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("critic/data/sample_refs.json", "critic/train/deepspeed/zero2.json",
                 "critic/train/deepspeed/zero3.json", "critic/tui/critic.tcss", "critic/tui/gallery.tcss"):
        assert data in names
