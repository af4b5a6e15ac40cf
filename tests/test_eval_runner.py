"""The evaluation runner's plumbing: records, error records, resuming, scoring of runs.

The model is a scripted answerer (the engine's real test lives with the engine); images
are real files loaded with critic's own loader, so a damaged one fails as it would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from critic import __version__
from critic.core.images import load_image
from critic.core.store import read_jsonl
from critic.engine import AnswerResult
from critic.evaluation.readers import AnalysisItem, QAItem, StyleItem
from critic.evaluation.runner import (
    generate,
    run_classify,
    run_key,
    run_vqa,
    select,
    style_question,
    vqa_question,
)
from critic.evaluation.scoring import score_answers, score_generation

ROOT = Path(__file__).resolve().parents[1]


class ScriptedAnswerer:
    """Answers from a table keyed by image name; reads every image for real first."""

    def __init__(self, replies, name="scripted", quantization="Q4_K_M", settings=None, stop_after=None):
        self.replies = replies
        self.model = {"name": name, "quantization": quantization, "sha256": "0" * 64}
        self.settings = settings or {"max_tokens": 64, "temperature": 0.0, "seed": 0}
        self.calls: list[tuple[str, str]] = []
        self.stop_after = stop_after

    def answer(self, image_path: Path, question: str) -> AnswerResult:
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise KeyboardInterrupt  # the person presses Ctrl-C mid-run
        load_image(image_path)
        self.calls.append((image_path.name, question))
        reply = self.replies(image_path, question) if callable(self.replies) else self.replies[image_path.name]
        return AnswerResult(reply, {"total_ms": 1.5}, {"n_ctx": 2048}, {"top_p": 1.0})


def _images(folder: Path, names: list[str]) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (16, 12), (20 * i, 100, 200 - 20 * i)).save(folder / name)
    return folder


def _items(names: list[str]) -> list[AnalysisItem]:
    return [AnalysisItem(n, n, (f"A calm blue field with {n} in it.", f"Soft blue colour around {n}.")) for n in names]


NAMES = ["a.png", "b.png", "c.png", "d.png"]


def test_generate_writes_a_self_describing_record_per_painting(tmp_path):
    images = _images(tmp_path / "img", NAMES)
    answerer = ScriptedAnswerer({n: f"A blue field with {n}." for n in NAMES})
    out = tmp_path / "out" / "outputs.jsonl"
    summary = generate(_items(NAMES), answerer, out, images, progress=False)
    assert (summary.total, summary.answered, summary.skipped, summary.errors) == (4, 4, 0, 0)
    records = read_jsonl(out)
    assert [r["id"] for r in records] == NAMES
    first = records[0]
    assert first["status"] == "ok" and first["task"] == "generate"
    assert first["text"] == "A blue field with a.png."
    assert first["question"].startswith("Please compose a coherent paragraph of formal analysis")
    assert first["model"] == {**answerer.model, "n_ctx": 2048}
    assert first["settings"] == {**answerer.settings, "top_p": 1.0}
    assert first["timings"] == {"total_ms": 1.5}
    assert first["critic_version"] == __version__
    assert first["run_key"] == run_key(answerer.model, answerer.settings)
    assert isinstance(first["wall_s"], float) and "finished_at" in first


def test_a_bad_image_is_an_error_record_and_the_run_goes_on(tmp_path):
    images = _images(tmp_path / "img", ["a.png", "c.png"])
    (images / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    answerer = ScriptedAnswerer({n: "text" for n in NAMES})
    summary = generate(_items(NAMES), answerer, tmp_path / "o.jsonl", images, progress=False)
    assert (summary.answered, summary.errors) == (2, 2)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "o.jsonl")}
    assert records["b.png"]["status"] == "error" and records["b.png"]["error_type"] == "BadImage"
    assert "damaged" in records["b.png"]["error"] or "not a picture file" in records["b.png"]["error"]
    assert records["d.png"]["status"] == "error" and "no such file" in records["d.png"]["error"]
    assert records["c.png"]["status"] == "ok"


def test_resume_after_an_interrupted_run_redoes_nothing(tmp_path):
    images = _images(tmp_path / "img", NAMES)
    out = tmp_path / "o.jsonl"
    replies = {n: f"analysis of {n}" for n in NAMES}
    first = ScriptedAnswerer(replies, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        generate(_items(NAMES), first, out, images, progress=False)
    assert [r["id"] for r in read_jsonl(out)] == ["a.png", "b.png"]
    # A kill mid-write leaves a torn line; the next run cuts it off and carries on.
    with open(out, "a", encoding="utf-8") as handle:
        handle.write('{"task": "generate", "id": "c.png", "sta')
    second = ScriptedAnswerer(replies)
    summary = generate(_items(NAMES), second, out, images, progress=False)
    assert [c[0] for c in second.calls] == ["c.png", "d.png"]
    assert (summary.skipped, summary.answered) == (2, 2)
    assert [r["id"] for r in read_jsonl(out)] == NAMES
    # A third run finds everything done.
    third = ScriptedAnswerer(replies)
    assert generate(_items(NAMES), third, out, images, progress=False).skipped == 4 and not third.calls


def test_errors_are_retried_and_other_settings_are_a_new_run(tmp_path):
    images = _images(tmp_path / "img", ["a.png", "b.png"])
    out = tmp_path / "o.jsonl"
    items = _items(["a.png", "b.png", "c.png"])
    generate(items, ScriptedAnswerer({"a.png": "x", "b.png": "y"}), out, images, progress=False)
    _images(images, ["c.png"])  # the missing painting turns up
    again = ScriptedAnswerer({"c.png": "z"})
    generate(items, again, out, images, progress=False)
    assert [c[0] for c in again.calls] == ["c.png"]
    hotter = ScriptedAnswerer({n: "w" for n in ["a.png", "b.png", "c.png"]},
                              settings={"max_tokens": 64, "temperature": 0.7, "seed": 0})
    generate(items, hotter, out, images, progress=False)
    assert len(hotter.calls) == 3


def test_killed_with_sigkill_then_resumed(tmp_path):
    images = _images(tmp_path / "img", NAMES)
    out = tmp_path / "o.jsonl"
    ready = tmp_path / "third-call"
    script = f"""
import sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from critic.evaluation.readers import AnalysisItem
from critic.engine import AnswerResult
from critic.evaluation.runner import generate

class Hangs:
    model = {{"name": "scripted", "quantization": "Q4_K_M", "sha256": "0" * 64}}
    settings = {{"max_tokens": 64, "temperature": 0.0, "seed": 0}}
    calls = 0
    def answer(self, image_path, question):
        self.calls += 1
        if self.calls == 3:
            Path({str(ready)!r}).write_text("now")
            time.sleep(600)
        return AnswerResult("analysis of " + image_path.name)

items = [AnalysisItem(n, n, ("r",)) for n in {NAMES!r}]
generate(items, Hangs(), Path({str(out)!r}), Path({str(images)!r}), progress=False)
"""
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(600):  # the child needs a moment to import and answer twice
            if ready.exists() or child.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists(), "the child never reached its third painting"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert [r["id"] for r in read_jsonl(out)] == ["a.png", "b.png"]
    resumed = ScriptedAnswerer({n: f"analysis of {n}" for n in NAMES})
    generate(_items(NAMES), resumed, out, images, progress=False)
    assert [c[0] for c in resumed.calls] == ["c.png", "d.png"]
    assert [r["id"] for r in read_jsonl(out)] == NAMES


def test_select_is_a_seeded_sample_in_file_order():
    items = list(range(100))
    assert select(items) == items and select(items, 200, 1) == items
    assert select(items, 5) == [0, 1, 2, 3, 4]
    sample = select(items, 10, seed=7)
    assert sample == sorted(sample) and len(set(sample)) == 10
    assert select(items, 10, seed=7) == sample and select(items, 10, seed=8) != sample


def test_limit_and_seed_pick_the_same_paintings_every_time(tmp_path):
    names = [f"p{i}.png" for i in range(10)]
    images = _images(tmp_path / "img", names)
    one = ScriptedAnswerer({n: "x" for n in names})
    generate(_items(names), one, tmp_path / "a.jsonl", images, limit=3, seed=5, progress=False)
    two = ScriptedAnswerer({n: "x" for n in names})
    generate(_items(names), two, tmp_path / "b.jsonl", images, limit=3, seed=5, progress=False)
    assert one.calls == two.calls and len(one.calls) == 3


def test_scoring_makes_one_row_per_run(tmp_path):
    images = _images(tmp_path / "img", ["a.png", "b.png"])
    out = tmp_path / "o.jsonl"
    items = [
        AnalysisItem("a.png", "a.png", ("The red sky swirls over the dark hills.", "A red sky swirls above dark hills.")),
        AnalysisItem("b.png", "b.png", ("Thick strokes of blue and yellow paint.",)),
    ]
    good = {"a.png": "The red sky swirls above the dark hills.", "b.png": "Thick strokes of blue paint!"}
    generate(items, ScriptedAnswerer(good, name="good"), out, images, progress=False)
    generate(items, ScriptedAnswerer({"a.png": "green", "b.png": "nothing"}, name="bad"), out, images,
             progress=False)
    report = score_generation(out, items, meteor="stem")
    labels = [run["label"] for run in report["runs"]]
    assert labels == ["good (Q4_K_M)", "bad (Q4_K_M)"]
    good_row, bad_row = report["runs"]
    assert good_row["n"] == 2 and good_row["missing"] == 0
    assert good_row["scores"]["rouge_l"] > bad_row["scores"]["rouge_l"]
    assert report["paper"]["rows"]["GalleryGPT"]["bleu"] == 21.23
    assert "wordpunct_tokenize" in report["implementation"]["tokenization"]


def test_vqa_records_carry_the_truth_and_score_by_the_rule(tmp_path):
    images = _images(tmp_path / "img", ["q.png", "r.png"])
    items = [
        QAItem("0", "q.png", "who sit on a couch holding a baby", "woman"),
        QAItem("1", "q.png", "what do a woman hold", "baby"),
        QAItem("2", "r.png", "how many people stand", "2"),
        QAItem("3", "r.png", "what stand next to a tree", "animals"),
    ]
    said = {
        "who sit on a couch holding a baby": "A woman.",
        "what do a woman hold": "She holds a baby in her arms.",
        "how many people stand": "Two",
        "what stand next to a tree": "A house",
    }
    answerer = ScriptedAnswerer(lambda image, question: said[question.split("\n")[0]])
    run_vqa(items, answerer, tmp_path / "aqua.jsonl", images, "aqua", progress=False)
    assert answerer.calls[0][1] == vqa_question(items[0].question)
    assert answerer.calls[0][1].endswith("Answer the question using a single word or phrase.")
    record = read_jsonl(tmp_path / "aqua.jsonl")[0]
    assert (record["dataset"], record["answer"]) == ("aqua", "woman")
    row = score_answers(tmp_path / "aqua.jsonl")["runs"][0]
    # Exact after normalisation: "A woman." and "Two"; the baby is only contained.
    assert (row["correct"], row["n"], row["accuracy"], row["contains_accuracy"]) == (2, 4, 50.0, 75.0)


def test_classify_samples_with_a_seed_and_parses_the_style(tmp_path):
    names = [f"{style}/{i}.png" for style in ("baroque", "realism", "ukiyo_e") for i in range(3)]
    for name in names:
        _images(tmp_path / "test" / name.split("/")[0], [name.split("/")[1]])
    items = [StyleItem(n, f"test/{n}", n.split("/")[0]) for n in names]
    replies = {"baroque": "Baroque.", "realism": "I think it is Romanticism", "ukiyo_e": "no idea"}
    answerer = ScriptedAnswerer(lambda image, question: replies[image.parent.name])
    run_classify(items, answerer, tmp_path / "ab.jsonl", tmp_path, sample=6, seed=3, progress=False)
    assert len(answerer.calls) == 6 and {q for _, q in answerer.calls} == {style_question()}
    seen = [r["style"] for r in read_jsonl(tmp_path / "ab.jsonl")]
    again = ScriptedAnswerer(lambda image, question: replies[image.parent.name])
    run_classify(items, again, tmp_path / "ab2.jsonl", tmp_path, sample=6, seed=3, progress=False)
    assert [r["id"] for r in read_jsonl(tmp_path / "ab2.jsonl")] == [r["id"] for r in read_jsonl(tmp_path / "ab.jsonl")]
    row = score_answers(tmp_path / "ab.jsonl")["runs"][0]
    expected = 100 * seen.count("baroque") / 6
    assert row["accuracy"] == pytest.approx(round(expected, 2))
    assert row["unparsed"] == seen.count("ukiyo_e")
    assert row["dataset"] == "artbench"


def test_the_style_prompt_lists_every_option():
    question = style_question()
    for name in ("Art Nouveau", "Post-Impressionism", "Ukiyo-e", "Surrealism"):
        assert name in question
    assert json.dumps(question)


def test_one_model_with_two_settings_gives_two_labelled_rows(tmp_path):
    from rich.console import Console

    from critic.evaluation.report import render

    images = _images(tmp_path / "img", ["a.png"])
    items = _items(["a.png"])
    out = tmp_path / "o.jsonl"
    for temperature in (0.0, 0.8):
        answerer = ScriptedAnswerer({"a.png": "A calm blue field."},
                                    settings={"max_tokens": 64, "temperature": temperature, "seed": 0})
        generate(items, answerer, out, images, progress=False)
    report = score_generation(out, items, meteor="stem")
    assert len(report["runs"]) == 2
    console = Console(record=True, width=160)
    render([report], console)
    rows = [line for line in console.export_text().splitlines() if "scripted (Q4_K_M) #" in line]
    assert len(rows) == 2 and rows[0] != rows[1]


def test_a_run_where_everything_failed_has_nothing_to_score(tmp_path):
    from critic.core.errors import BadData

    out = tmp_path / "o.jsonl"
    generate(_items(["a.png"]), ScriptedAnswerer({}), out, tmp_path, progress=False)
    with pytest.raises(BadData, match="all 1 item"):
        score_generation(out, _items(["a.png"]), meteor="stem")
