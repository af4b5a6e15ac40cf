"""Plain-text reports: the dry-run plan, the summary after a run, and a folder's status."""

from __future__ import annotations

from typing import Any

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


def plan_text(the_plan: Plan) -> str:
    """The dry run: requests each stage would send and what they would cost."""
    bound = not the_plan.result.complete
    rows = [["stage", "stored", "to send", "est. tokens in", "est. tokens out", "est. cost"]]
    total_sent, total_cost = 0, 0.0
    for stage in STAGES:
        tally = the_plan.tallies.get(stage)
        if tally is None:
            rows.append([LABELS[stage], "0", "0", "0", "0", "$0.00"])
            continue
        mark = "\u2264 " if bound and stage != KNOWLEDGE and tally.sent else ""
        rows.append([LABELS[stage], f"{tally.stored:,}", f"{mark}{tally.sent:,}",
                     f"{tally.tokens_in:,}", f"{tally.tokens_out:,}", f"{mark}${tally.cost:,.2f}"])
        total_sent += tally.sent
        total_cost += tally.cost
    mark = "\u2264 " if bound else ""
    rows.append(["total", "", f"{mark}{total_sent:,}", "", "", f"{mark}${total_cost:,.2f}"])
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
    lines.append(f"requests: {sent} sent, {stored} answered from the store")
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
            f"{name}: {entry['answers']} answers, {entry['failures']} failures, "
            f"{entry['tokens_in']:,} tokens in, {entry['tokens_out']:,} out, ${entry['cost_usd']:,.4f}"
        )
    done = [name for name, there in st.exported.items() if there]
    lines.append(f"exported: {', '.join(done) if done else 'nothing yet'}")
    return "\n".join(lines)
