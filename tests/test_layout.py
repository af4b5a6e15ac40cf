"""The house's layout: which floor each package is on, and imports only go down.

The table is the one in critic/__init__.py's docstring. Every import in every module is read
(those inside functions too, where the heavy stages are imported lazily), so a new import that
runs up a floor, or across one, fails here rather than in a reader's head.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# repository folder -> the package name it installs as
FOLDERS = {"critic": "critic", "convert": "critic.convert", "train": "critic.train",
           "annotate": "critic.annotate", "evaluation": "critic.evaluation", "llava": "critic.llava"}

FLOORS = {
    "critic.core": 0,
    "critic.facts": 1, "critic.engine": 1, "critic.llava": 1,
    "critic.analyze": 2, "critic.history": 2, "critic.example": 2,
    "critic.annotate": 2, "critic.train": 2, "critic.convert": 2, "critic.evaluation": 2,
    "critic.gallery": 3, "critic.report": 3, "critic.models": 3,
    "critic.tui": 4, "critic.cli": 5, "critic.__main__": 6,
}
# Imports across one floor, each with its reason.
SIDEWAYS = {
    ("critic.report", "critic.gallery"): "a report draws the gallery's cached facts and figures",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(name: str) -> str:
    """critic.X: the package (or module) of critic that a dotted name belongs to."""
    return ".".join(name.split(".")[:2])


def _modules() -> list[Path]:
    return [p for folder in FOLDERS if (ROOT / folder).is_dir() for p in sorted((ROOT / folder).rglob("*.py"))]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_package_has_a_floor():
    units = {_unit(_module_name(path)) for path in _modules()} - {"critic"}
    assert units <= set(FLOORS), sorted(units - set(FLOORS))


def test_imports_only_go_down_a_floor():
    wrong = []
    for path in _modules():
        mine = _unit(_module_name(path))
        for name in _imports(path):
            if name.split(".")[0] in ("convert", "train", "annotate", "evaluation", "llava"):
                wrong.append(f"{path.relative_to(ROOT)}: import {name} (only `critic` is a top-level package)")
                continue
            theirs = _unit(name)
            if not name.startswith("critic.") or theirs == mine or theirs not in FLOORS or mine == "critic":
                continue
            if FLOORS[theirs] >= FLOORS[mine] and (mine, theirs) not in SIDEWAYS:
                wrong.append(f"{path.relative_to(ROOT)} (floor {FLOORS[mine]}) imports {name} (floor {FLOORS[theirs]})")
    assert wrong == [], "\n".join(sorted(set(wrong)))


DATA_PACKAGES = {"critic.data": "critic/data", "critic.train.deepspeed": "train/deepspeed"}
"""Folders of data files only, listed as packages so setuptools ships them (and says nothing)."""


def test_the_distribution_lists_every_package_and_maps_the_stage_folders():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {_module_name(init) for folder in FOLDERS if (ROOT / folder).is_dir()
               for init in (ROOT / folder).rglob("__init__.py")}
    assert all((ROOT / folder).is_dir() and not (ROOT / folder / "__init__.py").exists()
               for folder in DATA_PACKAGES.values())
    assert set(setuptools["packages"]) == on_disk | set(DATA_PACKAGES)
    assert setuptools["package-dir"] == {name: folder for folder, name in FOLDERS.items()
                                         if name != "critic" and (ROOT / folder).is_dir()}


def test_only_critic_is_importable_from_another_folder(tmp_path):
    """A user's own train.py or convert.py beside them breaks nothing, and `import train` finds no stage."""
    for name in ("train", "convert", "annotate", "evaluation", "llava"):
        (tmp_path / f"{name}.py").write_text("raise SystemExit('the wrong module was imported')\n")
    help_run = subprocess.run([sys.executable, "-m", "critic", "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert help_run.returncode == 0, help_run.stderr
    for verb in ("train", "convert", "annotate"):
        run = subprocess.run([sys.executable, "-m", "critic", verb, "--help"], cwd=tmp_path, capture_output=True,
                             text=True)
        assert run.returncode == 0, run.stderr
    for path in tmp_path.iterdir():
        path.unlink()
    probe = ("import importlib.util, sys; "
             "print([n for n in ('train', 'convert', 'annotate', 'evaluation', 'llava') if importlib.util.find_spec(n)])")
    found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["critic.convert.pipeline", "critic.train.config", "critic.annotate.job",
                                    "critic.evaluation.runner", "critic.llava.checkpoint"])
def test_the_stages_import_under_critic(module, tmp_path):
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=tmp_path, check=True)
