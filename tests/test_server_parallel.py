"""`--parallel N` against a server: bounded requests in flight, retries, resume, Ctrl-C.

The scripted server (tests/openai_script_server.py) gives latency and faults on demand; it
answers each request with the colour at the centre of the picture it was sent, so a record
can be checked against its own painting (an answer landing on the wrong record shows up).
The end of the file runs the same commands against the real `llama_cpp.server`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from child_process import signal_when
from openai_script_server import ScriptServer, Slow, Status
from PIL import Image

from critic.cli import main
from critic.core.store import read_jsonl

ROOT = Path(__file__).resolve().parents[1]


def colour_answer(body: dict) -> str:
    """The centre pixel of the image in the request, as words (the pad colour is at the edges)."""
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") == "image_url":
                    data = part["image_url"]["url"].split(",", 1)[1]
                    picture = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
                    r, g, b = picture.getpixel((picture.width // 2, picture.height // 2))
                    return f"colour {r} {g} {b}"
    return "no picture"


def expected(path: Path) -> str:
    r, g, b = Image.open(path).convert("RGB").getpixel((0, 0))
    return f"colour {r} {g} {b}"


def paintings(folder: Path, n: int) -> list[Path]:
    """`n` small one-colour paintings, each a different colour."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"p{i:02d}.png"
        Image.new("RGB", (40 + i, 30), (10 + 12 * i, 200 - 7 * i, (37 * i) % 256)).save(path)
        paths.append(path)
    return paths


def refs_file(folder: Path, paths: list[Path]) -> Path:
    data = folder / "test.json"
    data.write_text(json.dumps([{"image": p.name, "references": [f"A field of one colour, {p.stem}."]}
                                for p in paths]))
    return data


@pytest.fixture
def server():
    with ScriptServer(colour_answer) as scripted:
        yield scripted


def posts_for(server: ScriptServer, path: Path) -> list:
    """The requests the server saw for the painting at `path`."""
    return [entry for entry in server.log if colour_answer(entry.body) == expected(path)]


# -- flags ------------------------------------------------------------------------------------

def test_parallel_needs_a_server_and_a_sane_number(tmp_path, capsys):
    painting = paintings(tmp_path, 1)[0]
    assert main(["analyze", str(painting), "--parallel", "4"]) == 2
    assert "--parallel needs --server URL: the local llama.cpp engine answers one request at a time" in \
        capsys.readouterr().err
    data = refs_file(tmp_path, [painting])
    assert main(["eval", "generate", "--data", str(data), "--model", "tiny", "--parallel", "2",
                 "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "--parallel needs --server URL" in capsys.readouterr().err
    for bad in ("0", "65"):
        assert main(["analyze", str(painting), "--server", "http://127.0.0.1:9", "--parallel", bad]) == 2
        assert "--parallel must be between 1 and 64" in capsys.readouterr().err


# -- analyze ----------------------------------------------------------------------------------

def test_analyze_keeps_n_in_flight_and_each_record_is_its_own_painting(tmp_path, server, capsys):
    paths = paintings(tmp_path / "in", 12)
    server.delay = 1.0
    out = tmp_path / "results.jsonl"
    assert main(["analyze", str(tmp_path / "in"), "--server", server.url, "--parallel", "4", "--out", str(out),
                 "--max-tokens", "8", "--no-facts"]) == 0
    assert server.max_in_flight == {"scripted": 4}
    records = read_jsonl(out)
    assert sorted(r["image"]["path"] for r in records) == [str(p) for p in paths]
    assert len({r["key"] for r in records}) == 12
    for record in records:
        assert record["status"] == "ok"
        assert record["analysis"] == expected(Path(record["image"]["path"]))
    assert "12 analysed, 0 already done, 0 failed" in capsys.readouterr().err

    # a rerun asks nothing
    before = len(server.log)
    assert main(["analyze", str(tmp_path / "in"), "--server", server.url, "--parallel", "4", "--out", str(out),
                 "--max-tokens", "8", "--no-facts"]) == 0
    assert len(server.log) == before and len(read_jsonl(out)) == 12


def test_records_come_as_they_finish_and_the_document_in_input_order(tmp_path):
    paths = paintings(tmp_path / "in", 6)

    def slow_first(body: dict) -> str:
        answer = colour_answer(body)
        if answer == expected(paths[0]):
            time.sleep(1.5)  # the first painting finishes last
        return answer

    with ScriptServer(slow_first) as server:
        out, doc = tmp_path / "results.jsonl", tmp_path / "handout.md"
        base = ["analyze", str(tmp_path / "in"), "--server", server.url, "--parallel", "3", "--max-tokens", "8"]
        assert main([*base, "--out", str(out)]) == 0
        assert main([*base, "--out", str(doc)]) == 0
    order = [Path(r["image"]["path"]).name for r in read_jsonl(out)]
    assert sorted(order) == [p.name for p in paths] and order[-1] == "p00.png"  # keyed, in finishing order
    titles = [line for line in doc.read_text().splitlines() if line.startswith("# Formal analysis")]
    assert titles == [f"# Formal analysis — {p.name}" for p in paths]


def test_429_with_retry_after_500_and_503_are_retried(tmp_path, server):
    paths = paintings(tmp_path / "in", 8)
    server.script("", Status(429, retry_after=1.5), Status(500), Status(503))
    out = tmp_path / "results.jsonl"
    assert main(["analyze", str(tmp_path / "in"), "--server", server.url, "--parallel", "4", "--out", str(out),
                 "--max-tokens", "8", "--no-facts"]) == 0
    assert server.pending() == 0 and len(server.log) == 8 + 3
    records = read_jsonl(out)
    assert sorted(Path(r["image"]["path"]).name for r in records) == [p.name for p in paths]
    assert all(r["analysis"] == expected(Path(r["image"]["path"])) for r in records)
    gaps = [posts[1].time - posts[0].time for posts in map(lambda p: posts_for(server, p), paths) if len(posts) > 1]
    # three paintings were asked twice; the client's own first backoff is at most half a second,
    # the 429 asked for one and a half
    assert len(gaps) == 3 and max(gaps) >= 1.4


# -- eval, through the engine's real answerer --------------------------------------------------

def _answerer(url: str, timeout: float = 600.0, retries: int = 5):
    from critic.engine import Answerer
    from critic.engine.base import Settings
    from critic.engine.server import ServerEngine

    return Answerer(ServerEngine(url, timeout=timeout, retries=retries), Settings(max_tokens=8))


def test_a_request_past_the_timeout_is_sent_again(tmp_path, server):
    from critic.evaluation.readers import read_analysis_refs
    from critic.evaluation.runner import generate

    paths = paintings(tmp_path / "in", 6)
    items = read_analysis_refs(refs_file(tmp_path / "in", paths))
    server.script("", Slow(8.0), Slow(8.0))
    out = tmp_path / "o.jsonl"
    summary = generate(items, _answerer(server.url, timeout=2.0), out, tmp_path / "in", progress=False, parallel=3)
    assert (summary.answered, summary.errors) == (6, 0)
    assert [e.behaviour for e in server.log].count("Slow") == 2 and len(server.log) == 8
    records = read_jsonl(out)
    assert sorted(r["id"] for r in records) == [p.name for p in paths]
    assert all(r["text"] == expected(tmp_path / "in" / r["id"]) for r in records)


def test_retries_are_bounded_and_what_finished_stays(tmp_path, server):
    from critic.core.errors import ServerError
    from critic.evaluation.readers import read_analysis_refs
    from critic.evaluation.runner import generate

    paths = paintings(tmp_path / "in", 4)
    items = read_analysis_refs(refs_file(tmp_path / "in", paths))
    out = tmp_path / "o.jsonl"
    generate(items[:2], _answerer(server.url), out, tmp_path / "in", progress=False, parallel=2)
    server.script("", *[Status(500)] * 10)
    with pytest.raises(ServerError, match="InternalServerError"):
        generate(items, _answerer(server.url, retries=2), out, tmp_path / "in", progress=False, parallel=2)
    assert max(len(posts_for(server, p)) for p in paths[2:]) == 3  # one try and two retries, then it stops
    assert sorted(r["id"] for r in read_jsonl(out)) == ["p00.png", "p01.png"]
    server.clear()
    generate(items, _answerer(server.url), out, tmp_path / "in", progress=False, parallel=2)
    assert sorted(r["id"] for r in read_jsonl(out)) == [p.name for p in paths]


def test_eval_cli_parallel_kill_9_then_resume_asks_nothing_twice(tmp_path, server):
    paths = paintings(tmp_path / "in", 16)
    data = refs_file(tmp_path / "in", paths)
    out = tmp_path / "o.jsonl"
    command = [sys.executable, "-m", "critic", "eval", "generate", "--data", str(data), "--server", server.url,
               "--parallel", "4", "--out", str(out), "--max-tokens", "8", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server.delay = 0.4
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        signal_when(child, lambda: len(read_jsonl(out)) >= 5, signal.SIGKILL, "the run wrote nothing")
    finally:
        child.kill()
        child.communicate()
    kept = read_jsonl(out)
    assert 5 <= len(kept) < 16 and len({r["id"] for r in kept}) == len(kept)
    mark = len(server.log)
    server.delay = 0.0
    again = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    records = read_jsonl(out)
    assert sorted(r["id"] for r in records) == [p.name for p in paths]  # each once
    assert all(r["text"] == expected(tmp_path / "in" / r["id"]) for r in records)
    asked_again = {colour_answer(e.body) for e in server.log[mark:]}
    assert asked_again.isdisjoint({r["text"] for r in kept})
    assert len(server.log) - mark == 16 - len(kept)


def test_ctrl_c_stops_at_once_and_keeps_every_finished_answer(tmp_path, server):
    paths = paintings(tmp_path / "in", 10)
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "critic", "analyze", str(tmp_path / "in"), "--server", server.url,
               "--parallel", "3", "--out", str(out), "--max-tokens", "8", "--no-facts"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server.delay = 0.2
    server.script("", Slow(120))  # one request that would hold the run for two minutes
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        signal_when(child, lambda: len(read_jsonl(out)) >= 4, signal.SIGINT, "the run wrote nothing")
        _, err = child.communicate(timeout=60)  # not waiting for the slow request in flight
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130
    kept = read_jsonl(out)
    assert out.read_text().count("\n") == len(kept) >= 4  # whole lines only
    assert f"{len(kept)} results are saved in {out}" in err.decode()
    server.delay = 0.0
    assert main(command[3:]) == 0
    records = read_jsonl(out)
    assert sorted(Path(r["image"]["path"]).name for r in records) == [p.name for p in paths]
    assert all(r["analysis"] == expected(Path(r["image"]["path"])) for r in records)


# -- the real llama_cpp.server -----------------------------------------------------------------

def test_against_llama_cpp_server_parallel_answers_match_serial(llama_server, tmp_path):
    url = llama_server("--interrupt_requests", "False")  # queue concurrent requests instead of cutting them
    paths = paintings(tmp_path / "in", 5)
    data = refs_file(tmp_path / "in", paths)
    texts = {}
    for n in (1, 3):
        out = tmp_path / f"o{n}.jsonl"
        assert main(["eval", "generate", "--data", str(data), "--server", url, "--parallel", str(n),
                     "--out", str(out), "--max-tokens", "6", "--no-progress"]) == 0
        records = read_jsonl(out)
        assert sorted(r["id"] for r in records) == [p.name for p in paths]
        assert all(r["status"] == "ok" and r["model"]["backend"].startswith("server") for r in records)
        texts[n] = {r["id"]: r["text"] for r in records}
    assert texts[3] == texts[1] and all(texts[1].values())  # greedy: each painting's own answer, in any order

    out = tmp_path / "analyses.jsonl"
    assert main(["analyze", str(tmp_path / "in"), "--server", url, "--parallel", "3", "--out", str(out),
                 "--max-tokens", "6", "--no-facts"]) == 0
    records = read_jsonl(out)
    assert sorted(Path(r["image"]["path"]).name for r in records) == [p.name for p in paths]
    assert {Path(r["image"]["path"]).name: r["analysis"] for r in records} == texts[1]


def test_an_answer_the_server_cuts_off_is_an_error_not_a_result(llama_server, tmp_path, capsys):
    url = llama_server()  # by default llama_cpp.server cuts a streamed answer when another request comes
    paths = paintings(tmp_path / "in", 6)
    out = tmp_path / "o.jsonl"
    code = main(["eval", "generate", "--data", str(refs_file(tmp_path / "in", paths)), "--server", url,
                 "--parallel", "3", "--out", str(out), "--max-tokens", "24", "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and "the server cut the answer off (no finish reason)" in err
    assert all(r["status"] == "ok" and r["text"] for r in read_jsonl(out))
