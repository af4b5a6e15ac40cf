"""`critic annotate` from the command line: dry run, status, errors, and a kill -9 mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from annotate_support import CANARY, expected_analyses, stored_answers
from child_process import signal_when

from critic.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_args(world: Path, *extra: str) -> list[str]:
    return ["annotate", "run", "--paintings", str(world / "paintings.csv"),
            "--images", str(world / "images"), "--out", str(world / "out"),
            "--providers", str(world / "providers.toml"), "--test-count", "2",
            "--backoff", "0.001", "--no-progress", *extra]


def test_dry_run_prints_requests_and_cost(world, server, capsys):
    assert main(run_args(world, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "paintings: 6 rows, 6 kept" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["knowledge"].split()[2:4] == ["0", "6"]
    assert "\u2264 60" in lines["perspective"] and "upper bounds" in out
    assert server.log == [] and not (world / "out").exists()


def test_errors_are_one_line_with_the_fix(world, server, capsys, monkeypatch):
    monkeypatch.delenv("CRITIC_TEST_KEY")
    assert main(run_args(world)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("critic: error: provider 'alpha' needs an API key in $CRITIC_TEST_KEY")
    assert len(err.splitlines()) == 1
    assert main(["annotate", "status", str(world)]) == 9
    assert "holds no annotate run" in capsys.readouterr().err
    assert main(["annotate", "run", "--paintings", str(world / "nope.csv"), "--images",
                 str(world / "images"), "--out", str(world / "out"), "--dry-run"]) == 9
    assert "no paintings file" in capsys.readouterr().err
    assert server.log == []


def test_run_flags_are_the_config_fields_with_its_defaults():
    import dataclasses

    from critic.annotate.config import RunConfig
    from critic.cli import build_parser
    from critic.cli.examples import sub_parsers
    from critic.cli.options import config_flags

    given = ["annotate", "run", "--paintings", "p.csv", "--images", "im", "--out", "o"]
    parsed = build_parser().parse_args(given)
    assert RunConfig(**config_flags(parsed, RunConfig)) == RunConfig("p.csv", "im", "o")
    changed = build_parser().parse_args([*given, "--invalid-retries", "4", "--timeout", "2.5", "--limit", "3"])
    assert RunConfig(**config_flags(changed, RunConfig)) == RunConfig("p.csv", "im", "o", timeout=2.5, limit=3,
                                                                     invalid_retries=4)
    flags = {action.dest for action in dict(sub_parsers(build_parser()))["annotate run"]._actions}
    assert {f.name for f in dataclasses.fields(RunConfig)} - flags == {"seed"}  # the jitter seed is for tests only


def test_providers_prints_a_file_to_start_from(capsys):
    assert main(["annotate", "providers"]) == 0
    import tomllib

    data = tomllib.loads(capsys.readouterr().out)
    assert [p["name"] for p in data["provider"]] == ["openai", "gemini"]


def test_kill_9_mid_run_then_rerun_resends_nothing_stored(world, server, capsys):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CRITIC_TEST_KEY": CANARY}
    command = [sys.executable, "-m", "critic", *run_args(world)]
    server.delay = 0.15
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        signal_when(first, lambda: sum(row[0] == "ok" for row in stored_answers(world / "out")) >= 10, signal.SIGKILL,
                    "the run stored nothing", timeout=60)
    finally:
        first.kill()
        out1, err1 = first.communicate()
    assert first.returncode == -signal.SIGKILL
    stored = {(model, messages) for status, model, messages in stored_answers(world / "out") if status == "ok"}
    assert 10 <= len(stored) < 46

    # status on the killed folder: some answered, some left
    assert main(["annotate", "status", str(world / "out")]) == 0
    status_before = capsys.readouterr().out
    assert "exported: nothing yet" in status_before

    mark = len(server.log)
    server.delay = 0.0
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr.decode()
    assert b"paintings: 6 rows, 6 kept" in second.stdout
    assert b"knowledge filter: 5 known, 1 unknown, 0 failed" in second.stdout

    def sent(entries):
        return [(e.body["model"], json.dumps(e.body["messages"], ensure_ascii=False)) for e in entries]

    assert stored <= set(sent(server.log[:mark]))  # the store records what the server saw
    assert stored.isdisjoint(sent(server.log[mark:]))  # and none of it was asked again
    assert len(server.log) - mark <= 46 - len(stored)
    everything = stored_answers(world / "out")
    assert len(everything) == 46 and all(row[0] == "ok" for row in everything)

    train = json.loads((world / "out" / "train.json").read_text())
    test = json.loads((world / "out" / "test.json").read_text())
    assert len(train) + sum(len(p["references"]) for p in test) == expected_analyses()
    assert {p["id"] for p in test} == {"p3", "p6"}

    assert main(["annotate", "status", str(world / "out")]) == 0
    status_after = capsys.readouterr().out
    assert "exported: train.json, test.json, stats.json" in status_after
    left = [line.split()[-1] for line in status_after.splitlines() if line.startswith(("knowledge", "overall", "perspective"))]
    assert left == ["0", "0", "0", "0"]
    for text in (out1, err1, second.stdout, second.stderr, status_before.encode(), status_after.encode()):
        assert CANARY.encode() not in text
    for path in (world / "out").rglob("*"):
        assert CANARY.encode() not in path.read_bytes()
