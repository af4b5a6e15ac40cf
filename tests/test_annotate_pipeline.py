"""The whole pipeline against a scripted OpenAI-compatible server on loopback: every fault on
schedule (429 with Retry-After, 500, a reply past the timeout, a body that is not JSON, an
answer that says nothing usable, an analysis that names the work, a rejected key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from annotate_support import (
    CANARY,
    KNOWN_IDS,
    PAINTINGS,
    expected_analyses,
    write_providers,
)
from openai_script_server import EchoAuth, Malformed, Reply, ScriptServer, Slow, Status

from critic.annotate.answer_store import AnswerStore
from critic.annotate.job import RunConfig, execute, plan
from critic.annotate.prompts import KNOWLEDGE
from critic.core.errors import ServerError


def config(world: Path, **changes) -> RunConfig:
    settings = dict(test_count=2, retries=3, backoff=0.001, max_backoff=0.01, seed=1)
    settings.update(changes)
    return RunConfig(str(world / "paintings.csv"), str(world / "images"), str(world / "out"),
                     str(world / "providers.toml"), **settings)


def assert_no_canary(*places: Path | str) -> None:
    """Neither any file under these folders nor these texts holds the planted key."""
    for place in places:
        if isinstance(place, Path) and place.exists():
            for path in place.rglob("*"):
                if path.is_file():
                    assert CANARY.encode() not in path.read_bytes(), path
        else:
            assert CANARY not in str(place)


def requests_for(server: ScriptServer, needle: str) -> list:
    return [entry for entry in server.log if needle in entry.prompt]


def test_clean_run_exports_train_test_and_stats(world, server):
    stats = execute(config(world))
    out = world / "out"
    train = json.loads((out / "train.json").read_text())
    test = json.loads((out / "test.json").read_text())

    # 6 knowledge + 5 known x 2 analysts x (overall + picks + 2 perspectives)
    assert len(server.log) == 6 + 5 * 2 * 4
    assert {entry.authorization for entry in server.log} == {f"Bearer {CANARY}"}
    assert {p["id"] for p in test} == {"p3", "p6"}  # least popular of van Gogh and Hokusai
    assert len(train) + sum(len(p["references"]) for p in test) == expected_analyses()
    for record in train:
        human, gpt = record["conversations"]
        assert (human["from"], gpt["from"]) == ("human", "gpt")
        assert human["value"].startswith("<image>\n") and human["value"].count("<image>") == 1
        assert (world / "images" / record["image"]).is_file()
    assert {r["id"].rsplit("-", 1)[1] for r in train} == {"overall", "composition", "light"}
    refs = test[0]["references"]
    assert {(r["provider"], r["kind"]) for r in refs} == {
        (a, k) for a in ("alpha", "beta") for k in ("overall", "composition", "light")}
    assert set(test[0]) == {"id", "image", "title", "artist", "references"}

    assert stats["stages"][KNOWLEDGE] | {"requests": None} == {
        "asked": 6, "kept": 5, "failed": 0, "unknown": 1, "requests": None}
    assert stats["perspectives"]["composition"] == {"name": "composition", "paintings": 5, "analyses": 10}
    assert stats["perspectives"]["color"]["paintings"] == 0
    assert stats["artists"]["Vincent van Gogh"] == {"train": 1, "test": 1}
    assert stats["providers"]["alpha"]["answers"] == 6 + 5 * (1 + 1 + 2)
    alpha = stats["providers"]["alpha"]
    assert alpha["cost_usd"] == pytest.approx((alpha["tokens_in"] * 2.0 + alpha["tokens_out"] * 8.0) / 1e6)
    assert alpha["tokens_out"] > 0
    assert_no_canary(out)


def test_rerun_sends_nothing_and_writes_the_same(world, server):
    execute(config(world))
    first = {name: (world / "out" / name).read_bytes() for name in ("train.json", "test.json")}
    sent = len(server.log)
    stats = execute(config(world))
    assert len(server.log) == sent
    assert all(s["requests"]["sent"] == 0 for s in stats["stages"].values())
    assert {name: (world / "out" / name).read_bytes() for name in first} == first


def test_dry_run_sends_nothing_and_bounds_the_count(world, server):
    before = plan(config(world))
    assert server.log == [] and not (world / "out").exists()
    sent = {stage: tally.sent for stage, tally in before.tallies.items()}
    assert sent == {"knowledge": 6, "overall": 12, "picks": 12, "perspective": 60}
    assert before.tallies["overall"].cost > 0
    execute(config(world))
    after = plan(config(world))
    assert {stage: tally.sent for stage, tally in after.tallies.items()} == dict.fromkeys(sent, 0)
    assert after.result.complete


def test_retry_after_is_honoured_on_429(world, server):
    server.script("Do you know the painting \u201cThe Scream\u201d", Status(429, retry_after=1))
    execute(config(world))
    first, second = requests_for(server, "Do you know the painting \u201cThe Scream\u201d")
    # backoff alone would wait about a millisecond; the server asked for a second
    assert second.time - first.time >= 1.0
    with AnswerStore(world / "out", readonly=True) as store:
        rows = [r for r in store.rows() if r["stage"] == KNOWLEDGE and r["painting"] == "p4"]
    assert [(r["status"], r["tries"]) for r in rows] == [("ok", 2)]


def test_server_errors_timeouts_and_bad_bodies_are_retried(world, server):
    needle = "Do you know the painting \u201cThe Starry Night\u201d"
    server.script(needle, Status(500), Slow(5.0), Malformed(), Reply("Well, perhaps."))
    stats = execute(config(world, retries=4, timeout=1.0))
    assert [e.behaviour for e in requests_for(server, needle)] == [
        "Status", "Slow", "Malformed", "Reply", "answer"]
    assert stats["stages"][KNOWLEDGE]["kept"] == 5
    with AnswerStore(world / "out", readonly=True) as store:
        row = next(r for r in store.rows() if r["stage"] == KNOWLEDGE and r["painting"] == "p1")
    assert (row["status"], row["tries"]) == ("ok", 5)


def test_answers_that_stay_malformed_are_recorded_then_asked_again(world, server):
    needle = "Do you know the painting \u201cThe Scream\u201d"
    server.script(needle, *[Reply("I could not say.")] * 4)  # retries=3: four tries in all
    stats = execute(config(world))
    assert len(requests_for(server, needle)) == 4
    assert stats["stages"][KNOWLEDGE]["failed"] == 1
    assert stats["stages"][KNOWLEDGE]["kept"] == 4
    with AnswerStore(world / "out", readonly=True) as store:
        row = next(r for r in store.rows() if r["painting"] == "p4")
    assert row["status"] == "failed" and "malformed answer" in row["error"]

    sent = len(server.log)
    stats = execute(config(world))
    assert requests_for(server, needle)[-1].behaviour == "answer"
    # only the failed question, then the new painting's analyses, went out
    assert len(server.log) - sent == 1 + 2 * 4
    assert stats["stages"][KNOWLEDGE]["kept"] == 5


def test_retries_run_out_on_a_dead_provider(world, server):
    needle = "Do you know the painting \u201cThe Scream\u201d"
    server.script(needle, *[Status(503)] * 4)
    stats = execute(config(world))
    assert stats["stages"][KNOWLEDGE]["failed"] == 1
    with AnswerStore(world / "out", readonly=True) as store:
        row = next(r for r in store.rows() if r["painting"] == "p4")
    assert (row["status"], row["tries"], row["error"]) == ("failed", 4, "HTTP 503: scripted failure")


def test_leaking_analyses_are_regenerated_then_dropped(world, server):
    overall = "analysis of the painting \u201cThe Scream\u201d"
    leak = ("Munch fills the sky with orange bands that press on the figure. The long diagonal "
            "of the railing cuts across the picture, the water is a deep blue-black, and fluid, "
            "unmodelled strokes make figure, land and sky seem made of the same restless matter.")
    server.script(overall, Reply(leak), Reply(leak.replace("Munch", "THE SCREAM")), Reply(leak))
    stats = execute(config(world, leak_retries=1))
    sent = requests_for(server, overall)
    # two analysts leak on the first try; on the regeneration one leaks again and is dropped
    assert len(sent) == 4
    assert sum("Attempt 2" in e.prompt for e in sent) == 2
    leaks = stats["leaks"]["overall"]
    assert (leaks["regenerated"], leaks["dropped"]) == (2, 1)
    assert leaks["by_kind"] == {"artist": 2, "title": 1}
    texts = [r["conversations"][1]["value"] for r in json.loads((world / "out" / "train.json").read_text())]
    texts += [ref["text"] for p in json.loads((world / "out" / "test.json").read_text()) for ref in p["references"]]
    assert not any("Munch" in t or "SCREAM" in t for t in texts)
    assert len(texts) == expected_analyses() - 1


def test_concurrency_is_limited_per_provider(world, server):
    server.delay = 0.2
    write_providers(world / "providers.toml", server.url, concurrency=2)
    execute(config(world, limit=3))
    assert server.max_in_flight["alpha-model"] <= 2 and server.max_in_flight["beta-model"] <= 2
    assert max(server.max_in_flight.values()) == 2  # and the limit is used


def test_a_rejected_key_stops_the_run_and_is_never_written(world, server, capsys):
    server.script("Do you know", EchoAuth())
    with pytest.raises(ServerError) as caught:
        execute(config(world))
    message = str(caught.value)
    assert "rejected the API key" in message and "$CRITIC_TEST_KEY" in message
    assert_no_canary(world / "out", message, capsys.readouterr().err)


def test_missing_key_is_a_usage_error_before_any_request(world, server, monkeypatch):
    monkeypatch.delenv("CRITIC_TEST_KEY")
    from critic.core.errors import UsageError

    with pytest.raises(UsageError, match=r"\$CRITIC_TEST_KEY"):
        execute(config(world))
    assert server.log == []


def test_limit_takes_the_first_paintings(world, server):
    stats = execute(config(world, limit=2, test_count=0))
    assert stats["stages"][KNOWLEDGE]["asked"] == 2
    assert len(json.loads((world / "out" / "train.json").read_text())) == 2 * 6
    assert json.loads((world / "out" / "test.json").read_text()) == []
    assert PAINTINGS[0][0] in KNOWN_IDS
