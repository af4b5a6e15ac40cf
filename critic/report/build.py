"""Reports from what critic already keeps: `critic analyze --out` records, or one chat conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from critic.core.errors import BadImage
from critic.core.images import LoadedImage, load_image
from critic.core.names import safe_name
from critic.core.regions import box_from_record, load_whole, region_label
from critic.engine.base import TurnRecord
from critic.facts.measure import Facts, measure
from critic.gallery.facts_io import facts_from_dict
from critic.gallery.results import is_detail
from critic.report.page import DetailView, PaintingReport, Reading, marks_for, render_page

_SHOWN = ("ok", "measured")
"""Record statuses with text to show; errors are counted, not shown."""


def _locate(path: str, base: Path | None) -> Path:
    """The recorded path, or, when it was relative to where the analysis ran, the same beside the results."""
    recorded = Path(path)
    if recorded.exists() or recorded.is_absolute() or base is None:
        return recorded
    return base / recorded if (base / recorded).exists() else recorded


def _painting(path: str, sha256: str, records: list[dict], base: Path | None = None) -> PaintingReport:
    """Load the picture analysed (checked by sha256) and measure it; fall back on the records' facts."""
    image = facts = None
    problem = ""
    size = None
    whole = None
    try:
        # details are cut from the file at full resolution, as they were analysed
        loaded = (load_whole if any(map(is_detail, records)) else load_image)(_locate(path, base))
        if sha256 and loaded.sha256 != sha256:
            problem = (f"{safe_name(path)} has changed since it was analysed (its sha256 differs): the picture is "
                       "left out and the facts are those recorded with the analysis")
        else:
            whole, image, size = loaded, loaded.image, loaded.original_size
            facts = measure(loaded.image)
    except BadImage as err:
        problem = f"the picture is not shown: {safe_name(err)}"
    if facts is None:
        for record in (r for r in records if not is_detail(r)):  # a detail's facts are not the painting's
            try:
                facts = facts_from_dict(record.get("facts") or {})
                break
            except ValueError:
                continue
    if size is None:
        info = records[0].get("image") or {}
        if info.get("width") and info.get("height"):
            size = (int(info["width"]), int(info["height"]))
    readings = [_reading(r, facts, whole, size) for r in sorted(records, key=is_detail)]  # the whole's first
    return PaintingReport(safe_name(Path(path).name), safe_name(path), sha256, image, facts, readings, problem, size)


def _reading(record: dict, facts: Facts | None, whole: LoadedImage | None,
             size: tuple[int, int] | None) -> Reading:
    """One record as a reading; a detail's with its crop and place, its claims checked against the crop's facts
    (measured now from the painting, else as recorded)."""
    text = record.get("analysis") or ""
    detail = None
    if is_detail(record):
        region = record["region"]
        box = box_from_record(region, size)  # checked when the results were read
        crop = whole.image.crop(box.scaled(whole.image.size)) if whole is not None else None
        try:
            facts = measure(crop) if crop is not None else facts_from_dict(record.get("facts") or {})
        except ValueError:
            facts = None
        detail = DetailView(region_label(region), box.fractions, crop,
                            whole.image if whole is not None else None, str(region.get("compared") or ""))
    return Reading(record.get("question", ""), text, record.get("model") or {}, record.get("settings") or {},
                   marks_for(text, facts, record.get("flags") or ()), record.get("note") or "",
                   bool(record.get("partial")), record.get("created"), detail)


def from_records(records: Sequence[dict], base: Path | None = None) -> tuple[list[PaintingReport], int]:
    """One `PaintingReport` per painting (in the order first seen), and how many failed records were left out.

    `base`: where to look for pictures recorded with a relative path that is not found from here
    (the results file's folder)."""
    groups: dict[str, list[dict]] = {}
    failed = 0
    for record in records:
        if not isinstance(record, dict) or record.get("status") not in _SHOWN or not record.get("image"):
            failed += isinstance(record, dict) and record.get("status") == "error"
            continue
        info = record["image"]
        groups.setdefault(info.get("sha256") or info.get("path", ""), []).append(record)
    paintings = []
    for key, group in groups.items():
        info = group[-1]["image"]
        paintings.append(_painting(str(info.get("path", "")), str(info.get("sha256", "")), group, base))
    return paintings, failed


def records_report(records: Sequence[dict], title: str = "Formal analyses", source: str = "",
                   base: Path | None = None) -> tuple[str, int, int]:
    """The HTML report of `critic analyze --out` records: (html, paintings shown, failed records left out)."""
    paintings, failed = from_records(records, base)
    return render_page(title, paintings, source), len(paintings), failed


def conversation_report(image: LoadedImage | None, facts: Facts | None, turns: Sequence[TurnRecord],
                        model: dict, settings: dict, title: str, note: str = "") -> str:
    """One chat conversation as an HTML report: the painting, its facts, every turn with its flags."""
    if image is not None and facts is None:
        facts = measure(image.image)
    readings = [Reading(t.question, t.answer, model, {**settings, **({"seed": t.seed} if t.seed is not None else {})},
                        marks_for(t.answer, facts), partial=t.partial) for t in turns]
    painting = PaintingReport(safe_name(image.path.name) if image else "no painting",
                              safe_name(image.path) if image else "",
                              image.sha256 if image else "", image.image if image else None, facts, readings,
                              "" if image else "the painting was not open", image.original_size if image else None)
    return render_page(title, [painting], note)
