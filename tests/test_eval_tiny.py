"""`critic eval` on the real engine: the tiny reference model through llama.cpp.

The numbers are meaningless (random weights); what is real is every step between the
command line and the report: model lookup, image loading, llama.cpp, records, resume.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from critic.cli import main  # noqa: E402
from critic.core.store import read_jsonl  # noqa: E402


@pytest.fixture
def tiny(installed_model) -> str:
    """The tiny model registered in this test's data directory; its name."""
    return installed_model.name


def tiny_gguf_files(name: str) -> list[Path]:
    """The GGUF files of the installed model `name`."""
    from critic.core.paths import models_dir

    return sorted((models_dir() / name).glob("*.gguf"))


def _paintings(folder: Path, count: int) -> list[str]:
    """`count` generated stand-in paintings (tests/painted.py) as JPEG files; their names."""
    from painted import PICTURES

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for key in list(PICTURES)[:count]:
        names.append(f"{key}.jpg")
        PICTURES[key]().save(folder / names[-1], quality=90)
    return names


def test_generate_resume_and_score_on_the_tiny_model(tmp_path, tiny, capsys):
    images = tmp_path / "paintings"
    names = _paintings(images, 2)
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    refs = tmp_path / "test.json"
    refs.write_text(json.dumps(
        [{"image": n, "references": ["Deep blue curves sweep across the surface."]} for n in names + ["broken.jpg"]]
    ), encoding="utf-8")
    out = tmp_path / "outputs.jsonl"
    args = ["eval", "generate", "--data", str(refs), "--images", str(images), "--model", tiny, "--out", str(out),
            "--max-tokens", "12", "--no-progress"]
    assert main(args) == 0
    records = read_jsonl(out)
    assert [r["status"] for r in records] == ["ok", "ok", "error"]
    first = records[0]
    from critic.core.images import file_sha256

    llm = next(p for p in tiny_gguf_files(tiny) if "mmproj" not in p.name)
    assert first["model"]["name"] == tiny and first["model"]["quantization"]
    assert first["model"]["sha256"] == file_sha256(llm)
    assert first["settings"]["max_tokens"] == 12 and first["timings"]["generated_tokens"] <= 12
    assert records[2]["error_type"] == "BadImage"

    capsys.readouterr()
    assert main(args) == 0
    assert "0 answered, 2 already done" in capsys.readouterr().err.replace("\n", " ")
    assert len(read_jsonl(out)) == 4  # only the broken painting was tried again

    assert main(["eval", "score", str(out), "--refs", str(refs)]) == 0
    row = json.loads((tmp_path / "outputs.scores.json").read_text())["runs"][0]
    assert row["label"].startswith(f"{tiny} (") and row["n"] == 2 and row["errors"] == 1
    assert all(0.0 <= v <= 100.0 for v in row["scores"].values())


def test_vqa_and_classify_on_the_tiny_model(tmp_path, tiny, capsys):
    images = tmp_path / "Images"
    names = _paintings(images, 2)
    aqua = tmp_path / "test.json"
    aqua.write_text(json.dumps([
        {"image": names[0], "question": "what is in the sky", "answer": "stars", "need_external_knowledge": False},
        {"image": names[1], "question": "what colour dominates", "answer": "blue", "need_external_knowledge": False},
    ]), encoding="utf-8")
    assert main(["eval", "vqa", "--data", str(aqua), "--images", str(images), "--model", tiny,
                 "--out", str(tmp_path / "aqua.jsonl"), "--max-tokens", "6", "--no-progress"]) == 0
    row = json.loads((tmp_path / "aqua.scores.json").read_text())["runs"][0]
    assert (row["dataset"], row["n"], row["errors"]) == ("aqua", 2, 0)

    root = tmp_path / "ArtBench-10"
    for style, name in zip(("baroque", "ukiyo_e"), names):
        (root / "test" / style).mkdir(parents=True)
        shutil.copy(images / name, root / "test" / style / name)
    assert main(["eval", "classify", "--data", str(root), "--model", tiny, "--out", str(tmp_path / "ab.jsonl"),
                 "--max-tokens", "6", "--no-progress"]) == 0
    row = json.loads((tmp_path / "ab.scores.json").read_text())["runs"][0]
    assert (row["dataset"], row["n"]) == ("artbench", 2)
    assert 0.0 <= row["accuracy"] <= 100.0
    assert "Table 2" in capsys.readouterr().out
