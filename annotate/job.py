"""A whole annotation run: the stages in order, the dry-run plan and the status.

The config (annotate.config) is saved as `run.json` in the output folder when a run starts, so `critic
annotate status DIR` knows which paintings and providers the folder belongs to.

A run whose requests all failed (no analysis to export, and failures this run) exports
nothing and ends with a ServerError naming, per provider, how many failed and the last error;
a partial failure is counted in the summary, `stats.json` and `status`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from critic.annotate.answer_store import FILENAME, AnswerStore
from critic.annotate.batch_book import BatchBook, BatchRecord
from critic.annotate.config import CONFIG_FILE, RunConfig
from critic.annotate.dispatch import NoProgress, Progress, Runner, Tally
from critic.annotate.export import per_artist, test_records, train_records, write_json
from critic.annotate.paintings import IngestReport, Painting, ingest
from critic.annotate.prompts import KNOWLEDGE, OVERALL, PERSPECTIVE, PICKS, STAGES
from critic.annotate.providers import Providers
from critic.annotate.split import split
from critic.annotate.stages import PipelineResult, annotate
from critic.annotate.validate import REASONS
from critic.core.errors import BadData, ServerError, UsageError
from critic.core.perspectives import PERSPECTIVES
from critic.core.store import output_lock


def _save_config(config: RunConfig, providers: Providers) -> None:
    absolute = replace(
        config,
        paintings=str(Path(config.paintings).resolve()), images=str(Path(config.images).resolve()),
        out=str(Path(config.out).resolve()),
        providers=str(Path(config.providers).resolve()) if config.providers else None,
        batch_files=str(Path(config.batch_files).resolve()) if config.batch_files else None,
    )
    data = {
        "config": asdict(absolute),
        "providers": [p.public() for p in providers.by_name.values()],
        "roles": {"knowledge": providers.knowledge, "analysts": list(providers.analysts)},
    }
    write_json(Path(config.out) / CONFIG_FILE, data)


def _ingest(config: RunConfig) -> tuple[list[Painting], IngestReport]:
    paintings, report = ingest(Path(config.paintings), Path(config.images))
    if config.limit is not None:
        paintings = paintings[: config.limit]
    return paintings, report


@dataclass
class Plan:
    """What a run would send: per stage (and per stage and provider), answers stored and
    requests to send (upper bounds), priced live and through the Batch API."""

    ingest: IngestReport
    tallies: dict[str, Tally]
    result: PipelineResult
    provider_tallies: dict[tuple[str, str], Tally]


def plan(config: RunConfig) -> Plan:
    """Count the requests a run would send, from the answers stored so far; sends nothing."""
    config.check()
    providers = config.load_providers()
    paintings, report = _ingest(config)
    out = Path(config.out)
    # Read-only, or empty in memory: a plan leaves no trace in --out.
    store = AnswerStore(out, readonly=True) if (out / FILENAME).exists() else AnswerStore(None)
    with store, Runner(store, providers, config.policy(), send=False) as runner:
        result = annotate(runner, paintings, config.settings())
    return Plan(report, runner.tallies, result, runner.provider_tallies)


def execute(config: RunConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run every stage, write train.json, test.json and stats.json; return the stats."""
    config.check()
    providers = config.load_providers()
    paintings, report = _ingest(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(out, "critic annotate run"):
        return _execute(config, providers, paintings, report, out, progress)


def _execute(config: RunConfig, providers, paintings, report, out: Path, progress: Progress | None) -> dict[str, Any]:
    _save_config(config, providers)
    with AnswerStore(out) as store:
        with Runner(store, providers, config.policy(), send=True, progress=progress or NoProgress(),
                    seed=config.seed, batch=config.batch_settings()) as runner:
            result = annotate(runner, paintings, config.settings())
        spent = spending(store, providers)
    with_overall = {a.painting for a in result.analyses if a.kind == "overall"}
    eligible = [p for p in result.known if p.id in with_overall]
    kept_ids = {p.id for p in eligible}
    analyses = [a for a in result.analyses if a.painting in kept_ids]
    failed_now = failed_this_run(runner)
    if not analyses and failed_now:
        raise ServerError(f"no analysis was stored: the requests failed ({failures_text(failed_now, spent)}); "
                          "nothing was exported: fix the provider and run again (every answer is kept)")
    train, test = split(eligible, config.test_count)
    order = list(providers.analysts)
    train_data = train_records(train, analyses, order)
    test_data = test_records(test, analyses, order)
    stats = build_stats(config, report, result, runner.tallies, spent, train, test, train_data,
                        eligible, analyses)
    stats["failed_this_run"] = failed_now
    write_json(out / "train.json", train_data)
    write_json(out / "test.json", test_data)
    write_json(out / "stats.json", stats)
    return stats


def spending(store: AnswerStore, providers: Providers) -> dict[str, dict[str, Any]]:
    """Requests, tokens and cost per provider over every answer stored in the folder, from the
    usage each reply recorded (batch answers at the batch price); the failures still stored
    (asked again by the next run) and the last of their errors."""
    totals: dict[str, dict[str, Any]] = {}
    for row in store.rows():
        entry = totals.setdefault(row["provider"], {"answers": 0, "failures": 0, "tries": 0, "batched": 0,
                                                    "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0,
                                                    "last_error": None})
        entry["answers" if row["status"] == "ok" else "failures"] += 1
        if row["status"] != "ok":
            entry["last_error"] = row["error"]
        entry["tries"] += row["tries"]
        entry["batched"] += row["status"] == "ok" and row["via"] != "live"  # answers that came in batches
        entry["tokens_in"] += row["tokens_in"]
        entry["tokens_out"] += row["tokens_out"]
        provider = providers.by_name.get(row["provider"])
        if provider is not None:
            entry["cost_usd"] += provider.cost(row["tokens_in"], row["tokens_out"], batch=row["via"] != "live")
    for entry in totals.values():
        entry["cost_usd"] = round(entry["cost_usd"], 6)
    return totals


def failed_this_run(runner: Runner) -> dict[str, int]:
    """Requests that failed during this run, per provider (after their retries)."""
    failed: dict[str, int] = {}
    for (_, provider), tally in runner.provider_tallies.items():
        if tally.failed:
            failed[provider] = failed.get(provider, 0) + tally.failed
    return failed


def failures_text(failed: dict[str, int], spent: dict[str, dict[str, Any]]) -> str:
    """'alpha: 6 failed, last error HTTP 500: …; beta: …' for a one-line message."""
    return "; ".join(f"{name}: {count:,} failed, last error {spent.get(name, {}).get('last_error') or 'unknown'}"
                     for name, count in failed.items())


def build_stats(
    config: RunConfig,
    report: IngestReport,
    result: PipelineResult,
    tallies: dict[str, Tally],
    spent: dict[str, dict[str, Any]],
    train: list[Painting],
    test: list[Painting],
    train_data: list[dict[str, Any]],
    eligible: list[Painting],
    analyses: list[Any],
) -> dict[str, Any]:
    """The stats report: counts per stage, perspective and artist; leaks; tokens and cost."""
    stages: dict[str, Any] = {}
    for stage in STAGES:
        counts = result.stages.get(stage)
        tally = tallies.get(stage, Tally())
        entry: dict[str, Any] = {"asked": 0, "kept": 0, "failed": 0}
        if counts is not None:
            entry = {"asked": counts.asked, "kept": counts.kept, "failed": counts.failed}
            if stage in (OVERALL, PERSPECTIVE):
                entry.update(regenerated=counts.regenerated, leak_dropped=counts.leak_dropped,
                             leaks=dict(counts.leaks))
        entry["requests"] = {"stored_before": tally.stored, "sent": tally.sent,
                             "failed_this_run": tally.failed, "batched": tally.batched}
        stages[stage] = entry
    stages[KNOWLEDGE]["unknown"] = result.unknown
    picked = Counter(k for keys in result.picks.values() for k in keys)
    written = Counter(a.kind for a in analyses if a.kind != "overall")
    perspectives = {
        p.key: {"name": p.name, "paintings": picked[p.key], "analyses": written[p.key]}
        for p in sorted(PERSPECTIVES, key=lambda p: -picked[p.key])
    }
    total_cost = sum(entry["cost_usd"] for entry in spent.values())
    test_share = len(test) / max(1, len(eligible))
    warnings = []
    if config.test_count > len(eligible):
        warnings.append(f"--test-count {config.test_count} is more than the {len(eligible)} "
                        "paintings with analyses: all of them went to test")
    return {
        "ingest": report.to_dict(),
        "stages": stages,
        "intersection_sizes": dict(sorted(Counter(len(v) for v in result.picks.values()).items())),
        "perspectives": perspectives,
        "split": {
            "paintings": len(eligible),
            "dropped_without_overall": len(result.known) - len(eligible),
            "train_paintings": len(train), "test_paintings": len(test),
            "train_records": len(train_data),
            "test_share": round(test_share, 4),
        },
        "artists": per_artist(train, test),
        "leaks": {
            stage: {"regenerated": result.stages[stage].regenerated,
                    "dropped": result.stages[stage].leak_dropped,
                    "by_kind": dict(result.stages[stage].leaks)}
            for stage in (OVERALL, PERSPECTIVE) if stage in result.stages
        },
        "rejections": rejections(result),
        "providers": spent,
        "cost_usd": round(total_cost, 6),
        "warnings": warnings,
    }


def rejections(result: PipelineResult) -> dict[str, dict[str, Any]]:
    """Answers rejected as not what was asked, per stage: by reason (every rejected answer),
    how many were asked again, and how many requests were dropped after the last attempt."""
    report: dict[str, dict[str, Any]] = {}
    for stage in (OVERALL, PICKS, PERSPECTIVE):
        counts = result.stages.get(stage)
        if counts is None:
            continue
        report[stage] = {
            "by_reason": {r: counts.rejected[r] for r in REASONS if counts.rejected[r]},
            "regenerated": counts.rejected_regenerated,
            "dropped": counts.rejected_dropped,
        }
    return report


@dataclass
class Status:
    """Where a run folder stands."""

    config: RunConfig
    stored: dict[str, dict[str, int]]
    rejected: dict[str, Counter[str]]
    spent: dict[str, dict[str, Any]]
    plan: Plan | None
    plan_error: str | None
    exported: dict[str, bool]
    batches: list[BatchRecord]


def status(out: Path) -> Status:
    """Stored answers per stage, what is left to send, and whether the outputs exist."""
    out = Path(out)
    config = RunConfig.load(out)
    providers = config.load_providers()
    stored: dict[str, dict[str, int]] = {}
    rejected: dict[str, Counter[str]] = {}
    spent: dict[str, dict[str, Any]] = {}
    batches: list[BatchRecord] = []
    if (out / FILENAME).exists():
        with AnswerStore(out, readonly=True) as store:
            batches = BatchBook(store).all()
            for row in store.rows():
                entry = stored.setdefault(row["stage"], {"ok": 0, "failed": 0})
                entry["ok" if row["status"] == "ok" else "failed"] += 1
                if row["rejected"]:
                    rejected.setdefault(row["stage"], Counter())[row["rejected"]] += 1
            spent = spending(store, providers)
    try:
        the_plan: Plan | None = plan(replace(config, out=str(out)))
        plan_error = None
    except (BadData, UsageError) as err:
        the_plan, plan_error = None, str(err)
    exported = {name: (out / name).is_file() for name in ("train.json", "test.json", "stats.json")}
    return Status(config, stored, rejected, spent, the_plan, plan_error, exported, batches)


STAGE_TITLES = {KNOWLEDGE: "knowledge filter", OVERALL: "overall analyses",
                PICKS: "perspective picks", PERSPECTIVE: "perspective analyses"}

