"""Stages 2 to 5: knowledge filter, overall analyses, perspective picks and analyses, leakage.

Each stage builds its requests, asks the runner for their answers (stored or sent) and reads
them. In plan mode the runner returns None for answers not stored yet and the stages assume
the costliest outcome (the painting is known, the analysts agree on the most perspectives,
nothing leaks), so a dry run's counts are upper bounds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from critic.perspectives import PERSPECTIVES, perspective

from annotate.leakage import find_leaks
from annotate.paintings import Painting
from annotate.prompts import (
    KNOWLEDGE, OVERALL, PERSPECTIVE, PICKS, MAX_PERSPECTIVES, Prompt, knowledge_prompt,
    overall_prompt, perspective_prompt, picks_prompt,
)
from annotate.runner import Runner


@dataclass(frozen=True)
class Analysis:
    """One kept analysis: who wrote it, about what ("overall" or a perspective key)."""

    painting: str
    provider: str
    kind: str
    text: str


@dataclass
class StageCounts:
    """Outcomes of one stage, per request (a painting and provider, and a perspective)."""

    asked: int = 0
    kept: int = 0
    failed: int = 0
    pending: int = 0
    regenerated: int = 0
    leak_dropped: int = 0
    leaks: Counter[str] = field(default_factory=Counter)


@dataclass
class PipelineResult:
    """What stages 2 to 5 produced."""

    known: list[Painting] = field(default_factory=list)
    unknown: int = 0
    picks: dict[str, list[str]] = field(default_factory=dict)
    analyses: list[Analysis] = field(default_factory=list)
    stages: dict[str, StageCounts] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when no answer was missing (always, unless planning)."""
        return all(c.pending == 0 for c in self.stages.values())


@dataclass(frozen=True)
class Settings:
    """The knobs stages 2 to 5 take from the run's config."""

    leak_retries: int = 2
    max_perspectives: int = MAX_PERSPECTIVES
    max_tokens: int = 512


def knowledge_stage(runner: Runner, paintings: list[Painting], result: PipelineResult) -> None:
    """Keep the paintings the knowledge provider says it knows."""
    counts = result.stages.setdefault(KNOWLEDGE, StageCounts())
    name = runner.providers.knowledge
    jobs = [runner.job(KNOWLEDGE, p.id, name, "known", 0, knowledge_prompt(p)) for p in paintings]
    for painting, answer in zip(paintings, runner.resolve(jobs)):
        counts.asked += 1
        if answer is None:
            counts.pending += 1
            result.known.append(painting)
        elif not answer.ok:
            counts.failed += 1
        elif answer.value:
            counts.kept += 1
            result.known.append(painting)
        else:
            result.unknown += 1


Builder = Callable[[int], Prompt]


def analysis_stage(
    runner: Runner,
    stage: str,
    items: list[tuple[Painting, str, str, Builder]],
    settings: Settings,
    result: PipelineResult,
) -> None:
    """Ask for analyses; regenerate the ones that name the work, up to `leak_retries` times."""
    counts = result.stages.setdefault(stage, StageCounts())
    counts.asked += len(items)
    for attempt in range(settings.leak_retries + 1):
        if not items:
            break
        jobs = [runner.job(stage, p.id, provider, kind, attempt, build(attempt))
                for p, provider, kind, build in items]
        again = []
        for item, answer in zip(items, runner.resolve(jobs)):
            painting, provider, kind, _ = item
            if answer is None:
                counts.pending += 1
            elif not answer.ok:
                counts.failed += 1
            elif leaks := find_leaks(answer.value, painting):
                counts.leaks.update(sorted({leak.kind for leak in leaks}))
                if attempt < settings.leak_retries:
                    counts.regenerated += 1
                    again.append(item)
                else:
                    counts.leak_dropped += 1
            else:
                counts.kept += 1
                result.analyses.append(Analysis(painting.id, provider, kind, answer.value))
        items = again


def overall_stage(runner: Runner, settings: Settings, result: PipelineResult) -> None:
    """Each analyst's overall analysis of each known painting."""
    items = [
        (p, provider, "overall",
         (lambda attempt, p=p: overall_prompt(p, attempt, settings.max_tokens)))
        for p in result.known for provider in runner.providers.analysts
    ]
    analysis_stage(runner, OVERALL, items, settings, result)


def picks_stage(runner: Runner, settings: Settings, result: PipelineResult) -> None:
    """Each analyst names up to N perspectives; the intersection, in the first's order, is kept."""
    counts = result.stages.setdefault(PICKS, StageCounts())
    analysts = runner.providers.analysts
    jobs = [runner.job(PICKS, p.id, provider, "picks", 0, picks_prompt(p, settings.max_perspectives))
            for p in result.known for provider in analysts]
    answers = runner.resolve(jobs)
    for index, painting in enumerate(result.known):
        mine = answers[index * len(analysts):(index + 1) * len(analysts)]
        counts.asked += 1
        if any(a is None for a in mine):
            counts.pending += 1
            result.picks[painting.id] = [p.key for p in PERSPECTIVES[: settings.max_perspectives]]
        elif not all(a.ok for a in mine):
            counts.failed += 1
        else:
            lists = [a.value[: settings.max_perspectives] for a in mine]
            common = [k for k in lists[0] if all(k in other for other in lists[1:])]
            counts.kept += 1
            result.picks[painting.id] = common


def perspective_stage(runner: Runner, settings: Settings, result: PipelineResult) -> None:
    """Each analyst's analysis of each kept perspective."""
    items = [
        (p, provider, key,
         (lambda attempt, p=p, key=key: perspective_prompt(p, perspective(key), attempt, settings.max_tokens)))
        for p in result.known for key in result.picks.get(p.id, [])
        for provider in runner.providers.analysts
    ]
    analysis_stage(runner, PERSPECTIVE, items, settings, result)


def annotate(runner: Runner, paintings: list[Painting], settings: Settings) -> PipelineResult:
    """Run stages 2 to 5 over the ingested paintings."""
    result = PipelineResult()
    knowledge_stage(runner, paintings, result)
    overall_stage(runner, settings, result)
    picks_stage(runner, settings, result)
    perspective_stage(runner, settings, result)
    return result
