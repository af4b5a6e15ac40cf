"""`critic annotate run --batch` against the loopback fake of OpenAI's Files and Batches
endpoints (tests/openai_batch_fake.py), driven by the real `openai` client: the same export as
a live run, a kill -9 while a batch is in flight, expired, failed and cancelled batches, a line
that fails, the split at the file limits, and the price of it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from annotate_support import CANARY, expected_analyses, stored_answers
from child_process import signal_when
from openai_batch_fake import Expire, Fail
from openai_script_server import Reply, Status

from critic.annotate.answer_store import AnswerStore
from critic.annotate.job import RunConfig, execute
from critic.cli import main
from critic.core.errors import ServerError

REPO = Path(__file__).resolve().parents[1]
SCREAM_OVERALL = "analysis of the painting \u201cThe Scream\u201d"
SCREAM_KNOWN = "Do you know the painting \u201cThe Scream\u201d"
LEAK = ("Munch fills the sky with orange bands that press on the figure. The long diagonal of the railing cuts "
        "across the picture, the water is a deep blue-black, and fluid, unmodelled strokes make figure, land and "
        "sky seem made of the same restless matter.")
REQUESTS = 6 + 5 * 2 * 4
"""A clean run: 6 knowledge requests, then per known painting and analyst overall, picks and 2 perspectives."""


def config(world: Path, out: str = "out", **changes) -> RunConfig:
    settings = dict(test_count=2, retries=2, backoff=0.001, max_backoff=0.01, seed=1, batch=True, poll=0.01)
    settings.update(changes)
    return RunConfig(str(world / "paintings.csv"), str(world / "images"), str(world / out),
                     str(world / "providers.toml"), **settings)


def exports(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("train.json", "test.json")}


def test_a_batch_run_exports_exactly_what_a_live_run_does(world, server):
    server.script(SCREAM_OVERALL, Reply(LEAK))
    live = execute(config(world, "live", batch=False))
    assert len(server.log) == REQUESTS + 1 and server.batch_api.calls == []

    server.script(SCREAM_OVERALL, Reply(LEAK))
    stats = execute(config(world, "batched"))
    assert len(server.log) == REQUESTS + 1  # not one live request
    assert exports(world / "batched") == exports(world / "live")
    assert stats["leaks"] == live["leaks"] and stats["leaks"]["overall"]["regenerated"] == 1

    fake = server.batch_api
    # a batch per stage and analyst, and the leaking analysis regenerated in a further batch
    assert [(len(f.lines()), f.lines()[0]["custom_id"].split("-")[0]) for f in fake.uploaded] == [
        (6, "knowledge"), (5, "overall"), (5, "overall"), (1, "overall"), (5, "picks"), (5, "picks"),
        (10, "perspective"), (10, "perspective")]
    assert len(fake.answered) == len(fake.uploaded_ids()) == REQUESTS + 1
    line = fake.uploaded[0].lines()[0]
    assert (line["method"], line["url"], line["body"]["model"]) == ("POST", "/v1/chat/completions", "alpha-model")
    assert line["body"]["response_format"]["type"] == "json_schema"
    assert {name for name, _ in fake.calls} == {"files.create", "batches.create", "batches.retrieve", "files.content"}

    # half the live price (the providers file gives no batch prices): alpha 2 and 8 USD per million
    # tokens in and out live, beta 1 and 4
    for name, price_in, price_out in (("alpha", 2.0, 8.0), ("beta", 1.0, 4.0)):
        mine = stats["providers"][name]
        assert mine["cost_usd"] == pytest.approx((mine["tokens_in"] * price_in + mine["tokens_out"] * price_out) / 2e6, abs=1e-6)
        assert mine["tokens_in"] > 0 and mine["batched"] == mine["answers"]
    assert sum(s["requests"]["batched"] for s in stats["stages"].values()) == REQUESTS + 1
    files = [path for path in (world / "batched").rglob("*") if path.is_file()]
    assert len([f for f in files if f.parent.name == "batches"]) == 8 * 2  # each input and output kept
    assert not any(CANARY.encode() in path.read_bytes() for path in files)


def test_kill_9_while_a_batch_is_in_flight_then_rerun_submits_nothing_again(world, server):
    fake = server.batch_api
    fake.hold = True
    env = {**os.environ, "PYTHONPATH": str(REPO), "CRITIC_TEST_KEY": CANARY}
    command = [sys.executable, "-m", "critic", "annotate", "run", "--paintings", str(world / "paintings.csv"),
               "--images", str(world / "images"), "--out", str(world / "out"), "--providers",
               str(world / "providers.toml"), "--test-count", "2", "--backoff", "0.001", "--no-progress",
               "--batch", "--poll", "0.05"]
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        signal_when(first, lambda: len(fake.named("batches.retrieve")) >= 2, signal.SIGKILL,
                    "the run submitted no batch", timeout=60)
    finally:
        first.kill()
        first.communicate()
    assert first.returncode == -signal.SIGKILL
    assert len(fake.named("batches.create")) == 1 and stored_answers(world / "out") == []
    before = fake.uploaded_ids()

    fake.hold = False
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr.decode()
    assert b"knowledge filter: 5 known, 1 unknown, 0 failed" in second.stdout
    after = fake.uploaded_ids()[len(before):]
    assert set(before).isdisjoint(after)  # the knowledge batch was waited for, not sent again
    assert len(after) == len(set(after)) == REQUESTS - 6
    assert len(fake.answered) == REQUESTS and server.log == []
    assert len(stored_answers(world / "out")) == REQUESTS
    test = json.loads((world / "out" / "test.json").read_text())
    train = json.loads((world / "out" / "train.json").read_text())
    assert len(train) + sum(len(p["references"]) for p in test) == expected_analyses()


def test_a_batch_created_just_before_a_kill_is_found_not_created_again(world, server, monkeypatch):
    import critic.annotate.batch as batch_module

    real = batch_module.record_remote

    def killed_after_create(book, record, batch, **changes):
        if changes.get("state") == "submitted":
            raise KeyboardInterrupt  # the process dies before the batch's id is written down
        return real(book, record, batch, **changes)

    monkeypatch.setattr(batch_module, "record_remote", killed_after_create)
    with pytest.raises(KeyboardInterrupt):
        execute(config(world))
    monkeypatch.setattr(batch_module, "record_remote", real)
    fake = server.batch_api
    assert len(fake.named("batches.create")) == 1

    execute(config(world))
    assert fake.named("batches.list")  # looked for it by its input file
    knowledge = [f for f in fake.uploaded if f.lines()[0]["custom_id"].startswith("knowledge")]
    assert len(knowledge) == 1 and len(fake.named("batches.create")) == 7  # one per stage and analyst
    assert len(fake.answered) == REQUESTS


def test_an_expired_batch_keeps_its_finished_lines_and_sends_only_the_rest(world, server):
    fake = server.batch_api
    fake.fate(Expire(2))
    stats = execute(config(world))
    first, second = fake.uploaded[:2]
    sent_first = [line["custom_id"] for line in first.lines()]
    assert len(sent_first) == 6
    assert [line["custom_id"] for line in second.lines()] == sent_first[2:]
    assert fake.batches[fake.named("batches.create")[0]].status == "expired"
    assert stats["stages"]["knowledge"]["kept"] == 5 and stats["stages"]["knowledge"]["failed"] == 0
    assert len(fake.answered) == REQUESTS  # nothing answered twice
    with AnswerStore(world / "out", readonly=True) as store:
        knowledge = [r for r in store.rows() if r["stage"] == "knowledge"]
    assert [r["tries"] for r in knowledge] == [1] * 6  # lines that never ran cost no try


def test_a_failing_line_is_retried_in_a_further_batch_then_counted(world, server):
    server.script("Do you know the painting \u201cThe Starry Night\u201d", Status(500))
    server.script(SCREAM_KNOWN, *[Status(503, message="overloaded")] * 3)  # retries=2: three tries, all fail
    stats = execute(config(world))
    knowledge = [f.lines() for f in server.batch_api.uploaded if f.lines()[0]["custom_id"].startswith("knowledge")]
    assert [len(lines) for lines in knowledge] == [6, 2, 1]
    assert stats["stages"]["knowledge"] | {"requests": None} == {
        "asked": 6, "kept": 4, "failed": 1, "unknown": 1, "requests": None}
    with AnswerStore(world / "out", readonly=True) as store:
        rows = {r["painting"]: r for r in store.rows() if r["stage"] == "knowledge"}
    assert (rows["p1"]["status"], rows["p1"]["tries"]) == ("ok", 2)
    assert (rows["p4"]["status"], rows["p4"]["tries"], rows["p4"]["error"]) == ("failed", 3, "HTTP 503: overloaded")
    assert stats["failed_this_run"] == {"alpha": 1}


def test_a_batch_that_fails_validation_is_sent_again(world, server):
    server.batch_api.fate(Fail("token limit reached"))
    stats = execute(config(world))
    first = server.batch_api.batches[server.batch_api.named("batches.create")[0]]
    assert first.status == "failed"
    assert first.errors[0]["message"] == "token limit reached"
    assert stats["stages"]["knowledge"]["kept"] == 5
    assert len(server.batch_api.uploaded) == 7 + 1  # the knowledge batch again
    with AnswerStore(world / "out", readonly=True) as store:
        assert {r["tries"] for r in store.rows() if r["stage"] == "knowledge"} == {2}  # the failed batch was a try


def test_files_are_split_at_the_line_and_byte_limits(world, server):
    fake = server.batch_api
    fake.max_lines = 2  # the fake fails any batch over its limits, as the service does
    execute(config(world, "by_lines", batch_max_lines=2, limit=3))
    assert [len(f.lines()) for f in fake.uploaded[:2]] == [2, 1]  # the three knowledge requests
    assert max(len(f.lines()) for f in fake.uploaded) == 2
    assert all(b.status == "completed" for b in fake.batches.values())

    longest = max(len(line) for f in fake.uploaded for line in f.data.splitlines(keepends=True))
    limit = 2 * longest  # two of the longest requests to a file
    fake.max_bytes = limit
    fake.max_lines = 50_000
    mark = len(fake.uploaded)
    execute(config(world, "by_bytes", batch_max_bytes=limit, limit=3))
    made = fake.uploaded[mark:]
    assert all(len(f.data) <= limit for f in made)
    picks = [len(f.lines()) for f in made if f.filename.startswith("picks")]  # the longest requests
    assert picks == [2, 1, 2, 1]
    assert all(b.status == "completed" for b in fake.batches.values())
    assert exports(world / "by_lines") == exports(world / "by_bytes")


def test_cancel_stops_the_run_and_the_next_run_sends_the_rest(world, server, capsys):
    fake = server.batch_api
    fake.hold = True
    failure: list[BaseException] = []

    def run() -> None:
        try:
            execute(config(world))
        except BaseException as err:  # noqa: BLE001 - the test reads it
            failure.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while len(fake.named("batches.retrieve")) < 2:
        assert time.monotonic() < deadline and worker.is_alive(), "no batch in flight"
        time.sleep(0.02)
    assert main(["annotate", "batch", "cancel", str(world / "out")]) == 0
    worker.join(30)
    assert isinstance(failure[0], ServerError) and "was cancelled" in str(failure[0])
    capsys.readouterr()
    assert main(["annotate", "batch", "status", str(world / "out")]) == 0
    shown = capsys.readouterr().out
    assert "cancelled" in shown and "knowledge-alpha-0001" in shown

    fake.hold = False
    execute(config(world))
    assert len(fake.named("batches.cancel")) == 1
    assert len(fake.answered) == REQUESTS


def test_a_provider_without_batches_stays_live_in_a_batch_run(world, server):
    text = (world / "providers.toml").read_text()
    (world / "providers.toml").write_text(text.replace('name = "beta"\n', 'name = "beta"\nbatch = false\n'))
    stats = execute(config(world))
    assert {entry.body["model"] for entry in server.log} == {"beta-model"}
    assert len(server.log) == 5 * 4  # beta's overall, picks and two perspectives per known painting
    assert {line["body"]["model"] for line in server.batch_api.uploaded[0].lines()} == {"alpha-model"}
    assert len(server.batch_api.uploaded_ids()) == REQUESTS - 5 * 4
    assert stats["providers"]["beta"]["batched"] == 0
    assert stats["providers"]["alpha"]["batched"] == stats["providers"]["alpha"]["answers"]
