"""Stage 1: read the list of paintings and keep the ones the pipeline can use."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from critic.core.errors import BadData
from critic.core.store import jsonl_objects

REQUIRED = ("id", "title", "artist", "image")
UNTITLED = re.compile(
    r"^(untitled|unknown|no title|sans titre|ohne titel|senza titolo|sin titulo|sem titulo|"
    r"zonder titel|bez nazvaniya)\b"
)
ANONYMOUS = re.compile(r"^(unknown|anonymous|anon|unidentified|not known)\b")
SAMPLE = 10
"""How many ids each issue lists in the report."""


@dataclass(frozen=True)
class Painting:
    """One painting the pipeline works on."""

    id: str
    title: str
    artist: str
    image: str
    popularity: float = 0.0


@dataclass
class IngestReport:
    """What ingest kept and dropped, with a few ids for each issue."""

    rows: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    missing_popularity: int = 0

    def drop(self, reason: str, ident: str) -> None:
        """Count one dropped row."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        sample = self.examples.setdefault(reason, [])
        if len(sample) < SAMPLE:
            sample.append(ident)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation turned into single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = bare.replace("ß", "ss").replace("ø", "o").replace("Ø", "o").replace("ł", "l")
    bare = bare.replace("æ", "ae").replace("œ", "oe").casefold()
    return " ".join(re.sub(r"[^\w]+|_", " ", bare).split())


def is_untitled(title: str) -> bool:
    """True for titles the paper treats as no title at all ("Untitled", "Unknown", ...)."""
    return bool(UNTITLED.match(fold(title)))


def is_anonymous(artist: str) -> bool:
    """True for an unknown or anonymous artist."""
    return bool(ANONYMOUS.match(fold(artist)))


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as handle:
            yield from jsonl_objects(handle, path, "each line must be one painting")
    elif suffix in (".csv", ".tsv"):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            header = [h.strip().lower() for h in reader.fieldnames or []]
            missing = [name for name in REQUIRED if name not in header]
            if missing:
                raise BadData(
                    f"{path} has no {', '.join(missing)} column: the header must name "
                    "id, title, artist, image and popularity"
                )
            reader.fieldnames = header
            for number, row in enumerate(reader, 2):
                yield number, row
    else:
        raise BadData(f"{path}: paintings must be a .csv or .jsonl file")


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _popularity(value: Any) -> float | None:
    try:
        number = float(str(value).replace(",", "").strip())
    except ValueError:
        return None
    return number if number == number else None  # NaN counts as missing


def _image_ok(images: Path, relative: str) -> bool:
    if not relative:
        return False
    root = images.resolve()
    target = (root / relative).resolve()
    return target.is_relative_to(root) and target.is_file()


def ingest(path: Path, images: Path) -> tuple[list[Painting], IngestReport]:
    """Read paintings from CSV or JSONL, keep the usable ones, report every dropped row."""
    path, images = Path(path), Path(images)
    if not path.is_file():
        raise BadData(f"no paintings file at {path}: give a CSV or JSONL with --paintings")
    if not images.is_dir():
        raise BadData(f"no images folder at {images}: give the folder the image paths are relative to")
    report = IngestReport()
    by_id: dict[str, Painting] = {}
    seen: set[str] = set()
    for number, raw in _rows(path):
        report.rows += 1
        row = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
        ident = _text(row.get("id"))
        where = ident or f"line {number}"
        title, artist = _text(row.get("title")), _text(row.get("artist"))
        image = _text(row.get("image")).replace("\\", "/")
        if ident in seen and ident:
            report.drop("duplicate id", where)
            continue
        seen.add(ident)
        if not ident:
            report.drop("missing id", where)
        elif not title:
            report.drop("missing title", where)
        elif is_untitled(title):
            report.drop("untitled", where)
        elif not artist:
            report.drop("missing artist", where)
        elif is_anonymous(artist):
            report.drop("unknown artist", where)
        elif not _image_ok(images, image):
            report.drop("missing image", where)
        else:
            popularity = _popularity(row.get("popularity"))
            if popularity is None:
                report.missing_popularity += 1
            by_id[ident] = Painting(ident, title, artist, image, popularity or 0.0)
    # The same title by the same artist twice (versions, copies): an LLM cannot tell them
    # apart from title and artist, so only the most popular one is kept.
    best: dict[tuple[str, str], Painting] = {}
    for painting in by_id.values():
        work = (fold(painting.title), fold(painting.artist))
        other = best.get(work)
        if other is None or painting.popularity > other.popularity:
            best[work] = painting
    kept_ids = {p.id for p in best.values()}
    kept = []
    for painting in by_id.values():
        if painting.id in kept_ids:
            kept.append(painting)
        else:
            report.drop("duplicate work", painting.id)
    report.kept = len(kept)
    return kept, report


def artist_counts(paintings: list[Painting]) -> Counter[str]:
    """Paintings per artist (by folded name)."""
    return Counter(fold(p.artist) for p in paintings)
