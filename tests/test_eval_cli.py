"""`critic eval` end to end through the command line, with a scripted model in the engine's place.

The engine is reached only through `critic.engine.answerer_for`; these tests put a scripted
answerer factory in its place so the command line's own plumbing (arguments, settings, files,
reports, tables) runs for real. Scores are checked against the metric functions and
hand-counted accuracies.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from critic.cli import main
from critic.core.images import load_image
from critic.engine import AnswerResult
from critic.evaluation.metrics import score_texts
from critic.evaluation.runner import as_dict

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_REFS = ROOT / "critic" / "data" / "sample_refs.json"


class Scripted:
    """A model that replies from a function of (image path, question)."""

    def __init__(self, reply, model, settings):
        self.reply = reply
        self.model = model
        self.settings = settings
        self.calls = []

    def answer(self, image_path: Path, question: str) -> AnswerResult:
        load_image(image_path)
        self.calls.append((image_path.name, question))
        return AnswerResult(self.reply(image_path, question), {"total_ms": 2.0})


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """Tables laid out on 160 columns, so a row is one line."""
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture
def engine(monkeypatch):
    """Make `critic.engine.answerer_for` return scripted answerers that reply with `engine.reply`."""
    module = types.SimpleNamespace()
    module.reply = lambda image, question: "A blue field."
    module.made = []

    def answerer_for(model=None, server=None, settings=None, hardware=None):
        name = model or "served"
        answerer = Scripted(lambda i, q: module.reply(i, q),
                            {"name": name, "quantization": "Q4_K_M", "sha256": "f" * 64, "server": server},
                            as_dict(settings))
        module.made.append({"model": model, "server": server, "settings": settings, "hardware": hardware,
                            "answerer": answerer})
        return answerer

    monkeypatch.setattr("critic.engine.answerer_for", answerer_for)
    return module


def _images(folder: Path, names) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (16, 16), (40 * i % 255, 90, 160)).save(folder / name)
    return folder


REFS = [
    {"image": "a.png", "references": ["The red sky swirls over the dark hills.", "A red sky swirls above dark hills."]},
    {"image": "b.png", "references": ["Thick strokes of blue and yellow paint."]},
]
HYPS = {"a.png": "The red sky swirls above the dark hills.", "b.png": "Thick strokes of blue paint!"}


def test_generate_then_score_prints_and_saves_table_1(tmp_path, engine, capsys):
    refs = tmp_path / "test.json"
    refs.write_text(json.dumps(REFS), encoding="utf-8")
    _images(tmp_path, ["a.png", "b.png"])
    engine.reply = lambda image, question: HYPS[image.name]
    out = tmp_path / "outputs.jsonl"
    code = main(["eval", "generate", "--data", str(refs), "--model", "gallerygpt-7b", "--out", str(out),
                 "--max-tokens", "300", "--temperature", "0.2", "--seed", "4", "--no-progress"])
    assert code == 0
    made = engine.made[0]
    assert made["model"] == "gallerygpt-7b" and made["server"] is None
    assert {k: as_dict(made["settings"])[k] for k in ("max_tokens", "temperature", "seed")} == {
        "max_tokens": 300, "temperature": 0.2, "seed": 4}
    assert [c[0] for c in made["answerer"].calls] == ["a.png", "b.png"]
    assert "2 answered" in capsys.readouterr().err

    code = main(["eval", "score", str(out), "--refs", str(refs), "--meteor", "stem"])
    assert code == 0
    shown = capsys.readouterr().out
    assert "GalleryGPT (paper)" in shown and "21.23" in shown
    assert "gallerygpt-7b (Q4_K_M)" in shown and "METEOR (exact+stem)" in shown
    report = json.loads((tmp_path / "outputs.scores.json").read_text())
    expected = score_texts([HYPS["a.png"], HYPS["b.png"]], [r["references"] for r in REFS], meteor="stem")
    row = report["runs"][0]
    assert row["scores"] == {k: round(getattr(expected, k), 2) for k in ("bleu", "gleu", "meteor", "rouge_l")}
    assert row["settings"] == as_dict(made["settings"])
    assert row["model"]["name"] == "gallerygpt-7b" and row["critic_version"]
    assert report["refs_sha256"] and report["outputs_sha256"]
    assert report["implementation"]["meteor"].startswith("nltk")

    assert main(["eval", "report", str(tmp_path / "outputs.scores.json")]) == 0
    assert "Table 1" in capsys.readouterr().out


def test_rerunning_generate_resumes(tmp_path, engine, capsys):
    refs = tmp_path / "test.json"
    refs.write_text(json.dumps(REFS), encoding="utf-8")
    _images(tmp_path, ["a.png", "b.png"])
    args = ["eval", "generate", "--data", str(refs), "--model", "m", "--out", str(tmp_path / "o.jsonl"),
            "--no-progress"]
    assert main(args + ["--limit", "1", "--seed", "0"]) == 0
    assert main(args + ["--seed", "0"]) == 0
    assert len(engine.made[1]["answerer"].calls) == 1
    assert "1 already done" in capsys.readouterr().err


def test_server_is_passed_to_the_engine(tmp_path, engine):
    refs = tmp_path / "test.json"
    refs.write_text(json.dumps(REFS[:1]), encoding="utf-8")
    _images(tmp_path, ["a.png"])
    assert main(["eval", "generate", "--data", str(refs), "--server", "http://127.0.0.1:8080/v1",
                 "--out", str(tmp_path / "o.jsonl"), "--no-progress"]) == 0
    assert engine.made[0]["server"] == "http://127.0.0.1:8080/v1" and engine.made[0]["model"] is None


def test_hardware_flags_reach_the_engine(tmp_path, engine):
    from critic.engine.base import Hardware

    refs = tmp_path / "test.json"
    refs.write_text(json.dumps(REFS[:1]), encoding="utf-8")
    _images(tmp_path, ["a.png"])
    assert main(["eval", "generate", "--data", str(refs), "--model", "m", "--out", str(tmp_path / "o.jsonl"),
                 "--no-progress", "--gpu-layers", "12", "--threads", "3", "--vision-cpu"]) == 0
    assert engine.made[0]["hardware"] == Hardware(threads=3, gpu_layers=12, vision_cpu=True)


def test_model_or_server_is_required(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "generate", "--data", "x.json", "--out", str(tmp_path / "o.jsonl")])
    assert "--model" in capsys.readouterr().err


def test_score_needs_refs_for_generate_outputs(tmp_path, engine, capsys):
    refs = tmp_path / "test.json"
    refs.write_text(json.dumps(REFS), encoding="utf-8")
    _images(tmp_path, ["a.png", "b.png"])
    out = tmp_path / "o.jsonl"
    main(["eval", "generate", "--data", str(refs), "--model", "m", "--out", str(out), "--no-progress"])
    assert main(["eval", "score", str(out)]) == 2
    assert "--refs" in capsys.readouterr().err
    assert main(["eval", "score", str(tmp_path / "absent.jsonl"), "--refs", str(refs)]) == 9


def test_bad_settings_are_refused_before_a_model_loads(tmp_path, engine, capsys):
    refs = tmp_path / "test.json"
    refs.write_text(json.dumps(REFS), encoding="utf-8")
    base = ["eval", "generate", "--data", str(refs), "--model", "m", "--out", str(tmp_path / "o.jsonl")]
    assert main(base + ["--limit", "0"]) == 2
    assert main(base + ["--temperature", "-1"]) == 2
    assert not engine.made


def _aqua(tmp_path: Path) -> Path:
    data = [
        {"image": "q.png", "question": "who sit on a couch holding a baby", "answer": "woman",
         "need_external_knowledge": False},
        {"image": "q.png", "question": "what do a woman hold", "answer": "baby", "need_external_knowledge": False},
        {"image": "r.png", "question": "how many people stand", "answer": "2", "need_external_knowledge": False},
        {"image": "missing.png", "question": "what stand next to a tree", "answer": "animals",
         "need_external_knowledge": False},
    ]
    path = tmp_path / "test.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_vqa_on_aqua_prints_table_2(tmp_path, engine, capsys):
    data = _aqua(tmp_path)
    images = _images(tmp_path / "Images", ["q.png", "r.png"])
    said = {"who sit on a couch holding a baby": "A woman.", "what do a woman hold": "A baby and a book",
            "how many people stand": "three"}
    engine.reply = lambda image, question: said[question.split("\n")[0]]
    out = tmp_path / "aqua.jsonl"
    assert main(["eval", "vqa", "--data", str(data), "--images", str(images), "--model", "m",
                 "--out", str(out), "--no-progress"]) == 0
    assert as_dict(engine.made[0]["settings"])["max_tokens"] == 32
    shown = capsys.readouterr().out
    assert "Table 2" in shown and "24.08" in shown
    report = json.loads((tmp_path / "aqua.scores.json").read_text())
    row = report["runs"][0]
    # 3 answered (one image is missing: an error record), 1 exact ("A woman."), 2 contain the answer.
    assert (row["dataset"], row["n"], row["correct"], row["errors"]) == ("aqua", 3, 1, 1)
    assert row["accuracy"] == pytest.approx(100 / 3, abs=0.01)
    assert row["contains_accuracy"] == pytest.approx(200 / 3, abs=0.01)


def test_vqa_on_artquest_type(tmp_path, engine):
    csv_path = tmp_path / "artquest_test.csv"
    csv_path.write_text(
        "image,question,answer,question_type\n"
        "q.png,Who made this?,Giotto,artist\n"
        "q.png,What type of artwork is this?,religious,type\n"
        "r.png,What type of artwork is this?,portrait,type\n",
        encoding="utf-8",
    )
    images = _images(tmp_path / "Images", ["q.png", "r.png"])
    engine.reply = lambda image, question: "Religious." if image.name == "q.png" else "landscape"
    out = tmp_path / "type.jsonl"
    assert main(["eval", "vqa", "--data", str(csv_path), "--dataset", "artquest-type", "--images", str(images),
                 "--model", "m", "--out", str(out), "--no-progress"]) == 0
    row = json.loads((tmp_path / "type.scores.json").read_text())["runs"][0]
    assert (row["dataset"], row["n"], row["correct"], row["accuracy"]) == ("artquest-type", 2, 1, 50.0)


def test_classify_on_artbench(tmp_path, engine, capsys):
    root = tmp_path / "ArtBench-10"
    for style in ("baroque", "impressionism", "post_impressionism"):
        _images(root / "test" / style, ["1.png", "2.png"])
    engine.reply = lambda image, question: {
        "baroque": "Baroque", "impressionism": "Post-Impressionism", "post_impressionism": "Post-Impressionism",
    }[image.parent.name]
    out = tmp_path / "artbench.jsonl"
    assert main(["eval", "classify", "--data", str(root), "--sample", "0", "--model", "m",
                 "--out", str(out), "--no-progress"]) == 0
    row = json.loads((tmp_path / "artbench.scores.json").read_text())["runs"][0]
    assert (row["n"], row["correct"], row["accuracy"]) == (6, 4, pytest.approx(66.67))
    assert row["per_style"] == {"baroque": 100.0, "impressionism": 0.0, "post_impressionism": 100.0}
    assert row["top_confusions"] == {"impressionism -> post_impressionism": 2}
    assert "ArtBench style" in capsys.readouterr().out


def test_report_merges_table_2_files_and_refuses_other_json(tmp_path, engine, capsys):
    data = _aqua(tmp_path)
    images = _images(tmp_path / "Images", ["q.png", "r.png"])
    main(["eval", "vqa", "--data", str(data), "--images", str(images), "--model", "m",
          "--out", str(tmp_path / "aqua.jsonl"), "--no-progress"])
    root = tmp_path / "ab"
    _images(root / "test" / "realism", ["1.png"])
    main(["eval", "classify", "--data", str(root), "--model", "m", "--out", str(tmp_path / "ab.jsonl"),
          "--no-progress"])
    capsys.readouterr()
    assert main(["eval", "report", str(tmp_path / "aqua.scores.json"), str(tmp_path / "ab.scores.json")]) == 0
    shown = capsys.readouterr().out
    rows = [line for line in shown.splitlines() if "│ m (Q4_K_M)" in line]
    assert len(rows) == 1  # one row, both datasets
    assert "(n=3)" in rows[0] and "(n=1)" in rows[0]
    (tmp_path / "other.json").write_text("{}", encoding="utf-8")
    assert main(["eval", "report", str(tmp_path / "other.json")]) == 9


def test_the_sample_paintings_demo(tmp_path, engine, capsys):
    from painted import PICTURES

    images = tmp_path / "paintings"
    images.mkdir()
    for item, draw in zip(json.loads(SAMPLE_REFS.read_text()), PICTURES.values()):
        draw().save(images / item["image"], quality=90)  # a generated stand-in under the sample's name
    refs = {item["image"]: item["references"] for item in json.loads(SAMPLE_REFS.read_text())}
    # The scripted model answers each painting with the second reference, scored against both.
    engine.reply = lambda image, question: refs[image.name][1]
    out = tmp_path / "sample.jsonl"
    assert main(["eval", "generate", "--data", str(SAMPLE_REFS), "--images", str(images), "--model", "m",
                 "--out", str(out), "--no-progress"]) == 0
    assert main(["eval", "score", str(out), "--refs", str(SAMPLE_REFS)]) == 0
    row = json.loads((tmp_path / "sample.scores.json").read_text())["runs"][0]
    assert row["n"] == 4 and all(value == pytest.approx(100.0, abs=0.5) for value in row["scores"].values())
