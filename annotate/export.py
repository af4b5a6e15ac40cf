"""Stage 7: train.json (LLaVA conversations), test.json (references) and stats.json."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from critic.annotate.instructions import instruction
from critic.annotate.paintings import Painting, fold
from critic.annotate.stages import Analysis
from critic.core.perspectives import PERSPECTIVES
from critic.core.prompt import IMAGE_TOKEN
from critic.core.store import write_atomic

KIND_ORDER = {"overall": 0, **{p.key: i + 1 for i, p in enumerate(PERSPECTIVES)}}


def _sorted(analyses: list[Analysis], providers: list[str]) -> list[Analysis]:
    rank = {name: i for i, name in enumerate(providers)}
    return sorted(analyses, key=lambda a: (KIND_ORDER.get(a.kind, 99), rank.get(a.provider, 99), a.provider))


def _by_painting(analyses: list[Analysis]) -> dict[str, list[Analysis]]:
    grouped: dict[str, list[Analysis]] = defaultdict(list)
    for analysis in analyses:
        grouped[analysis.painting].append(analysis)
    return grouped


def train_records(
    paintings: list[Painting], analyses: list[Analysis], providers: list[str]
) -> list[dict[str, Any]]:
    """One LLaVA conversation per analysis of a training painting."""
    by_painting = _by_painting(analyses)
    records = []
    for painting in paintings:
        for analysis in _sorted(by_painting.get(painting.id, []), providers):
            record_id = f"{painting.id}-{analysis.provider}-{analysis.kind}"
            records.append({
                "id": record_id,
                "image": painting.image,
                "conversations": [
                    {"from": "human", "value": f"{IMAGE_TOKEN}\n{instruction(analysis.kind, record_id)}"},
                    {"from": "gpt", "value": analysis.text},
                ],
            })
    return records


def test_records(
    paintings: list[Painting], analyses: list[Analysis], providers: list[str]
) -> list[dict[str, Any]]:
    """One record per test painting with every reference analysis."""
    by_painting = _by_painting(analyses)
    return [
        {
            "id": p.id,
            "image": p.image,
            "title": p.title,
            "artist": p.artist,
            "references": [
                {"provider": a.provider, "kind": a.kind, "text": a.text}
                for a in _sorted(by_painting.get(p.id, []), providers)
            ],
        }
        for p in paintings
    ]


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file, fsync, rename)."""
    write_atomic(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def per_artist(train: list[Painting], test: list[Painting]) -> dict[str, dict[str, int]]:
    """Paintings per artist in each split (names folded as the split groups them), most first."""
    shown: dict[str, str] = {}
    counts: dict[str, Counter[str]] = {"train": Counter(), "test": Counter()}
    for part, paintings in (("train", train), ("test", test)):
        for p in paintings:
            name = shown.setdefault(fold(p.artist), p.artist)
            counts[part][name] += 1
    total = counts["train"] + counts["test"]
    return {a: {"train": counts["train"][a], "test": counts["test"][a]} for a, _ in total.most_common()}
