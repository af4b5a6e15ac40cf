"""Readers for the evaluation data, each in the format its authors publish.

- Table 1 references: the project's LLaVA-format test.json (annotate/ writes it), or a
  plain list of ``{"image", "references": [...]}`` (critic/data/sample_refs.json).
- AQUA (Garcia et al., 2020): ``train.json``/``val.json``/``test.json``, each a JSON list of
  ``{"image", "question", "answer", "need_external_knowledge"}``; images are SemArt's.
- ArtQuest (Bleidt et al., WACV 2024): ``artquest_{train,val,test}.csv`` with at least
  ``image, question, answer`` and a ``question_type`` column (artist, school, timeframe,
  type, technique, title); ArtQuest-Type is the ``type`` rows. Images are SemArt's.
- ArtBench-10 (Liao et al., 2022): the image-folder release (``<root>/{train,test}/<style>/``
  files, or the same under ``artbench-10-imagefolder-split/``), optionally with the
  metadata ``ArtBench-10.csv`` (``name, artist, url, is_public_domain, length, width,
  label, split, cifar_index``; some copies name the style column ``style``).

Every reader checks the fields it needs and raises `BadData` naming the file and the fix.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.core.errors import BadData
from critic.core.images import IMAGE_SUFFIXES
from critic.core.perspectives import DEFAULT_QUESTION

ARTBENCH_STYLES: dict[str, str] = {
    "art_nouveau": "Art Nouveau",
    "baroque": "Baroque",
    "expressionism": "Expressionism",
    "impressionism": "Impressionism",
    "post_impressionism": "Post-Impressionism",
    "realism": "Realism",
    "renaissance": "Renaissance",
    "romanticism": "Romanticism",
    "surrealism": "Surrealism",
    "ukiyo_e": "Ukiyo-e",
}
"""ArtBench-10's folder names and the names the prompt offers the model."""

ARTQUEST_TYPES = ("artist", "school", "timeframe", "type", "technique", "title")


@dataclass(frozen=True)
class AnalysisItem:
    """One test painting of Table 1 and its reference analyses."""

    id: str
    image: str
    references: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    """The test set's own ids for this painting (LLaVA entries' "id"), which outside answers may use."""


@dataclass(frozen=True)
class QAItem:
    """One open-ended question about a painting, with its ground-truth answer."""

    id: str
    image: str
    question: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StyleItem:
    """One ArtBench painting and its style (a key of ARTBENCH_STYLES)."""

    id: str
    image: str
    style: str


def _load_json(path: Path) -> Any:
    """Parse a JSON file, or BadData with the line of the error."""
    path = Path(path)
    if not path.is_file():
        raise BadData(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BadData(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise BadData(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None


def _strip_image_tag(text: str) -> str:
    """A human turn without LLaVA's `<image>` marker."""
    return " ".join(text.replace("<image>", " ").split())


def read_analysis_refs(path: Path, question: str = DEFAULT_QUESTION) -> list[AnalysisItem]:
    """Table 1's paintings and references, one item per image in order of first appearance.

    In LLaVA format the references of a painting are the replies to `question` in every
    conversation about that image (the paper's test set has one from GPT-4 and one from
    Gemini); replies to other questions (single perspectives) are not references.
    """
    data = _load_json(path)
    if not isinstance(data, list):
        raise BadData(f"{path}: expected a JSON list of paintings")
    wanted = _strip_image_tag(question)
    refs: dict[str, list[str]] = {}
    ids: dict[str, list[str]] = {}
    for n, record in enumerate(data):
        if not isinstance(record, dict) or not isinstance(record.get("image"), str):
            raise BadData(f"{path}: entry {n} has no 'image' file name")
        image = record["image"]
        found = refs.setdefault(image, [])
        if record.get("id") is not None:
            ids.setdefault(image, []).append(str(record["id"]))
        if "references" in record:
            texts = record["references"]
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise BadData(f"{path}: entry {n}: 'references' must be a list of strings")
            found += [t.strip() for t in texts if t.strip()]
        elif "conversations" in record:
            turns = record["conversations"]
            if not isinstance(turns, list):
                raise BadData(f"{path}: entry {n}: 'conversations' must be a list")
            for asked, replied in zip(turns, turns[1:]):
                if (
                    isinstance(asked, dict) and isinstance(replied, dict)
                    and asked.get("from") == "human" and replied.get("from") == "gpt"
                    and _strip_image_tag(str(asked.get("value", ""))) == wanted
                    and str(replied.get("value", "")).strip()
                ):
                    found.append(str(replied["value"]).strip())
        else:
            raise BadData(f"{path}: entry {n} has neither 'references' nor 'conversations'")
    items = [AnalysisItem(image, image, tuple(texts), tuple(ids.get(image, ()))) for image, texts in refs.items()
             if texts]
    if not items:
        raise BadData(
            f"{path}: no reference analyses answer the question \"{wanted}\": "
            "is this the test set, and was it made with the same question?"
        )
    return items


def read_aqua(path: Path) -> list[QAItem]:
    """AQUA's JSON list of QA pairs; the id is the position in the file."""
    data = _load_json(path)
    if not isinstance(data, list):
        raise BadData(f"{path}: expected AQUA's JSON list of question-answer pairs")
    items = []
    for n, record in enumerate(data):
        missing = [k for k in ("image", "question", "answer") if not isinstance(record, dict) or k not in record]
        if missing:
            raise BadData(f"{path}: entry {n} lacks {', '.join(missing)}: is this an AQUA file?")
        meta = {"need_external_knowledge": bool(record.get("need_external_knowledge", False))}
        items.append(QAItem(str(n), str(record["image"]), str(record["question"]), str(record["answer"]), meta))
    return items


def read_artquest(path: Path, question_type: str | None = None) -> list[QAItem]:
    """ArtQuest's CSV; with `question_type` only those rows (``"type"`` gives ArtQuest-Type)."""
    path = Path(path)
    if not path.is_file():
        raise BadData(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            rows = list(reader)
    except UnicodeDecodeError:
        raise BadData(f"{path}: not UTF-8 text") from None
    except csv.Error as err:
        raise BadData(f"{path}: not a readable CSV ({err})") from None
    missing = {"image", "question", "answer"} - columns
    if missing:
        raise BadData(f"{path}: CSV lacks column(s) {', '.join(sorted(missing))}: is this an ArtQuest file?")
    if question_type is not None and "question_type" not in columns:
        raise BadData(f"{path}: no 'question_type' column, so the '{question_type}' questions cannot be picked")
    id_column = next((c for c in ("question_id", "id") if c in columns), None)
    items = []
    for n, row in enumerate(rows):
        kind = (row.get("question_type") or "").strip()
        if question_type is not None and kind != question_type:
            continue
        item_id = row[id_column] if id_column and row.get(id_column) else str(n)
        items.append(QAItem(item_id, row["image"], row["question"], row["answer"], {"question_type": kind}))
    if not items:
        raise BadData(f"{path}: no questions" + (f" of type '{question_type}'" if question_type else ""))
    return items


def _style_key(name: str) -> str:
    """ArtBench's folder-style key for a style written any way."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _artbench_image_root(root: Path) -> Path:
    """The folder that holds ``train/`` and ``test/``."""
    for candidate in (root, root / "artbench-10-imagefolder-split"):
        if (candidate / "test").is_dir() or (candidate / "train").is_dir():
            return candidate
    return root


def read_artbench(root: Path, split: str = "test") -> list[StyleItem]:
    """ArtBench-10 paintings of one split, sorted by path; images relative to `root`."""
    root = Path(root)
    if not root.is_dir():
        raise BadData(f"{root}: no such folder (expected ArtBench-10's image folders)")
    images = _artbench_image_root(root)
    metadata = root / "ArtBench-10.csv"
    items: list[StyleItem] = []
    if metadata.is_file():
        with open(metadata, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            style_column = "label" if "label" in columns else "style" if "style" in columns else None
            if style_column is None or not {"name", "split"} <= columns:
                raise BadData(f"{metadata}: expected columns name, label (or style) and split")
            for row in reader:
                if row["split"].strip() != split:
                    continue
                style = _style_key(row[style_column])
                if style not in ARTBENCH_STYLES:
                    raise BadData(f"{metadata}: unknown style '{row[style_column]}'")
                rel = (images / split / style / row["name"]).relative_to(root)
                items.append(StyleItem(f"{style}/{row['name']}", str(rel), style))
        items.sort(key=lambda item: item.id)
    else:
        base = images / split
        if not base.is_dir():
            raise BadData(f"{root}: no '{split}' folder: expected {split}/<style>/<image> as ArtBench-10 ships")
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            style = _style_key(folder.name)
            if style not in ARTBENCH_STYLES:
                raise BadData(f"{folder}: not one of ArtBench-10's styles ({', '.join(ARTBENCH_STYLES)})")
            for image in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                items.append(StyleItem(f"{style}/{image.name}", str(image.relative_to(root)), style))
    if not items:
        raise BadData(f"{root}: no ArtBench-10 paintings in the '{split}' split")
    return items
