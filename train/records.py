"""The LLaVA conversation JSON PaintingForm ships, read and checked before any training starts.

A record is ``{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}, ...]}``.
As in LLaVA, ``<image>`` is taken out of the human turn that holds it and the picture goes
at the start of the first turn. Image paths resolve inside the image root only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from critic.core.errors import BadData, BadImage
from critic.core.prompt import IMAGE_TOKEN, Turn

ROLES = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt"}
REPORT_EXAMPLES = 20


@dataclass(frozen=True)
class Record:
    """One conversation about one image."""

    index: int
    id: str
    image: str
    turns: tuple[Turn, ...]


def _turns(conversations: object, where: str) -> tuple[Turn, ...]:
    if not isinstance(conversations, list) or not conversations:
        raise BadData(f"{where}: 'conversations' must be a non-empty list")
    roles, texts = [], []
    for message in conversations:
        if not isinstance(message, dict) or not isinstance(message.get("value"), str):
            raise BadData(f"{where}: each message needs 'from' and a string 'value'")
        role = ROLES.get(str(message.get("from", "")).lower())
        if role is None:
            raise BadData(f"{where}: unknown speaker '{message.get('from')}' (expected human or gpt)")
        roles.append(role)
        texts.append(message["value"])
    expected = ["human", "gpt"] * (len(roles) // 2)
    if roles != expected or len(roles) % 2:
        raise BadData(f"{where}: turns must alternate human, gpt, ... and end with gpt")
    turns = []
    for question, answer in zip(texts[::2], texts[1::2]):
        question = question.replace(IMAGE_TOKEN, "").strip()
        if not question or not answer.strip():
            raise BadData(f"{where}: an empty question or answer")
        turns.append(Turn(question, answer.strip()))
    return tuple(turns)


def read_records(path: str | Path) -> list[Record]:
    """Every record of a LLaVA conversation JSON; BadData names the first malformed one."""
    path = Path(path)
    if not path.is_file():
        raise BadData(f"{path}: no such data file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadData(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, list):
        raise BadData(f"{path}: expected a JSON list of records (LLaVA conversation format)")
    records = []
    for i, item in enumerate(data):
        where = f"{path}: record #{i}"
        if not isinstance(item, dict):
            raise BadData(f"{where}: not an object")
        rid = str(item.get("id", i))
        where = f"{path}: record #{i} (id {rid})"
        image = item.get("image")
        if not isinstance(image, str) or not image:
            raise BadData(f"{where}: no 'image' (every GalleryGPT sample is about a painting)")
        records.append(Record(i, rid, image, _turns(item.get("conversations"), where)))
    if not records:
        raise BadData(f"{path}: the data file holds no records")
    return records


def resolve_image(root: Path, relative: str, where: str = "") -> Path:
    """`relative` inside `root`; a path that leaves the root (.., absolute, symlink) is BadData."""
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise BadData(f"{where or relative}: image path '{relative}' leaves the image root {root}")
    return path


@dataclass
class ScanReport:
    """What the image scan found; saved as data-report.json beside the output."""

    records: int = 0
    usable: int = 0
    missing: int = 0
    unreadable: int = 0
    missing_examples: list[dict] = field(default_factory=list)
    unreadable_examples: list[dict] = field(default_factory=list)
    truncated: int = 0
    no_answer_left: int = 0
    truncated_examples: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the console."""
        return (f"{self.usable} of {self.records} samples used; {self.missing} missing images, "
                f"{self.unreadable} unreadable, {self.truncated} truncated to max_length "
                f"({self.no_answer_left} of them dropped: no answer left)")


def _readable(path: Path) -> str | None:
    """None if Pillow can identify the image, else the reason (the header only: a full decode waits for training)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.size  # noqa: B018 - reading the header is the check
    except UnidentifiedImageError:
        return "not an image Pillow can read"
    except (OSError, SyntaxError, ValueError) as err:
        return f"damaged ({err})"
    return None


def scan_images(records: list[Record], root: str | Path, fail_fast: bool = False) -> tuple[list[tuple[Record, Path]], ScanReport]:
    """Records whose image exists and opens, with its path; the rest counted in the report.

    With `fail_fast`, the first missing or unreadable image raises BadImage instead.
    """
    root = Path(root)
    if not root.is_dir():
        raise BadData(f"{root}: no such image folder")
    report = ScanReport(records=len(records))
    usable = []
    for record in records:
        where = f"record #{record.index} (id {record.id})"
        path = resolve_image(root, record.image, where)
        if not path.is_file():
            if fail_fast:
                raise BadImage(f"{path}: missing ({where}); drop --fail-on-bad-images to skip such samples")
            report.missing += 1
            if len(report.missing_examples) < REPORT_EXAMPLES:
                report.missing_examples.append({"id": record.id, "image": record.image})
            continue
        problem = _readable(path)
        if problem:
            if fail_fast:
                raise BadImage(f"{path}: {problem} ({where}); drop --fail-on-bad-images to skip such samples")
            report.unreadable += 1
            if len(report.unreadable_examples) < REPORT_EXAMPLES:
                report.unreadable_examples.append({"id": record.id, "image": record.image, "reason": problem})
            continue
        usable.append((record, path))
    return usable, report
