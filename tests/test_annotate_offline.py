"""`critic annotate run --batch-files DIR` and `critic annotate import`: the requests written as
Batch-API JSONL for an offline teacher (`vllm run-batch`), answered outside critic, imported,
and the run going on stage by stage to the same export as a live run; nothing sent anywhere."""

from __future__ import annotations

import json
import random
from pathlib import Path

from annotate_support import answer
from openai_script_server import completion

from critic.cli import main


def run_args(world: Path, out: str, *extra: str) -> list[str]:
    return ["annotate", "run", "--paintings", str(world / "paintings.csv"), "--images", str(world / "images"),
            "--out", str(world / out), "--providers", str(world / "providers.toml"), "--test-count", "2",
            "--backoff", "0.001", "--no-progress", *extra]


def run_batch(requests: Path, results: Path, fail: str | None = None) -> None:
    """What `vllm run-batch -i requests -o results` writes: a result line per request, in its own
    order (`fail`: the custom_id of a request that errors)."""
    lines = [json.loads(line) for line in requests.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(len(lines)).shuffle(lines)
    with open(results, "w", encoding="utf-8") as handle:
        for number, line in enumerate(lines):
            body = line["body"]
            assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
            if line["custom_id"] == fail:
                response = {"status_code": 500, "request_id": f"r{number}",
                            "body": {"error": {"message": "CUDA out of memory", "type": "InternalServerError"}}}
            else:
                response = {"status_code": 200, "request_id": f"r{number}", "body": completion(body, answer(body))}
            handle.write(json.dumps({"id": f"vllm-{number}", "custom_id": line["custom_id"], "response": response,
                                     "error": None}) + "\n")
        handle.write(json.dumps({"id": "x", "custom_id": "not-ours", "response": None,
                                 "error": {"code": "x", "message": "y"}}) + "\n")


def test_batch_files_then_import_round_trip_gives_the_live_export(world, server, capsys, monkeypatch):
    assert main(run_args(world, "live")) == 0
    live_requests = len(server.log)
    capsys.readouterr()
    monkeypatch.delenv("CRITIC_TEST_KEY")  # writing files needs no key
    requests = world / "requests"

    answered: set[Path] = set()
    rounds: list[list[int]] = []
    failed_once = False
    while True:
        assert main(run_args(world, "files", "--batch-files", str(requests))) == 0
        said = capsys.readouterr().out
        if "critic annotate import" not in said:  # the run went through: its summary
            break
        new = sorted(set(requests.glob("*.jsonl")) - answered - set(requests.glob("*.out.jsonl")))
        assert new and "critic annotate import OUT RESULTS" in said
        rounds.append([len(path.read_text().splitlines()) for path in new])

        # run again before importing: the same requests are not written twice
        assert main(run_args(world, "files", "--batch-files", str(requests))) == 0
        assert "requests wait in" in capsys.readouterr().out
        assert sorted(set(requests.glob("*.jsonl")) - answered - set(requests.glob("*.out.jsonl"))) == new

        for path in new:
            results = path.with_suffix(".out.jsonl")
            fail = None
            if not failed_once:  # one request of the first file fails on the teacher
                fail = json.loads(path.read_text().splitlines()[3])["custom_id"]
                failed_once = True
            run_batch(path, results, fail)
            assert main(["annotate", "import", str(world / "files"), str(results)]) == 0
            said = capsys.readouterr().out
            lines = len(path.read_text().splitlines())
            assert f"stored {lines - (fail is not None):,} answers" in said and "1 unknown" in said
            assert ("1 failures" in said) == (fail is not None)
            answered.add(path)

    # knowledge, its failed request again, overall per analyst, picks, perspectives
    assert rounds == [[6], [1], [5, 5], [5, 5], [10, 10]]
    assert len(server.log) == live_requests and server.batch_api.calls == []  # nothing was sent
    for name in ("train.json", "test.json"):
        assert (world / "files" / name).read_bytes() == (world / "live" / name).read_bytes()
    assert "knowledge filter: 5 known, 1 unknown, 0 failed" in said


def test_import_refuses_results_of_another_folder(world, server, capsys, monkeypatch):
    monkeypatch.delenv("CRITIC_TEST_KEY")
    assert main(run_args(world, "files", "--batch-files", str(world / "requests"))) == 0
    stray = world / "stray.jsonl"
    stray.write_text(json.dumps({"custom_id": "knowledge-0000", "response": {"status_code": 200, "body": {}}}) + "\n")
    capsys.readouterr()
    assert main(["annotate", "import", str(world / "files"), str(stray)]) == 9
    assert "none of the 1 results" in capsys.readouterr().err
    assert main(["annotate", "import", str(world / "files"), str(world / "nope.jsonl")]) == 9


def test_result_lines_of_each_shape_are_read():
    from critic.annotate.batch_format import read_result

    ok = {"id": "b1", "custom_id": "c", "error": None, "response": {"status_code": 200, "request_id": "r", "body": {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "text"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}}}}
    assert read_result(ok) == read_result({**ok, "id": "other"})
    assert (read_result(ok).text, read_result(ok).tokens_in, read_result(ok).tokens_out) == ("text", 3, 1)
    http = {"custom_id": "c", "response": {"status_code": 429, "body": {"error": {"message": "slow  down"}}}}
    assert read_result(http).error == "HTTP 429: slow down" and not read_result(http).unfinished
    expired = {"custom_id": "c", "response": None, "error": {"code": "batch_expired", "message": "not run"}}
    assert read_result(expired).unfinished and read_result(expired).text is None
    assert read_result({"custom_id": "c", "response": None, "error": "engine died"}).error == "engine died"
    empty = {"custom_id": "c", "response": {"status_code": 200, "body": {"choices": []}}}
    assert "no text content" in read_result(empty).error
