"""Every broken state names itself, and nothing is left behind (files, modes, locks, damaged models)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from critic.cli import main
from critic.core.errors import BadModelFile
from critic.core.store import atomic_path, clear_stale_partials, output_lock, umask, write_atomic
from critic.engine import open_engine


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- a damaged installed model -------------------------------------------------------------------

def test_a_damaged_manifest_is_listed_as_broken_and_stops_analyze(installed_model, painting, capsys):
    manifest = installed_model.folder / "critic.json"
    manifest.write_text(manifest.read_text()[:40])  # truncated
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "no model installed" not in out
    assert f"BROKEN {installed_model.folder.name}" in out and "critic models rm" in out
    code = main(["analyze", str(painting), "--max-tokens", "2"])
    err = capsys.readouterr().err
    assert code == BadModelFile.exit_code and "is damaged" in err and installed_model.folder.name in err
    with pytest.raises(BadModelFile, match="is damaged"):
        open_engine()
    assert main(["models", "rm", installed_model.folder.name]) == 0
    assert main(["models", "list"]) == 0 and "no model installed" in capsys.readouterr().out


def test_the_no_model_fallback_is_for_a_machine_without_models(painting, capsys):
    assert main(["analyze", str(painting), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "measured"


# -- interrupted writers leave nothing behind ------------------------------------------------------

def test_stale_temporaries_are_removed_only_when_their_process_is_gone(tmp_path):
    final = tmp_path / "results.md"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale_file = tmp_path / f".results.md.{dead}.abc123.part"
    stale_dir = tmp_path / f".results.md.{dead}.def456.part"
    live = tmp_path / f".results.md.{os.getppid()}.ghi789.part"
    legacy = tmp_path / ".results.md.k2j4h5g6.part"  # named before temporaries carried their PID
    stale_file.write_text("half")
    stale_dir.mkdir()
    (stale_dir / "x").write_text("half")
    live.write_text("in progress")
    legacy.write_text("old")
    other = tmp_path / f".other.md.{dead}.abc.part"
    other.write_text("not ours")
    write_atomic(final, "whole\n")
    assert final.read_text() == "whole\n"
    assert not stale_file.exists() and not stale_dir.exists() and not legacy.exists()
    assert live.exists() and other.exists()
    assert clear_stale_partials(final) == []


def test_an_interrupted_convert_is_cleaned_up_by_the_next_run(tiny_dir, tmp_path, caplog):
    from critic.convert.pipeline import ConvertConfig, convert

    out = tmp_path / "model"
    code = (
        "import os, signal, convert.pipeline as p\n"
        "p.write_mmproj = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"p.convert(p.ConvertConfig(base={str(tiny_dir / 'base')!r}, vision_tower={str(tiny_dir / 'vision-tower')!r},"
        f" out={str(out)!r}, quant='F16'), show_progress=False)\n"
    )
    for _ in range(2):  # every retry used to add another; now each removes the one before
        assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == -9
        left = [p for p in tmp_path.iterdir() if p.name.startswith(".model.")]
        assert len(left) == 1 and left[0].is_dir()
    with caplog.at_level("WARNING", logger="critic"):
        convert(ConvertConfig(base=str(tiny_dir / "base"), vision_tower=str(tiny_dir / "vision-tower"), out=str(out),
                              quant="F16"), show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert [r.getMessage() for r in caplog.records] == [f"critic: removed {left[0]}, left by an interrupted run"]
    # the output folder and its files get the user's umask, not a temporary's private mode
    assert _mode(out) == 0o777 & ~umask()
    assert all(_mode(p) == 0o666 & ~umask() for p in out.iterdir())


def test_outputs_get_the_users_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "saved.md") as tmp:
            tmp.write_text("a conversation\n")
        write_atomic(tmp_path / "report.json", "{}\n")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "saved.md") == 0o640 and _mode(tmp_path / "report.json") == 0o640


# -- two runs on one output ------------------------------------------------------------------------

def test_a_second_run_on_the_same_out_is_refused(installed_model, painting, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    with output_lock(out, "critic analyze"):  # a run in progress (another open file: flock refuses it)
        code = main(["analyze", str(painting), "--out", str(out), "--max-tokens", "2"])
        err = capsys.readouterr().err
    assert code == 2 and "being written by another `critic analyze` run (process" in err
    assert not out.exists() or out.read_text() == ""
    assert main(["analyze", str(painting), "--out", str(out), "--max-tokens", "2", "--threads", "1"]) == 0
    assert len(out.read_text().splitlines()) == 1


def test_eval_and_annotate_take_the_same_lock(tmp_path):
    from critic.core.errors import UsageError
    from critic.evaluation.runner import run_tasks

    out = tmp_path / "gen.jsonl"
    with output_lock(out, "critic eval generate"):
        with pytest.raises(UsageError, match="another `critic eval generate` run"):
            run_tasks("generate", [], None, out, tmp_path, progress=False)

    from critic.annotate.job import execute

    folder = tmp_path / "annotations"
    folder.mkdir()
    with output_lock(folder, "critic annotate run"):
        with pytest.raises(UsageError, match="another `critic annotate run` run"):
            execute(_annotate_config(tmp_path, folder))


def _annotate_config(tmp_path, folder):
    from annotate_support import make_world

    from critic.annotate.job import RunConfig

    world = make_world(tmp_path / "world", "http://127.0.0.1:9/v1")  # never reached: the lock comes first
    return RunConfig(paintings=str(world / "paintings.csv"), images=str(world / "images"), out=str(folder),
                     providers=str(world / "providers.toml"))
