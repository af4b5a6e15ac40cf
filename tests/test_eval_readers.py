"""Each dataset reader on a small file in that dataset's published format, and on bad ones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from critic.core.errors import BadData
from critic.core.perspectives import DEFAULT_QUESTION, PERSPECTIVES
from critic.evaluation.readers import (
    ARTBENCH_STYLES,
    read_analysis_refs,
    read_aqua,
    read_artbench,
    read_artquest,
)

SAMPLE_REFS = Path(__file__).resolve().parents[1] / "critic" / "data" / "sample_refs.json"


def _write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _conversation(image: str, question: str, answer: str, n: int) -> dict:
    return {
        "id": f"{image}-{n}",
        "image": image,
        "conversations": [
            {"from": "human", "value": f"<image>\n{question}"},
            {"from": "gpt", "value": answer},
        ],
    }


def test_llava_test_set_references_are_the_replies_to_the_papers_question(tmp_path):
    aspect = PERSPECTIVES[0].question
    data = [
        _conversation("a.jpg", DEFAULT_QUESTION, "GPT-4's analysis of a.", 0),
        _conversation("a.jpg", aspect, "Only composition of a.", 1),
        _conversation("b.jpg", DEFAULT_QUESTION, "An analysis of b.", 2),
        _conversation("a.jpg", DEFAULT_QUESTION, "Gemini's analysis of a.", 3),
    ]
    items = read_analysis_refs(_write_json(tmp_path / "test.json", data))
    assert [(i.id, i.image) for i in items] == [("a.jpg", "a.jpg"), ("b.jpg", "b.jpg")]
    assert items[0].references == ("GPT-4's analysis of a.", "Gemini's analysis of a.")
    assert items[1].references == ("An analysis of b.",)


def test_multi_turn_conversations_count_only_the_matching_turn(tmp_path):
    record = {
        "image": "c.jpg",
        "conversations": [
            {"from": "human", "value": f"<image>\n{PERSPECTIVES[1].question}"},
            {"from": "gpt", "value": "Colour only."},
            {"from": "human", "value": DEFAULT_QUESTION},
            {"from": "gpt", "value": "The overall analysis."},
        ],
    }
    items = read_analysis_refs(_write_json(tmp_path / "t.json", [record]))
    assert items[0].references == ("The overall analysis.",)


def test_plain_reference_lists(tmp_path):
    data = [{"image": "x.png", "references": ["one", "two"]}, {"image": "y.png", "references": ["three"]}]
    items = read_analysis_refs(_write_json(tmp_path / "refs.json", data))
    assert [i.references for i in items] == [("one", "two"), ("three",)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"image": "a.jpg"}', "JSON list"),
        ('[{"references": ["x"]}]', "no 'image'"),
        ('[{"image": "a.jpg", "text": "x"}]', "neither"),
        ('[{"image": "a.jpg", "references": "x"}]', "list of strings"),
    ],
)
def test_bad_reference_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadData, match=message):
        read_analysis_refs(path)


def test_a_test_set_without_the_question_is_refused(tmp_path):
    data = [_conversation("a.jpg", "Describe the painting.", "Something.", 0)]
    with pytest.raises(BadData, match="same question"):
        read_analysis_refs(_write_json(tmp_path / "test.json", data))


def test_missing_file(tmp_path):
    with pytest.raises(BadData, match="no such file"):
        read_analysis_refs(tmp_path / "absent.json")


def test_aqua(tmp_path):
    data = [
        {"image": "29281-213muril.jpg", "question": "who sit on a couch holding a baby",
         "answer": "woman", "need_external_knowledge": False},
        {"image": "23361-01lucret.jpg", "question": "who was portrayed as a symbol of purity",
         "answer": "Lucretia", "need_external_knowledge": True},
    ]
    items = read_aqua(_write_json(tmp_path / "test.json", data))
    assert [(i.id, i.image, i.answer) for i in items] == [
        ("0", "29281-213muril.jpg", "woman"), ("1", "23361-01lucret.jpg", "Lucretia"),
    ]
    assert items[1].meta == {"need_external_knowledge": True}
    with pytest.raises(BadData, match="lacks answer"):
        read_aqua(_write_json(tmp_path / "bad.json", [{"image": "a.jpg", "question": "q"}]))


def _artquest_csv(path: Path) -> Path:
    rows = [
        {"image": "00001-a.jpg", "question": "Who painted this?", "answer": "Giotto", "question_type": "artist"},
        {"image": "00001-a.jpg", "question": "What type of artwork is this?", "answer": "religious",
         "question_type": "type"},
        {"image": "00002-b.jpg", "question": "What is the type of this work?", "answer": "portrait",
         "question_type": "type"},
        {"image": "00002-b.jpg", "question": "When was this made?", "answer": "1601-1650",
         "question_type": "timeframe"},
    ]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "question", "answer", "question_type"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_artquest_and_its_type_subset(tmp_path):
    path = _artquest_csv(tmp_path / "artquest_test.csv")
    everything = read_artquest(path)
    assert [i.id for i in everything] == ["0", "1", "2", "3"]
    types = read_artquest(path, "type")
    assert [(i.id, i.answer) for i in types] == [("1", "religious"), ("2", "portrait")]
    assert types[0].meta == {"question_type": "type"}


def test_artquest_bad_files(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("picture,question,answer\na.jpg,q,a\n", encoding="utf-8")
    with pytest.raises(BadData, match="lacks column"):
        read_artquest(path)
    path.write_text("image,question,answer\na.jpg,q,a\n", encoding="utf-8")
    assert len(read_artquest(path)) == 1
    with pytest.raises(BadData, match="question_type"):
        read_artquest(path, "type")


def _image(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (120, 30, 200)).save(path)


def test_artbench_image_folders(tmp_path):
    for split, style, name in [
        ("test", "baroque", "b1.jpg"), ("test", "ukiyo_e", "u1.jpg"), ("test", "baroque", "b0.jpg"),
        ("train", "realism", "r1.jpg"),
    ]:
        _image(tmp_path / "artbench-10-imagefolder-split" / split / style / name)
    items = read_artbench(tmp_path)
    assert [(i.id, i.style) for i in items] == [
        ("baroque/b0.jpg", "baroque"), ("baroque/b1.jpg", "baroque"), ("ukiyo_e/u1.jpg", "ukiyo_e"),
    ]
    assert (tmp_path / items[0].image).is_file()
    assert [i.style for i in read_artbench(tmp_path, "train")] == ["realism"]


def test_artbench_metadata_csv(tmp_path):
    _image(tmp_path / "test" / "post_impressionism" / "p.jpg")
    _image(tmp_path / "test" / "art_nouveau" / "n.jpg")
    header = "name,artist,url,is_public_domain,length,width,label,split,cifar_index\n"
    (tmp_path / "ArtBench-10.csv").write_text(
        header
        + "p.jpg,someone,http://x/p.jpg,True,10,10,post_impressionism,test,0\n"
        + "n.jpg,someone,http://x/n.jpg,True,10,10,art_nouveau,test,1\n"
        + "t.jpg,someone,http://x/t.jpg,True,10,10,baroque,train,0\n",
        encoding="utf-8",
    )
    items = read_artbench(tmp_path)
    assert [(i.id, i.image, i.style) for i in items] == [
        ("art_nouveau/n.jpg", "test/art_nouveau/n.jpg", "art_nouveau"),
        ("post_impressionism/p.jpg", "test/post_impressionism/p.jpg", "post_impressionism"),
    ]


def test_artbench_bad_layouts(tmp_path):
    with pytest.raises(BadData, match="no such folder"):
        read_artbench(tmp_path / "absent")
    with pytest.raises(BadData, match="no 'test' folder"):
        read_artbench(tmp_path)
    _image(tmp_path / "test" / "cubism" / "c.jpg")
    with pytest.raises(BadData, match="not one of ArtBench-10's styles"):
        read_artbench(tmp_path)


def test_artbench_has_ten_styles():
    assert len(ARTBENCH_STYLES) == 10


def test_sample_references_are_formal_and_anonymous():
    items = read_analysis_refs(SAMPLE_REFS)
    assert len(items) == 4 and all(len(i.references) == 2 for i in items)
    names = ("van gogh", "munch", "hokusai", "matisse", "starry night", "scream", "kanagawa", "fuji")
    for item in items:
        for text in item.references:
            assert not any(name in text.lower() for name in names), item.image
            assert len(text.split()) > 100
    assert len({item.image for item in items}) == 4  # each pair of references is about its own painting
