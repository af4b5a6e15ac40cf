"""A run whose provider fails: nothing stored means no export and a non-zero exit that says why
(per provider, how many failed and the last error); a partial failure is reported in the
summary and in `status`. Live and through batches."""

from __future__ import annotations

from pathlib import Path

from openai_script_server import Status

from critic.cli import main

SCREAM_KNOWN = "Do you know the painting \u201cThe Scream\u201d"


def run_args(world: Path, *extra: str) -> list[str]:
    return ["annotate", "run", "--paintings", str(world / "paintings.csv"), "--images", str(world / "images"),
            "--out", str(world / "out"), "--providers", str(world / "providers.toml"), "--test-count", "2",
            "--backoff", "0.001", "--max-backoff", "0.001", "--retries", "1", "--no-progress", *extra]


def test_every_request_failing_exits_non_zero_and_exports_nothing(world, server, capsys):
    server.script("", *[Status(500)] * 100)  # every request, every try
    assert main(run_args(world)) == 8
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("critic: error: no analysis was stored: the requests failed")
    assert "alpha: 6 failed, last error HTTP 500: scripted failure" in err
    assert len(server.log) == 6 * 2  # each knowledge request tried twice (--retries 1)
    assert not (world / "out" / "train.json").exists() and not (world / "out" / "test.json").exists()

    # status says the same, and the next run asks again
    assert main(["annotate", "status", str(world / "out")]) == 0
    shown = capsys.readouterr().out
    assert "alpha: 0 answers (0 through batches), 6 failures" in shown
    assert "last error: HTTP 500: scripted failure" in shown
    server.clear()
    assert main(run_args(world)) == 0
    assert (world / "out" / "train.json").is_file()


def test_every_batch_line_failing_exits_non_zero(world, server, capsys):
    server.script("", *[Status(500, message="model overloaded")] * 100)
    assert main(run_args(world, "--batch", "--poll", "0.01")) == 8
    err = capsys.readouterr().err
    assert "alpha: 6 failed, last error HTTP 500: model overloaded" in err
    assert len(server.batch_api.uploaded) == 2 and server.log == []  # the batch, then its retry
    assert not (world / "out" / "train.json").exists()


def test_a_partial_failure_is_in_the_summary_and_status(world, server, capsys):
    server.script(SCREAM_KNOWN, *[Status(502, message="bad gateway")] * 2)
    assert main(run_args(world)) == 0
    out = capsys.readouterr().out
    assert "knowledge filter: 4 known, 1 unknown, 1 failed" in out
    assert "failed this run (asked again by the next): alpha 1 (last error: HTTP 502: bad gateway)" in out
    assert main(["annotate", "status", str(world / "out")]) == 0
    shown = capsys.readouterr().out
    assert "1 failures" in shown and "last error: HTTP 502: bad gateway" in shown
