"""Plain-text reports: the dry-run plan, the summary after a run, and a folder's status."""

from __future__ import annotations

from typing import Any

from critic.annotate.batch_book import BatchRecord
from critic.annotate.dispatch import Tally
from critic.annotate.job import Plan, Status
from critic.annotate.paintings import IngestReport
from critic.annotate.progress import LABELS
from critic.annotate.prompts import KNOWLEDGE, STAGES
from critic.annotate.validate import REASONS


def reasons_text(by_reason: dict[str, int]) -> str:
    """'2 refusal, 1 yes_no' in the order of annotate.validate.REASONS."""
    order = {reason: i for i, reason in enumerate(REASONS)}
    return ", ".join(f"{n} {reason}" for reason, n in sorted(by_reason.items(), key=lambda kv: order.get(kv[0], 99))
                     if n)


def ingest_line(report: IngestReport) -> str:
    """One line on what ingest kept and dropped."""
    dropped = ", ".join(f"{n} {reason}" for reason, n in sorted(report.dropped.items()))
    line = f"paintings: {report.rows} rows, {report.kept} kept"
    if dropped:
        line += f" (dropped: {dropped})"
    if report.missing_popularity:
        line += f"; {report.missing_popularity} without popularity (counted as 0)"
    return line


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def money(usd: float) -> str:
    """Dollars to the cent, or to a hundredth of a cent under a dollar."""
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


def _plan_row(label: str, tally: Tally, mark: str) -> list[str]:
    return [label, f"{tally.stored:,}", f"{mark}{tally.sent:,}", f"{tally.tokens_in:,}", f"{tally.tokens_out:,}",
            f"{mark}{money(tally.cost)}", f"{mark}{money(tally.batch_cost)}"]


def plan_text(the_plan: Plan) -> str:
    """The dry run: requests each stage (and each of its providers) would send, and what they
    would cost live and through the Batch API (`--batch`), at the providers file's prices."""
    bound = not the_plan.result.complete
    rows = [["stage", "stored", "to send", "est. tokens in", "est. tokens out", "live cost", "batch cost"]]
    total = Tally()
    for stage in STAGES:
        tally = the_plan.tallies.get(stage, Tally())
        mark = "\u2264 " if bound and stage != KNOWLEDGE and tally.sent else ""
        rows.append(_plan_row(LABELS[stage], tally, mark))
        for (of_stage, provider), mine in the_plan.provider_tallies.items():
            if of_stage == stage:
                rows.append(_plan_row(f"  {provider}", mine, mark if mine.sent else ""))
        total.sent += tally.sent
        total.cost += tally.cost
        total.batch_cost += tally.batch_cost
    mark = "\u2264 " if bound else ""
    rows.append(["total", "", f"{mark}{total.sent:,}", "", "", f"{mark}{money(total.cost)}",
                 f"{mark}{money(total.batch_cost)}"])
    lines = [ingest_line(the_plan.ingest), _table(rows)]
    if bound:
        lines.append(
            "Counts after the knowledge filter are upper bounds before regenerations: they "
            "assume every unanswered painting is known and the analysts agree on the most "
            "perspectives. Tokens are estimated (4 characters a token, typical answer lengths)."
        )
    return "\n".join(lines)


def summary_text(stats: dict[str, Any], out: str) -> str:
    """A short report after a run."""
    stages = stats["stages"]
    split = stats["split"]
    ingest = stats["ingest"]
    lines = [
        ingest_line(IngestReport(ingest["rows"], ingest["kept"], ingest["dropped"], {},
                                 ingest["missing_popularity"])),
        f"knowledge filter: {stages['knowledge']['kept']} known, {stages['knowledge']['unknown']} unknown, "
        f"{stages['knowledge']['failed']} failed",
    ]
    for stage in ("overall", "picks", "perspective"):
        s = stages[stage]
        if stage == "picks":
            lines.append(f"{LABELS[stage]}: {s['kept']} paintings agreed on, {s['failed']} failed")
        else:
            lines.append(
                f"{LABELS[stage]}: {s['kept']} kept, {s.get('regenerated', 0)} regenerated and "
                f"{s.get('leak_dropped', 0)} dropped for naming the work, {s['failed']} failed"
            )
        rejected = stats.get("rejections", {}).get(stage)
        if rejected and rejected["by_reason"]:
            lines.append(
                f"  rejected: {reasons_text(rejected['by_reason'])}; {rejected['regenerated']} asked "
                f"again, {rejected['dropped']} dropped"
            )
    sent = sum(s["requests"]["sent"] for s in stages.values())
    stored = sum(s["requests"]["stored_before"] for s in stages.values())
    batched = sum(s["requests"].get("batched", 0) for s in stages.values())
    through = f" ({batched} through batches)" if batched else ""
    lines.append(f"requests: {sent} sent{through}, {stored} answered from the store")
    failed = stats.get("failed_this_run") or {}
    if failed:
        lines.append("failed this run (asked again by the next): " + "; ".join(
            f"{name} {count} (last error: {stats['providers'].get(name, {}).get('last_error') or 'unknown'})"
            for name, count in failed.items()))
    lines.append(
        f"split: {split['train_paintings']} train paintings ({split['train_records']} records), "
        f"{split['test_paintings']} test paintings"
    )
    lines.append(f"cost so far: ${stats['cost_usd']:,.4f}")
    lines.extend(f"warning: {w}" for w in stats.get("warnings", []))
    lines.append(f"wrote {out}/train.json, test.json and stats.json")
    return "\n".join(lines)


def status_text(st: Status) -> str:
    """Where a run folder stands."""
    lines = [f"run folder: {st.config.out}", f"paintings: {st.config.paintings}"]
    rows = [["stage", "answered", "failed", "left to send"]]
    for stage in STAGES:
        stored = st.stored.get(stage, {"ok": 0, "failed": 0})
        left = "?"
        if st.plan is not None:
            tally = st.plan.tallies.get(stage)
            sent = tally.sent if tally else 0
            left = f"\u2264 {sent:,}" if (not st.plan.result.complete and stage != KNOWLEDGE and sent) else f"{sent:,}"
        rows.append([LABELS[stage], f"{stored['ok']:,}", f"{stored['failed']:,}", left])
    lines.append(_table(rows))
    if st.plan_error:
        lines.append(f"cannot tell what is left: {st.plan_error}")
    rejected = [f"  {LABELS[stage]}: {reasons_text(st.rejected[stage])}" for stage in STAGES if st.rejected.get(stage)]
    if rejected:
        lines.append("rejected answers, by reason (each asked again, then dropped after the last try):")
        lines.extend(rejected)
    else:
        lines.append("rejected answers: none")
    for name, entry in st.spent.items():
        lines.append(
            f"{name}: {entry['answers']} answers ({entry.get('batched', 0)} through batches), "
            f"{entry['failures']} failures, {entry['tokens_in']:,} tokens in, {entry['tokens_out']:,} out, "
            f"${entry['cost_usd']:,.4f} spent"
        )
        if entry["failures"] and entry.get("last_error"):
            lines.append(f"  last error: {entry['last_error']}")
    lines.extend(batch_lines(st.batches))
    done = [name for name, there in st.exported.items() if there]
    lines.append(f"exported: {', '.join(done) if done else 'nothing yet'}")
    return "\n".join(lines)


def batch_lines(batches: list[BatchRecord], everything: bool = False) -> list[str]:
    """The batches of a folder: a count, then one line each for those in flight (or all)."""
    if not batches:
        return []
    open_ = [b for b in batches if b.open]
    lines = [f"batches: {len(batches)}, {len(open_)} not collected"]
    rows = [["batch", "mode", "requests", "state", "provider says", "done", "failed", "id"]]
    for b in batches if everything else open_:
        rows.append([b.name, b.mode, f"{b.lines:,}", b.state, b.remote_status or "-", f"{b.completed:,}",
                     f"{b.failed:,}", b.batch_id or "-"])
    if len(rows) > 1:
        lines.append(_table(rows))
    lines.extend(f"  {b.name}: {b.error}" for b in (batches if everything else open_) if b.error)
    return lines
