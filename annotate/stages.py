"""Stages 2 to 5: knowledge filter, overall analyses, perspective picks and analyses, leakage.

Each stage builds its requests, asks the runner for their answers (stored or sent) and reads
them. In plan mode the runner returns None for answers not stored yet and the stages assume
the costliest outcome (the painting is known, the analysts agree on the most perspectives,
nothing leaks, nothing is rejected), so a dry run's counts are upper bounds.

An answer the runner marks rejected (annotate.validate: a refusal, a yes/no, JSON, a list, too
short, off topic, not English; a pick naming no known perspective) is asked again, with a
reminder of what was wrong, up to `invalid_retries` times, then dropped. Leaks have their own
budget (`leak_retries`). Each attempt is a different prompt, so its answer is stored under its
own key: a resumed run replays the same verdicts from the store and sends only what is missing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from critic.annotate.answer_store import Answer
from critic.annotate.dispatch import Runner
from critic.annotate.leakage import find_leaks
from critic.annotate.paintings import Painting
from critic.annotate.prompts import (
    KNOWLEDGE,
    MAX_PERSPECTIVES,
    OVERALL,
    PERSPECTIVE,
    PICKS,
    Prompt,
    knowledge_prompt,
    overall_prompt,
    perspective_prompt,
    picks_prompt,
)
from critic.annotate.validate import REASONS
from critic.core.perspectives import PERSPECTIVES, perspective


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
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_regenerated: int = 0
    rejected_dropped: int = 0

    def reject(self, reason: str, again: bool) -> None:
        """Count an answer rejected for `reason`, asked again or dropped."""
        self.rejected[reason] += 1
        if again:
            self.rejected_regenerated += 1
        else:
            self.rejected_dropped += 1


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
    invalid_retries: int = 2


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


Builder = Callable[[int, str | None], Prompt]
"""An analysis prompt for an attempt, given what was wrong with the last one (None: a leak)."""


@dataclass
class _Item:
    """One analysis being asked for, with the regenerations it has used."""

    painting: Painting
    provider: str
    kind: str
    build: Builder
    leaks: int = 0
    invalid: int = 0
    problem: str | None = None

    @property
    def attempt(self) -> int:
        return self.leaks + self.invalid


def analysis_stage(
    runner: Runner,
    stage: str,
    items: list[tuple[Painting, str, str, Builder]],
    settings: Settings,
    result: PipelineResult,
) -> None:
    """Ask for analyses; regenerate the ones that are not analyses (up to `invalid_retries`
    times) or name the work (up to `leak_retries` times), then drop them."""
    counts = result.stages.setdefault(stage, StageCounts())
    counts.asked += len(items)
    waiting = [_Item(*item) for item in items]
    while waiting:
        jobs = [runner.job(stage, it.painting.id, it.provider, it.kind, it.attempt,
                           it.build(it.attempt, it.problem)) for it in waiting]
        again = []
        for item, answer in zip(waiting, runner.resolve(jobs)):
            if answer is None:
                counts.pending += 1
            elif not answer.ok:
                counts.failed += 1
            elif answer.rejected:
                retry = item.invalid < settings.invalid_retries
                counts.reject(answer.rejected, retry)
                if retry:
                    item.invalid += 1
                    item.problem = REASONS.get(answer.rejected, answer.rejected)
                    again.append(item)
            elif leaks := find_leaks(answer.value, item.painting):
                counts.leaks.update(sorted({leak.kind for leak in leaks}))
                if item.leaks < settings.leak_retries:
                    counts.regenerated += 1
                    item.leaks += 1
                    item.problem = None
                    again.append(item)
                else:
                    counts.leak_dropped += 1
            else:
                counts.kept += 1
                result.analyses.append(Analysis(item.painting.id, item.provider, item.kind, answer.value))
        waiting = again


def overall_stage(runner: Runner, settings: Settings, result: PipelineResult) -> None:
    """Each analyst's overall analysis of each known painting."""
    items = [
        (p, provider, "overall",
         (lambda attempt, problem, p=p: overall_prompt(p, attempt, settings.max_tokens, problem)))
        for p in result.known for provider in runner.providers.analysts
    ]
    analysis_stage(runner, OVERALL, items, settings, result)


def _picks_answers(runner: Runner, settings: Settings, counts: StageCounts,
                   wanted: list[tuple[Painting, str]]) -> dict[tuple[str, str], Answer | None]:
    """Each analyst's final pick answer per painting; one naming no known perspective is asked
    again up to `invalid_retries` times, then left rejected (None: not stored, in plan mode)."""
    final: dict[tuple[str, str], Answer | None] = {}
    attempt = 0
    while wanted:
        jobs = [runner.job(PICKS, p.id, provider, "picks", attempt,
                           picks_prompt(p, settings.max_perspectives, attempt)) for p, provider in wanted]
        again = []
        for (painting, provider), answer in zip(wanted, runner.resolve(jobs)):
            final[(painting.id, provider)] = answer
            if answer is not None and answer.ok and answer.rejected:
                retry = attempt < settings.invalid_retries
                counts.reject(answer.rejected, retry)
                if retry:
                    again.append((painting, provider))
        wanted = again
        attempt += 1
    return final


def picks_stage(runner: Runner, settings: Settings, result: PipelineResult) -> None:
    """Each analyst names up to N perspectives; the intersection, in the first's order, is kept.
    A painting for which an analyst's picks failed or were rejected gets no perspectives."""
    counts = result.stages.setdefault(PICKS, StageCounts())
    analysts = runner.providers.analysts
    answers = _picks_answers(runner, settings, counts,
                             [(p, provider) for p in result.known for provider in analysts])
    for painting in result.known:
        mine = [answers[(painting.id, provider)] for provider in analysts]
        counts.asked += 1
        if any(a is None for a in mine):
            counts.pending += 1
            result.picks[painting.id] = [p.key for p in PERSPECTIVES[: settings.max_perspectives]]
        elif not all(a.ok for a in mine):
            counts.failed += 1
        elif any(a.rejected for a in mine):
            continue  # counted as rejected and dropped by _picks_answers
        else:
            lists = [a.value[: settings.max_perspectives] for a in mine]
            common = [k for k in lists[0] if all(k in other for other in lists[1:])]
            counts.kept += 1
            result.picks[painting.id] = common


def perspective_stage(runner: Runner, settings: Settings, result: PipelineResult) -> None:
    """Each analyst's analysis of each kept perspective."""
    items = [
        (p, provider, key,
         (lambda attempt, problem, p=p, key=key:
          perspective_prompt(p, perspective(key), attempt, settings.max_tokens, problem)))
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
