"""critic analyze and the engine, on the real llama.cpp running the tiny model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from critic.cli import main
from critic.core.manifest import Manifest
from critic.core.store import read_jsonl
from critic.engine.base import ModelInfo, Settings
from critic.engine.llama import LlamaEngine


def _paintings(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"p{i:02d}.png"
        Image.new("RGB", (64 + i, 48), (20 * i % 255, 90, 200 - 10 * i % 200)).save(path)
        paths.append(path)
    return paths


def test_text_output_streams_plain_when_piped(installed_model, painting, capsys):
    assert main(["analyze", str(painting), "--max-tokens", "12", "--no-facts"]) == 0
    out = capsys.readouterr().out
    assert out.strip() and "\x1b[" not in out


def test_json_record_has_everything(installed_model, painting, capsys):
    assert main(["analyze", str(painting), "--format", "json", "--max-tokens", "7", "--seed", "3"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "ok" and record["analysis"]
    assert record["model"]["name"] == "tiny" and record["model"]["quantization"] == "F16"
    assert len(record["model"]["sha256"]) == 64
    assert record["image"]["sha256"] and record["image"]["width"] > 0
    assert record["prompt"].startswith("A chat between") and "USER: <image>\n" in record["prompt"]
    assert record["settings"]["max_tokens"] == 7 and record["settings"]["seed"] == 3
    timings = record["timings"]
    assert timings["generated_tokens"] <= 7 and timings["image_encode"] > 0 and "tokens_per_second" in timings
    assert record["facts"]["palette"]
    assert isinstance(record["flags"], list)


def test_markdown_output(installed_model, painting, capsys):
    assert main(["analyze", str(painting), "--format", "markdown", "--max-tokens", "5", "--no-facts",
                 "--aspect", "light"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Formal analysis — painting.jpg")
    assert "light and shadow" in out


def test_max_tokens_is_exact_and_seed_reproduces(engine, painting):
    for n in (1, 9):
        session = engine.open_session(painting)
        "".join(session.ask("Describe it.", Settings(max_tokens=n)))
        turn = session.turns[-1]
        assert (turn.stopped == "max_tokens" and turn.timings.generated_tokens == n) or \
               (turn.stopped == "eos" and turn.timings.generated_tokens < n)
    answers = []
    for seed in (5, 5, 6):
        session = engine.open_session(painting)
        answers.append("".join(session.ask("Describe it.", Settings(max_tokens=24, temperature=1.0, seed=seed))))
    assert answers[0] == answers[1] != answers[2]


def test_follow_up_reuses_the_encoded_painting(engine, painting):
    session = engine.open_session(painting)
    "".join(session.ask("Describe the composition.", Settings(max_tokens=6)))
    used = session.context_used
    second = "".join(session.ask("And the colour?", Settings(max_tokens=6)))
    assert session.image_encodes == 1
    assert session.turns[-1].timings.image_encode == 0
    assert session.context_used > used and second is not None

    # the cached prefix gives the same answer as a fresh session built from the whole conversation
    fresh = engine.open_session(painting)
    fresh._turn_ids = list(session._turn_ids[:1])
    fresh.turns = list(session.turns[:1])
    assert "".join(fresh.ask("And the colour?", Settings(max_tokens=6))) == second


def test_stopping_keeps_the_partial_answer_and_the_cache_consistent(engine, painting):
    # a seed whose answer runs long on the tiny model (it may also stop early at EOS)
    seed = next(s for s in range(50) if _long_answer(engine, painting, s))
    session = engine.open_session(painting)
    stream = session.ask("Describe it.", Settings(max_tokens=40, temperature=0.9, seed=seed))
    next(stream)
    next(stream)
    stream.close()
    assert session.turns[-1].partial and session.turns[-1].stopped == "cancelled"
    "".join(session.ask("Go on.", Settings(max_tokens=4)))
    assert session.image_encodes == 1


def _long_answer(engine, painting, seed: int) -> bool:
    session = engine.open_session(painting)
    return len(list(session.ask("Describe it.", Settings(max_tokens=40, temperature=0.9, seed=seed)))) >= 5


def test_context_overflow_drops_oldest_turns_not_the_painting(tiny_gguf, painting):
    manifest = Manifest.read(tiny_gguf)
    engine = LlamaEngine(*manifest.file_paths(tiny_gguf), ModelInfo("tiny"), n_ctx=2048)
    try:
        session = engine.open_session(painting)
        for _ in range(12):
            "".join(session.ask("Describe the composition in detail. " * 5, Settings(max_tokens=150)))
        assert session.notices and "dropped" in session.notices[-1]
        assert session.image_encodes == 1
        assert session.context_used <= session.context_size
    finally:
        engine.close()


def test_batch_appends_skips_done_and_records_bad_images(installed_model, tmp_path, capsys):
    folder = tmp_path / "batch"
    _paintings(folder, 3)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "results.jsonl"
    args = ["analyze", str(folder), "--out", str(out), "--max-tokens", "4"]
    assert main(args) == 1  # one bad image: the batch goes on, the exit status says so
    records = read_jsonl(out)
    assert sum(r["status"] == "ok" for r in records) == 3
    assert [r for r in records if r["status"] == "error"][0]["error"].startswith(str(folder / "broken.jpg"))
    capsys.readouterr()
    assert main(args) == 1  # still broken: retried, the same failure not recorded again
    assert len(read_jsonl(out)) == len(records)
    assert "0 analysed, 3 already done, 1 failed" in capsys.readouterr().err
    (folder / "broken.jpg").unlink()
    assert main(args) == 0
    assert len(read_jsonl(out)) == len(records)  # nothing redone
    assert "3 already done" in capsys.readouterr().err


def test_batch_resumes_after_kill(installed_model, tmp_path, critic_home):
    folder = tmp_path / "many"
    paths = _paintings(folder, 12)
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "critic", "analyze", str(folder), "--out", str(out), "--max-tokens", "300"]
    env = {**os.environ, "CRITIC_HOME": str(critic_home)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_jsonl(out)) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = read_jsonl(out)
    assert 2 <= len(first) < len(paths), "the kill should land mid-batch"
    subprocess.run(command, env=env, check=True, capture_output=True)
    records = read_jsonl(out)
    assert records[: len(first)] == first  # nothing lost or rewritten
    assert len(records) == len(paths)
    assert len({r["image"]["sha256"] for r in records}) == len(paths)


def test_no_model_prints_measured_facts_and_the_hint(painting, capsys):
    assert main(["analyze", str(painting)]) == 0
    captured = capsys.readouterr()
    assert "Measured from the image, not written by a model" in captured.out
    assert "no model installed" in captured.err and "critic convert" in captured.err


def test_unknown_model_and_bad_flags_are_one_line_errors(installed_model, painting, capsys):
    assert main(["analyze", str(painting), "--model", "nope"]) == 3
    assert "no model named 'nope'" in capsys.readouterr().err
    assert main(["analyze", str(painting), "--aspect", "smell"]) == 2
    with pytest.raises(SystemExit):
        main(["analyze", "--format", "yaml", str(painting)])


def test_analyze_opens_no_socket(installed_model, painting, monkeypatch, capsys):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("critic analyze opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert main(["analyze", str(painting), "--max-tokens", "3"]) == 0
    assert main(["models", "list"]) == 0


@pytest.mark.parametrize("argv", [["--help"], ["models", "list"], ["analyze", "--aspects"]])
def test_light_commands_import_no_heavy_packages(argv, tmp_path):
    code = (
        "import sys\n"
        "from critic.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'llama_cpp', 'openai'})\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "CRITIC_HOME": str(tmp_path)})
    assert "HEAVY []" in result.stderr


def test_server_backend_against_llama_cpp_server(tiny_gguf, painting, tmp_path):
    pytest.importorskip("uvicorn")
    import socket as socket_module
    import urllib.request

    with socket_module.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm, mmproj = Manifest.read(tiny_gguf).file_paths(tiny_gguf)
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(llm), "--clip_model_path", str(mmproj),
         "--chat_format", "llava-1-5", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        result = subprocess.run(
            [sys.executable, "-m", "critic", "analyze", str(painting), "--server", url, "--format", "json",
             "--max-tokens", "6"], capture_output=True, text=True, timeout=120,
            env={**os.environ, "CRITIC_HOME": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        record = json.loads(result.stdout)
        assert record["status"] == "ok" and record["analysis"]
        assert record["model"]["backend"].startswith("server")
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_streamed_text_survives_invalid_bytes_and_flushes_a_partial_tail():
    """One invalid byte must not stall the rest of the answer; a trailing partial sequence is flushed."""
    from critic.engine.llama import _Utf8Stream

    pieces = [b" \xcb", b"<", b"A", b" caf\xc3", b"\xa9 ", b"\xe2\x82"]
    stream = _Utf8Stream()
    streamed = "".join(stream.push(p) for p in pieces) + stream.flush()
    assert streamed == b"".join(pieces).decode("utf-8", "replace").lstrip(" ")
    assert streamed.startswith("\ufffd<A café")


def test_several_perspectives_share_one_encoding_and_answer_as_alone(installed_model, painting, tmp_path, capsys):
    from critic.cli import main
    from critic.core.perspectives import PERSPECTIVES

    base = ["analyze", str(painting), "--format", "json", "--max-tokens", "12", "--threads", "1", "--no-cache"]
    batch = ["analyze", str(painting), "--max-tokens", "12", "--threads", "1", "--no-cache", "--aspect", "all"]
    alone = {}
    for key in ("composition", "light"):
        assert main([*base, "--aspect", key]) == 0
        record = json.loads(capsys.readouterr().out)
        alone[record["question"]] = record["analysis"]
    assert main([*base, "--aspect", "composition", "--aspect", "light"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["question"]: r["analysis"] for r in records} == alone
    assert records[0]["timings"]["image_encode"] > 0 and records[1]["timings"]["image_encode"] == 0

    out = tmp_path / "all.jsonl"
    assert main([*batch, "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == len(PERSPECTIVES)
    out.write_text("\n".join(lines[:3]) + "\n")  # a run killed after three perspectives
    assert main([*batch, "--out", str(out)]) == 0
    assert f"{len(PERSPECTIVES) - 3} analysed, 3 already done" in capsys.readouterr().err
    assert [json.loads(line)["question"] for line in out.read_text().splitlines()] == [p.question for p in PERSPECTIVES]


def test_the_server_backend_sends_every_setting_and_reads_usage_and_finish_reason(painting):
    """top_k travels in the body; token counts and the stop reason come from the API, not from chunks."""
    from openai_script_server import ScriptServer

    from critic.core.prompt import SYSTEM
    from critic.engine.base import Settings
    from critic.engine.server import ServerEngine

    with ScriptServer(lambda body: "A calm blue field under a pale sky with one warm light") as server:
        engine = ServerEngine(server.url, model="scripted")
        session = engine.open_session(painting)
        text = "".join(session.ask("What is here?", Settings(max_tokens=5, top_k=7, seed=11)))
        cut = session.turns[-1]
        "".join(session.ask("And the light?", Settings(max_tokens=50)))
        whole = session.turns[-1]
        engine.close()
    body = server.log[0].body
    assert body["top_k"] == 7 and body["seed"] == 11 and body["max_tokens"] == 5
    assert body["messages"][0] == {"role": "system", "content": SYSTEM}
    image_url = body["messages"][1]["content"][0]["image_url"]["url"]
    assert image_url.startswith("data:image/png;base64,")
    assert text == "A calm blue field under"
    assert (cut.stopped, cut.timings.generated_tokens) == ("max_tokens", 5)
    assert (whole.stopped, whole.timings.generated_tokens) == ("eos", 12)


def test_markdown_does_not_depend_on_the_terminal_width(installed_model, painting):
    outputs = []
    for columns in ("40", "200"):
        result = subprocess.run(
            [sys.executable, "-m", "critic", "analyze", str(painting), "--format", "markdown", "--max-tokens", "40",
             "--threads", "1"], capture_output=True, text=True, timeout=300,
            env={**os.environ, "COLUMNS": columns})
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert not any(line != line.rstrip() for line in outputs[0].splitlines())
    assert any(len(line) > 40 for line in outputs[0].splitlines())


def test_nothing_to_do_without_a_model_and_without_facts(painting, capsys):
    from critic.cli import main

    assert main(["analyze", str(painting), "--no-facts"]) == 2
    assert "nothing to do" in capsys.readouterr().err


def test_chat_with_a_missing_picture_fails_at_the_prompt(tmp_path, capsys):
    from critic.cli import main

    assert main(["chat", str(tmp_path / "missing.jpg")]) == 5
    assert capsys.readouterr().err.strip() == f"critic: error: {tmp_path / 'missing.jpg'}: no such file"


def test_sampling_draws_and_records_a_seed_that_reproduces_the_answer(installed_model, painting, capsys):
    from critic.cli import main

    base = ["analyze", str(painting), "--format", "json", "--max-tokens", "24", "--threads", "1",
            "--temperature", "0.9"]
    records = []
    for _ in range(2):
        assert main(base) == 0
        records.append(json.loads(capsys.readouterr().out))
    seeds = [r["settings"]["seed"] for r in records]
    assert all(isinstance(s, int) for s in seeds) and seeds[0] != seeds[1]
    assert main([*base, "--seed", str(seeds[0])]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["analysis"] == records[0]["analysis"] and again["settings"]["seed"] == seeds[0]
    assert main(["analyze", str(painting), "--format", "json", "--max-tokens", "4", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["seed"] == 0  # greedy: nothing to draw


def test_regenerate_samples_anew_and_the_seed_is_saved(installed_model, painting):
    from critic.core.images import load_image
    from critic.engine import open_engine
    from critic.engine.base import Settings
    from critic.history import History
    from critic.tui.conversation import Conversation, Painting

    history = History()
    engine = open_engine(threads=1)
    try:
        conversation = Conversation(Painting(load_image(painting)), Settings(max_tokens=16, temperature=0.9, seed=None),
                                    history)
        "".join(conversation.stream(engine, "What is here?"))
        first = conversation.turns[-1].seed
        "".join(conversation.stream(engine, "What is here?", regenerate=True))
        second = conversation.turns[-1].seed
        saved = history.get(conversation.id)
        markdown = conversation.markdown()
    finally:
        engine.close()
    assert first != second and [t.seed for t in saved.turns] == [second]
    assert f"sampled with seed {second}" in markdown


def test_a_handout_gets_what_the_terminal_shows_for_its_format(installed_model, painting, tmp_path, capsys):
    from critic.core.images import load_image
    from critic.facts import MEASURED_LABEL, facts_paragraph, measure

    run = ["analyze", str(painting), "--max-tokens", "6", "--threads", "1"]
    assert main([*run, "--format", "markdown"]) == 0
    shown = capsys.readouterr().out
    assert "## Measured facts — painting.jpg" in shown
    handout = tmp_path / "handout.md"
    assert main([*run, "--out", str(handout)]) == 0
    assert handout.read_text().rstrip() == shown.rstrip()  # the same words, facts and all
    paragraph = facts_paragraph(measure(load_image(painting).image))
    assert paragraph in handout.read_text()

    # Another day, another painting: the first painting keeps its facts.
    other = tmp_path / "other.png"
    Image.new("RGB", (120, 90), (200, 40, 30)).save(other)
    assert main(["analyze", str(other), "--max-tokens", "6", "--threads", "1", "--out", str(handout)]) == 0
    text = handout.read_text()
    assert text.count("## Measured facts") == 2 and paragraph in text
    assert text.index("## Measured facts — painting.jpg") < text.index("# Formal analysis — other.png")

    plain = tmp_path / "handout.txt"
    assert main([*run, "--out", str(plain)]) == 0
    text = plain.read_text()
    assert text.startswith("painting.jpg — ") and MEASURED_LABEL in text and "symmetry" in text
    panel = [line for line in text.splitlines() if line.startswith(("╭", "│", "╰"))]
    assert panel and {len(line) for line in panel} == {100}  # a fixed width, whatever the terminal

    bare = tmp_path / "bare.md"
    assert main([*run, "--out", str(bare), "--no-facts"]) == 0
    assert "Measured facts" not in bare.read_text()


def test_out_follows_the_format_and_never_appends_to_another_kind_of_file(installed_model, painting, tmp_path, capsys):
    from critic.cli import main

    run = ["analyze", str(painting), "--max-tokens", "6", "--threads", "1"]
    handout = tmp_path / "handout.md"
    assert main([*run, "--out", str(handout), "--format", "markdown"]) == 0
    text = handout.read_text()
    assert text.startswith("# Formal analysis — painting.jpg") and "{" not in text.splitlines()[0]
    assert main([*run, "--out", str(handout), "--aspect", "light"]) == 0  # .md: Markdown; a second analysis
    first = text.split("## Measured facts")[0]  # the painting's facts follow its last analysis
    assert handout.read_text().count("# Formal analysis") == 2 and handout.read_text().startswith(first)
    assert handout.read_text().count("## Measured facts") == 1

    notes = tmp_path / "notes.md"
    notes.write_text("# My lesson notes\n")
    assert main([*run, "--out", str(notes)]) == 2
    assert "was not written by `critic analyze --out`" in capsys.readouterr().err
    assert main([*run, "--out", str(notes), "--format", "json"]) == 2
    assert "not a file of critic analyze results" in capsys.readouterr().err
    assert notes.read_text() == "# My lesson notes\n"

    records = tmp_path / "results.jsonl"
    assert main([*run, "--out", str(records)]) == 0
    assert json.loads(records.read_text().splitlines()[0])["status"] == "ok"


def test_ctrl_c_in_a_batch_says_what_is_saved_and_how_to_continue(installed_model, tmp_path, capsys, monkeypatch):
    from critic.analyze.job import AnalyzeJob
    from critic.cli import main

    folder = tmp_path / "batch"
    _paintings(folder, 3)
    out = tmp_path / "results.jsonl"
    real_one, seen = AnalyzeJob._one, []

    def interrupted(self, engine, path, done):
        seen.append(path)
        if len(seen) == 2:
            raise KeyboardInterrupt  # stands in for the user's Ctrl-C
        yield from real_one(self, engine, path, done)

    monkeypatch.setattr(AnalyzeJob, "_one", interrupted)
    assert main(["analyze", str(folder), "--out", str(out), "--max-tokens", "4", "--threads", "1"]) == 130
    err = capsys.readouterr().err
    assert f"1 results are saved in {out}; run the same command again to continue" in err
