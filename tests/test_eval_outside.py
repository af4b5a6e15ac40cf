"""`critic eval score` on answers critic did not write: plain JSONL beside critic's own runs.

critic's own rows come from the runner with a scripted answerer (the engine is tested
elsewhere); the outside rows are files written by hand, as a researcher's script would.
Expected scores come from the metric functions on the pairs the test itself chose, and
Table 2 accuracies are counted by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from critic.cli import main
from critic.core.perspectives import DEFAULT_QUESTION
from critic.engine import AnswerResult
from critic.evaluation.metrics import score_texts
from critic.evaluation.readers import AnalysisItem, read_aqua
from critic.evaluation.runner import generate, run_vqa

QUESTION = DEFAULT_QUESTION
REFS = {
    "images/a.jpg": "The red sky swirls over the dark hills in thick curving strokes.",
    "images/b.jpg": "Thick strokes of blue and yellow paint build a restless surface.",
    "images/c.jpg": "A pale figure stands at the centre against a flat green ground.",
}


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


class Scripted:
    model = {"name": "gallerygpt", "quantization": "Q4_K_M", "sha256": "0" * 64}
    settings = {"max_tokens": 64, "temperature": 0.0, "seed": 0}

    def __init__(self, replies):
        self.replies = replies

    def answer(self, image_path: Path, question: str) -> AnswerResult:
        return AnswerResult(self.replies(image_path, question))


def llava_test_json(folder: Path) -> Path:
    """A LLaVA-format test set: ids, images under images/, one reference each."""
    entries = [{"id": f"{n:06d}", "image": image,
                "conversations": [{"from": "human", "value": f"<image>\n{QUESTION}"}, {"from": "gpt", "value": ref}]}
               for n, (image, ref) in enumerate(REFS.items(), 1)]
    path = folder / "test.json"
    path.write_text(json.dumps(entries))
    return path


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def own_generate_run(tmp_path: Path) -> Path:
    from PIL import Image

    (tmp_path / "images").mkdir(exist_ok=True)
    for image in REFS:
        Image.new("RGB", (16, 16), (200, 40, 40)).save(tmp_path / image)
    out = tmp_path / "critic.jsonl"
    items = [AnalysisItem(image, image, (ref,)) for image, ref in REFS.items()]
    generate(items, Scripted(lambda path, q: f"A painting with thick strokes, {path.stem}."), out, tmp_path,
             progress=False)
    return out


def test_outside_answers_are_rows_beside_critics_own_in_one_table(tmp_path, capsys):
    data = llava_test_json(tmp_path)
    own = own_generate_run(tmp_path)
    by_image = jsonl(tmp_path / "pytorch.jsonl", [
        {"image": "a.jpg", "text": "The red sky swirls above dark hills in thick strokes."},  # bare file name
        {"image": "images/b.jpg", "text": "Blue and yellow strokes."},
    ])
    by_id = jsonl(tmp_path / "other.jsonl", [
        {"id": "000003", "text": "A figure in the centre on green."},
        {"id": "000001", "text": "Red sky, dark hills.", "extra": "ignored"},
    ])
    report_file = tmp_path / "table1.json"
    assert main(["eval", "score", str(own), str(by_image), str(by_id), "--label", "GalleryGPT (PyTorch)",
                 "--label", "Other model", "--refs", str(data), "--json", str(report_file)]) == 0
    shown = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in shown.splitlines() if line.startswith("│")}
    assert {"gallerygpt (Q4_K_M)", "GalleryGPT (PyTorch)", "Other model"} <= set(rows)

    report = json.loads(report_file.read_text())
    runs = {run["label"]: run for run in report["runs"]}
    assert report["outputs"] == [str(own), str(by_image), str(by_id)]
    expected = score_texts(["The red sky swirls above dark hills in thick strokes.", "Blue and yellow strokes."],
                           [(REFS["images/a.jpg"],), (REFS["images/b.jpg"],)])
    pytorch = runs["GalleryGPT (PyTorch)"]
    assert (pytorch["n"], pytorch["missing"]) == (2, 1)
    assert pytorch["scores"]["bleu"] == round(expected.bleu, 2)
    assert pytorch["scores"]["rouge_l"] == round(expected.rouge_l, 2)
    assert pytorch["model"]["source"] == "outside answers"
    other = runs["Other model"]
    expected = score_texts(["Red sky, dark hills.", "A figure in the centre on green."],
                           [(REFS["images/a.jpg"],), (REFS["images/c.jpg"],)])
    assert other["n"] == 2 and other["scores"]["meteor"] == round(expected.meteor, 2)
    assert runs["gallerygpt (Q4_K_M)"]["n"] == 3
    assert "GalleryGPT (PyTorch): 1 painting(s) of the references have no output" in shown


@pytest.mark.parametrize("rows, message", [
    ([{"image": "a.jpg", "text": "x"}, {"image": "nope.jpg", "text": "y"}, {"id": "9", "text": "z"}],
     "theirs.jsonl: line 2, image 'nope.jpg', matches no reference in {data} (and 1 more)"),
    ([{"image": "a.jpg", "text": "x"}, {"id": "000001", "text": "y"}],
     "theirs.jsonl line 2: id '000001' answers the same item as line 1"),
    ([{"image": "a.jpg", "text": "x"}, '{"image": "b.jpg", "text": "cut'],
     "theirs.jsonl line 2: not JSON"),
    ([{"image": "a.jpg", "answer": "x"}],
     'theirs.jsonl line 1: expected {"image" or "id", "text": ANSWER} with "text" a string'),
    ([{"text": "x"}], 'theirs.jsonl line 1: no "id" or "image" to match it to a reference'),
])
def test_bad_outside_files_stop_with_one_line_naming_the_line(tmp_path, capsys, rows, message):
    data = llava_test_json(tmp_path)
    theirs = jsonl(tmp_path / "theirs.jsonl", rows)
    assert main(["eval", "score", str(theirs), "--label", "X", "--refs", str(data)]) == 9
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.replace("{data}", str(data)) in err
    assert not (tmp_path / "theirs.scores.json").exists()


def test_labels_and_references_are_asked_for(tmp_path, capsys):
    data = llava_test_json(tmp_path)
    theirs = jsonl(tmp_path / "theirs.jsonl", [{"image": "a.jpg", "text": "x"}])
    assert main(["eval", "score", str(theirs), "--refs", str(data)]) == 2
    assert "0 --label for 1 plain answer file(s)" in capsys.readouterr().err
    assert main(["eval", "score", str(theirs), "--label", "X"]) == 2
    assert "give one of them" in capsys.readouterr().err
    own = own_generate_run(tmp_path)
    assert main(["eval", "score", str(own), "--label", "X", "--refs", str(data)]) == 2
    assert "1 --label for 0 plain answer file(s)" in capsys.readouterr().err


AQUA = [
    {"image": "q.jpg", "question": "who sits on the couch", "answer": "a woman", "need_external_knowledge": False},
    {"image": "q.jpg", "question": "what does she hold", "answer": "a baby", "need_external_knowledge": False},
    {"image": "r.jpg", "question": "how many people stand", "answer": "3", "need_external_knowledge": False},
]


def test_table_2_outside_answers_by_id_and_by_image_with_the_question(tmp_path, capsys):
    from PIL import Image

    data = tmp_path / "test.json"
    data.write_text(json.dumps(AQUA))
    images = tmp_path / "Images"
    images.mkdir()
    for name in ("q.jpg", "r.jpg"):
        Image.new("RGB", (16, 16), (90, 90, 90)).save(images / name)
    own = tmp_path / "aqua.jsonl"
    run_vqa(read_aqua(data), Scripted(lambda path, q: "A woman."), own, images, "aqua", progress=False)
    theirs = jsonl(tmp_path / "theirs.jsonl", [
        {"id": "0", "text": "A woman"},                       # right
        {"image": "q.jpg", "question": "what does she hold", "text": "A book."},   # wrong
        {"image": "r.jpg", "text": "Three."},                 # r.jpg has one question: right
    ])
    out = tmp_path / "table2.json"
    assert main(["eval", "score", str(own), str(theirs), "--label", "PyTorch", "--data", str(data),
                 "--json", str(out)]) == 0
    runs = {run["label"]: run for run in json.loads(out.read_text())["runs"]}
    assert (runs["PyTorch"]["dataset"], runs["PyTorch"]["n"], runs["PyTorch"]["correct"]) == ("aqua", 3, 2)
    assert (runs["gallerygpt (Q4_K_M)"]["n"], runs["gallerygpt (Q4_K_M)"]["correct"]) == (3, 1)
    shown = capsys.readouterr().out
    assert "PyTorch" in shown and "66.67 (n=3)" in shown and "33.33 (n=3)" in shown

    ambiguous = jsonl(tmp_path / "ambiguous.jsonl", [{"image": "q.jpg", "text": "A woman"}])
    assert main(["eval", "score", str(ambiguous), "--label", "X", "--data", str(data)]) == 9
    assert "line 1, image 'q.jpg', names 2 questions: give \"id\" (or \"question\")" in capsys.readouterr().err


def test_artbench_outside_answers_by_file_name(tmp_path):
    from PIL import Image

    root = tmp_path / "ArtBench-10"
    for style, name in (("baroque", "one.jpg"), ("ukiyo_e", "two.jpg")):
        (root / "test" / style).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / "test" / style / name)
    theirs = jsonl(tmp_path / "theirs.jsonl", [{"image": "one.jpg", "text": "Baroque."},
                                               {"id": "ukiyo_e/two.jpg", "text": "Impressionism"}])
    out = tmp_path / "t2.json"
    assert main(["eval", "score", str(theirs), "--label", "X", "--data", str(root), "--json", str(out)]) == 0
    run = json.loads(out.read_text())["runs"][0]
    assert (run["dataset"], run["n"], run["correct"], run["accuracy"]) == ("artbench", 2, 1, 50.0)
