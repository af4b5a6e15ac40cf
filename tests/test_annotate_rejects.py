"""Non-analyses never reach train.json or test.json: a scripted OpenAI-compatible server on
loopback answers with each bad kind (refusal, yes/no, apology, JSON, lists, three words,
off-topic prose, another language, picks naming no perspective); the run regenerates, keeps
a good second answer, drops and counts what stays bad, and the counts survive a kill."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from annotate_samples import BAD, EXPECTED
from annotate_support import CANARY, answer, expected_analyses, stored_answers, write_paintings, write_providers
from child_process import signal_when
from openai_script_server import Reply, ScriptServer, last_user_text

from critic.annotate.job import RunConfig, execute
from critic.annotate.validate import REASONS
from critic.cli import main

REPO = Path(__file__).resolve().parents[1]
SCREAM_OVERALL = "analysis of the painting \u201cThe Scream\u201d"
SCREAM_PICKS = "Which perspectives of formal analysis matter most for the painting \u201cThe Scream\u201d"
GOOD_MARK = "Seen as a whole"
"""How every good answer of the scripted server begins (annotate_support.answer)."""
REJECTED_TOO = "status, model, messages, rejected"


def config(world: Path, out: str = "out", **changes) -> RunConfig:
    settings = dict(test_count=2, retries=1, backoff=0.001, max_backoff=0.01, seed=1)
    settings.update(changes)
    return RunConfig(str(world / "paintings.csv"), str(world / "images"), str(world / out),
                     str(world / "providers.toml"), **settings)


def exported(out: Path) -> dict[str, str]:
    """Every exported analysis, by '<painting>-<provider>-<kind>'."""
    texts = {r["id"]: r["conversations"][1]["value"] for r in json.loads((out / "train.json").read_text())}
    for record in json.loads((out / "test.json").read_text()):
        for ref in record["references"]:
            texts[f"{record['id']}-{ref['provider']}-{ref['kind']}"] = ref["text"]
    return texts


def requests_for(server: ScriptServer, needle: str, model: str | None = None) -> list:
    return [e for e in server.log if needle in e.prompt and (model is None or e.body["model"] == model)]


KINDS = ["refusal", "refusal_long", "yes_no", "yes_then_analysis", "apology", "json", "json_fenced",
         "perspective_list", "bullets", "headings", "three_words", "preamble", "off_topic_biography",
         "off_topic_history", "french", "chinese"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_answer_is_asked_again_and_the_good_one_kept(world, server, kind):
    server.script(SCREAM_OVERALL, Reply(BAD[kind]))
    stats = execute(config(world))
    reason = EXPECTED[kind]
    assert stats["rejections"]["overall"] == {"by_reason": {reason: 1}, "regenerated": 1, "dropped": 0}
    again = [e for e in requests_for(server, SCREAM_OVERALL) if "(Attempt 2:" in e.prompt]
    assert len(again) == 1 and f"an earlier answer was {REASONS[reason]}." in again[0].prompt
    texts = exported(world / "out")
    assert len(texts) == expected_analyses()
    assert all(text.startswith(GOOD_MARK) for text in texts.values())


def _stubborn(model: str, needle: str, text: str):
    """The default answers, except `text` for every request of `model` containing `needle`."""
    def reply(body):
        if body["model"] == model and needle in last_user_text(body):
            return text
        return answer(body)
    return reply


@pytest.mark.parametrize("retries", [0, 2])
def test_an_answer_bad_every_time_is_dropped_counted_and_not_exported(world, server, retries, capsys):
    server.answer = _stubborn("alpha-model", SCREAM_OVERALL, BAD["refusal"])
    stats = execute(config(world, invalid_retries=retries))
    assert len(requests_for(server, SCREAM_OVERALL, "alpha-model")) == 1 + retries
    assert stats["rejections"]["overall"] == {
        "by_reason": {"refusal": 1 + retries}, "regenerated": retries, "dropped": 1}
    assert stats["stages"]["overall"]["kept"] == 2 * 5 - 1
    texts = exported(world / "out")
    assert "p4-alpha-overall" not in texts and "p4-beta-overall" in texts
    assert len(texts) == expected_analyses() - 1
    assert all(text.startswith(GOOD_MARK) for text in texts.values())

    assert main(["annotate", "status", str(world / "out")]) == 0
    status = capsys.readouterr().out
    assert "rejected answers, by reason" in status
    assert f"\n  overall analyses: {1 + retries} refusal\n" in status


def test_the_yes_no_server_gets_nothing_exported(world, server):
    """Every analysis prompt answered "Yes, I know this painting well.": nothing is kept."""
    def yes(body):
        return BAD["yes_no"] if "formal analysis of" in last_user_text(body) else answer(body)
    server.answer = yes
    stats = execute(config(world))
    # 5 known paintings x 2 analysts, x (1 overall + 2 agreed perspectives), 3 attempts each
    assert stats["rejections"]["overall"] == {"by_reason": {"yes_no": 30}, "regenerated": 20, "dropped": 10}
    assert stats["rejections"]["perspective"] == {"by_reason": {"yes_no": 60}, "regenerated": 40, "dropped": 20}
    assert exported(world / "out") == {}


def test_picks_naming_no_perspective_are_asked_again_then_dropped(world, server):
    server.script(SCREAM_PICKS, Reply('{"perspectives": ["symbolism", "iconography"]}'))
    server.answer = _stubborn("beta-model", "Which perspectives of formal analysis matter most for the "
                              "painting \u201cThe Starry Night\u201d", "I would rather not choose.")
    stats = execute(config(world))
    assert stats["rejections"]["picks"] == {"by_reason": {"no_perspective": 4}, "regenerated": 3, "dropped": 1}
    reminders = [e for e in server.log if "an earlier answer named no perspective" in e.prompt]
    assert len(reminders) == 3
    assert stats["stages"]["picks"]["kept"] == 4
    texts = exported(world / "out")
    # The Scream kept its perspectives after the second pick; The Starry Night has none
    assert {"p4-alpha-composition", "p4-beta-light"} <= set(texts)
    assert not any(key.startswith("p1-") and not key.endswith("-overall") for key in texts)
    assert len(texts) == expected_analyses() - 4


# ---- a mixed run: every bad kind over many paintings ------------------------------------------

ROTATION = ["good", "refusal", "good", "yes_no", "good", "apology", "good", "json", "good",
            "perspective_list", "good", "bullets", "good", "three_words", "good", "off_topic_biography",
            "good", "french", "good", "preamble", "good", "yes_then_analysis"]
"""What the mixed server answers first, in turn: half good, half each kind of non-analysis."""


class MixedServer:
    """Answers by painting, analyst and question: the first analysis from ROTATION, a second
    and third good unless the painting and analyst are marked stubborn; picks naming nothing
    known at first for every seventh painting. Counts, on its side, every bad answer it sent."""

    def __init__(self) -> None:
        self.sent: Counter[tuple[str, str]] = Counter()  # (stage, reason)
        self.final_bad: Counter[str] = Counter()  # bad answers to a last attempt, by stage
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> str:
        prompt = last_user_text(body)
        analyst = 0 if body["model"].startswith("alpha") else 1
        number = re.search(r"Quay at Dusk (\d+)", prompt)
        if number is None or prompt.startswith("Do you know"):
            return answer(body)
        i = int(number.group(1))
        attempt = int(m.group(1)) if (m := re.search(r"\(Attempt (\d+):", prompt)) else 1
        if prompt.startswith("Which perspectives"):
            if i % 7 == 3 and (attempt == 1 or (i + analyst) % 2 == 0):
                return self._bad("picks", "no_perspective", attempt, '{"perspectives": ["symbolism"]}')
            return answer(body)
        stage = "overall" if "analysis of the painting" in prompt else "perspective"
        aspect = 0 if stage == "overall" else 1 + ("light and shadow of" in prompt)
        kind = ROTATION[(3 * i + analyst + aspect) % len(ROTATION)]
        stubborn = (i + analyst) % 5 == 0
        if kind != "good" and (attempt == 1 or stubborn):
            return self._bad(stage, EXPECTED[kind], attempt, BAD[kind])
        return answer(body)

    def _bad(self, stage: str, reason: str, attempt: int, text: str) -> str:
        with self._lock:
            self.sent[(stage, reason)] += 1
            if attempt == 3:  # the last of 1 + invalid_retries (2) attempts
                self.final_bad[stage] += 1
        return text


def mixed_world(folder: Path, url: str, count: int) -> Path:
    from PIL import Image

    rows = [(f"q{i}", f"Quay at Dusk {i}", f"Anna Kowalczyk {chr(65 + i % 26)}", float(i)) for i in range(count)]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for ident, *_ in rows:
        Image.new("RGB", (8, 8), (40, 90, 140)).save(folder / "images" / f"{ident}.png")
    write_paintings(folder / "paintings.csv", rows)
    write_providers(folder / "providers.toml", url, timeout=10.0)
    return folder


def _check_counts(stats: dict, mixed: MixedServer) -> None:
    for stage in ("overall", "picks", "perspective"):
        by_reason = {reason: n for (s, reason), n in mixed.sent.items() if s == stage}
        rejected = stats["rejections"][stage]
        assert rejected["by_reason"] == by_reason, stage
        assert rejected["dropped"] == mixed.final_bad[stage], stage
        assert rejected["regenerated"] == sum(by_reason.values()) - mixed.final_bad[stage], stage


def test_a_mixed_run_counts_every_rejection_the_server_sent(tmp_path, monkeypatch):
    monkeypatch.setenv("CRITIC_TEST_KEY", CANARY)
    mixed = MixedServer()
    with ScriptServer(mixed) as server:
        world = mixed_world(tmp_path, server.url, 30)
        stats = execute(config(world, test_count=6))
    _check_counts(stats, mixed)
    assert {reason for _, reason in mixed.sent} == set(REASONS)  # every reason occurred
    texts = exported(world / "out")
    assert texts and all(text.startswith(GOOD_MARK) for text in texts.values())
    kept = stats["stages"]["overall"]["kept"] + stats["stages"]["perspective"]["kept"]
    # a painting whose overall analyses were all dropped is not exported at all
    paintings = {key.split("-")[0] for key in texts}
    assert all(any(k.startswith(f"{p}-") and k.endswith("-overall") for k in texts) for p in paintings)
    assert len(texts) <= kept and len(paintings) == 30 - stats["split"]["dropped_without_overall"]
    summary = {stage: stats["rejections"][stage] for stage in ("overall", "picks", "perspective")}
    print("\nmixed scripted run, 30 paintings x 2 analysts:", json.dumps(summary, indent=1))
    print("kept:", {s: stats["stages"][s]["kept"] for s in ("overall", "picks", "perspective")},
          "exported:", len(texts))


def test_kill_9_then_resume_keeps_answers_and_rejection_counts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CRITIC_TEST_KEY", CANARY)
    mixed = MixedServer()
    with ScriptServer(mixed) as server:
        world = mixed_world(tmp_path, server.url, 10)
        # the same run uninterrupted, in another folder, is what the resumed one must equal
        reference = execute(config(world, out="whole", test_count=2))
        whole_requests = len(server.log)
        args = ["annotate", "run", "--paintings", str(world / "paintings.csv"), "--images", str(world / "images"),
                "--out", str(world / "out"), "--providers", str(world / "providers.toml"),
                "--test-count", "2", "--retries", "1", "--backoff", "0.001", "--no-progress"]
        env = {**os.environ, "PYTHONPATH": str(REPO), "CRITIC_TEST_KEY": CANARY}
        command = [sys.executable, "-m", "critic", *args]
        server.delay = 0.1
        mark = len(server.log)
        first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            def enough() -> bool:
                rows = stored_answers(world / "out", REJECTED_TOO)
                return sum(r[0] == "ok" for r in rows) >= 30 and any(r[3] for r in rows)

            signal_when(first, enough, signal.SIGKILL, "the run stored nothing", timeout=60)
        finally:
            first.kill()
            first.communicate()
        assert first.returncode == -signal.SIGKILL
        before = stored_answers(world / "out", REJECTED_TOO)
        stored = {(model, messages) for status, model, messages, _ in before if status == "ok"}
        assert len([r for r in before if r[0] == "ok"]) < whole_requests  # killed part-way

        # status on the killed folder already shows the rejections stored so far
        assert main(["annotate", "status", str(world / "out")]) == 0
        status_killed = capsys.readouterr().out
        assert "rejected answers, by reason" in status_killed

        server.delay = 0.0
        resumed_from = len(server.log)
        second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120)
        assert second.returncode == 0, second.stderr.decode()

    def sent(entries):
        return {(e.body["model"], json.dumps(e.body["messages"], ensure_ascii=False)) for e in entries}

    assert stored <= sent(server.log[mark:resumed_from])
    assert stored.isdisjoint(sent(server.log[resumed_from:]))  # nothing kept was asked again
    stats = json.loads((world / "out" / "stats.json").read_text())
    assert stats["rejections"] == reference["rejections"]
    assert sum(sum(s["by_reason"].values()) for s in stats["rejections"].values()) > 0
    assert exported(world / "out") == exported(world / "whole")
    assert b"rejected:" in second.stdout

    assert main(["annotate", "status", str(world / "out")]) == 0
    status = capsys.readouterr().out
    lines = {line.split(": ")[0].strip(): line.split(": ")[1] for line in status.splitlines() if line.startswith("  ")}
    for stage, label in (("overall", "overall analyses"), ("picks", "perspective picks"),
                         ("perspective", "perspective analyses")):
        shown = {reason: int(n) for n, reason in (part.split(" ") for part in lines[label].split(", "))}
        assert shown == stats["rejections"][stage]["by_reason"]


def test_an_older_folder_is_judged_again_and_its_non_analyses_replaced(world, server, capsys):
    """A folder written before answers were judged (schema 1, every answer kept) is upgraded:
    status reads it as it is, and the next run rejects what it stored and asks again."""
    server.answer = _stubborn("alpha-model", SCREAM_OVERALL, BAD["yes_no"])
    execute(config(world, invalid_retries=0))
    db = world / "out" / "annotate.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE answers DROP COLUMN rejected")
    conn.execute("ALTER TABLE answers DROP COLUMN via")  # and what later versions added
    conn.execute("DROP TABLE batch_lines")
    conn.execute("DROP TABLE batches")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    assert main(["annotate", "status", str(world / "out")]) == 0
    assert "rejected answers: none" in capsys.readouterr().out

    server.answer = answer
    stats = execute(config(world))
    assert stats["rejections"]["overall"] == {"by_reason": {"yes_no": 1}, "regenerated": 1, "dropped": 0}
    texts = exported(world / "out")
    assert texts["p4-alpha-overall"].startswith(GOOD_MARK) and len(texts) == expected_analyses()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert conn.execute("SELECT count(*) FROM answers WHERE rejected = 'yes_no'").fetchone()[0] == 1
    conn.close()
