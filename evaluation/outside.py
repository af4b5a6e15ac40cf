"""Answers critic did not write (the authors' PyTorch GalleryGPT, another model), scored beside its runs.

A plain JSONL file holds one JSON object per line: ``{"image": NAME, "text": ANSWER}`` or
``{"id": ID, "text": ANSWER}`` (``"id"`` wins when both are there; other fields are ignored).
`critic eval score` names the file's row with ``--label`` and matches each line to one reference:

- Table 1 (``--refs test.json``): ``id`` is the LLaVA entry's ``"id"`` or the image name; ``image``
  is the image as test.json names it, or its file name alone when that names one painting.
- AQUA / ArtQuest (``--data``): ``id`` is the question's id as `critic eval vqa` records it (its
  position in AQUA's file, ArtQuest's ``question_id``/``id`` column or row number); ``image`` is
  enough when the painting has one question, else add ``"question"`` (as asked, with or without
  the short-answer instruction).
- ArtBench-10 (``--data`` a folder): ``id`` is ``style/file``; ``image`` the path under the folder,
  or the file name when it is unique.

A line that is not such an object, that matches no reference, or that answers an item a
previous line answered stops scoring with one line naming the file and the line: a
comparison silently scored on part of a file is worse than none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from critic.core.errors import BadData
from critic.core.images import file_sha256
from critic.core.store import jsonl_objects
from critic.evaluation.readers import AnalysisItem, QAItem, StyleItem

Item = AnalysisItem | QAItem | StyleItem


@dataclass(frozen=True)
class OutsideAnswer:
    """One line of a plain answers file."""

    line: int
    id: str | None
    image: str | None
    question: str | None
    text: str

    @property
    def named(self) -> str:
        """How the line names its item, for messages."""
        return f"id '{self.id}'" if self.id is not None else f"image '{self.image}'"


def is_critic_output(record: dict[str, Any]) -> bool:
    """Whether a record was written by `critic eval generate|vqa|classify`."""
    return record.get("task") in ("generate", "vqa", "classify") and "run_key" in record


def read_answers(path: Path) -> list[OutsideAnswer]:
    """Every line of a plain answers file, or BadData naming the first bad line."""
    path = Path(path)
    answers = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BadData(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise BadData(f"{path}: not UTF-8 text") from None
    expected = 'expected {"image" or "id", "text": ANSWER} with "text" a string'
    for n, record in jsonl_objects(lines, path, expected):
        if not isinstance(record.get("text"), str):
            raise BadData(f"{path} line {n}: {expected}")
        key, image = record.get("id"), record.get("image")
        if key is None and not isinstance(image, str):
            raise BadData(f'{path} line {n}: no "id" or "image" to match it to a reference')
        question = record.get("question")
        answers.append(OutsideAnswer(n, None if key is None else str(key), image if isinstance(image, str) else None,
                                     question if isinstance(question, str) else None, record["text"]))
    if not answers:
        raise BadData(f"{path}: no answers in it")
    return answers


def _norm(text: str) -> str:
    return " ".join(text.split())


class _Index:
    """Items findable by id (and LLaVA ids), exact image, and bare file name."""

    def __init__(self, items: Sequence[Item]) -> None:
        self.by_id: dict[str, Item] = {}
        self.by_image: dict[str, list[Item]] = {}
        self.by_name: dict[str, list[Item]] = {}
        for item in items:
            self.by_id.setdefault(item.id, item)
            for alias in getattr(item, "aliases", ()):
                self.by_id.setdefault(alias, item)
            self.by_image.setdefault(item.image, []).append(item)
            self.by_name.setdefault(PurePosixPath(item.image).name, []).append(item)

    def find(self, answer: OutsideAnswer) -> tuple[Item | None, str]:
        """The item `answer` names, or None and why not."""
        if answer.id is not None:
            item = self.by_id.get(answer.id)
            return (item, "") if item else (None, "matches no reference")
        image = answer.image or ""
        found = self.by_image.get(image) or self.by_image.get(image.removeprefix("./")) or self.by_name.get(
            PurePosixPath(image).name, [])
        if answer.question is not None and found and isinstance(found[0], QAItem):
            from critic.evaluation.runner import vqa_question

            asked = _norm(answer.question)
            found = [i for i in found if asked in (_norm(i.question), _norm(vqa_question(i.question)))]
            if not found:
                return None, "with that question matches no reference"
        if not found:
            return None, "matches no reference"
        if len({i.id for i in found}) > 1:
            what = "questions" if isinstance(found[0], QAItem) else "references"
            return None, (f"names {len(found)} {what}: give \"id\""
                          + (' (or "question")' if what == "questions" else ""))
        return found[0], ""


def match(answers: Sequence[OutsideAnswer], items: Sequence[Item], path: Path, refs: Path) -> list[tuple[Item, str]]:
    """Each answer's item, with its text; BadData for the first line that matches none or repeats one."""
    index = _Index(items)
    seen: dict[str, int] = {}
    unmatched: list[str] = []
    matched = []
    for answer in answers:
        item, why = index.find(answer)
        if item is None:
            unmatched.append(f"line {answer.line}, {answer.named}, {why}")
            continue
        if item.id in seen:
            raise BadData(f"{path} line {answer.line}: {answer.named} answers the same item as line {seen[item.id]}")
        seen[item.id] = answer.line
        matched.append((item, answer.text))
    if unmatched:
        more = f" (and {len(unmatched) - 1} more)" if len(unmatched) > 1 else ""
        raise BadData(f"{path}: {unmatched[0]} in {refs}{more}: is this the right --refs/--data, "
                      "and do the names match its images?")
    return matched


def as_records(path: Path, label: str, matched: Sequence[tuple[Item, str]], dataset: str | None) -> list[dict]:
    """Matched answers as output records of one run named `label`, for the scoring of critic's own."""
    path = Path(path)
    key = "outside-" + hashlib.sha256(f"{label}\0{file_sha256(path)}".encode()).hexdigest()[:10]
    model = {"name": label, "source": "outside answers", "file": str(path)}
    records = []
    for item, text in matched:
        record: dict[str, Any] = {"id": item.id, "image": item.image, "status": "ok", "text": text,
                                  "run_key": key, "model": model, "settings": {}}
        if isinstance(item, AnalysisItem):
            record["task"] = "generate"
        elif isinstance(item, QAItem):
            record.update(task="vqa", dataset=dataset, answer=item.answer, question=item.question)
        else:
            record.update(task="classify", dataset="artbench", style=item.style)
        records.append(record)
    return records
