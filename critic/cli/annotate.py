"""`critic annotate`: build the PaintingForm training and test data with LLM APIs."""

from __future__ import annotations

import argparse

from critic.cli.options import add_config_flags, config_flags


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `critic annotate run|status|batch|import|providers`."""
    parser = subparsers.add_parser(
        "annotate",
        help="make training data: formal analyses of known paintings from LLM APIs",
        description="The PaintingForm data pipeline: knowledge filter, overall and perspective "
        "analyses from two LLMs, leakage filter, split, export (needs the 'annotate' extra).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    run_p = actions.add_parser("run", help="run every stage (resumes where the folder stopped)")
    # annotate.config is standard library and critic's core only: the flags come from RunConfig itself.
    from critic.annotate.config import RunConfig

    add_config_flags(run_p, RunConfig)
    run_p.add_argument("--dry-run", action="store_true", help="print the requests each stage would send and their cost")
    run_p.add_argument("--no-progress", action="store_true", help="no progress bars")
    run_p.set_defaults(run=run)

    status_p = actions.add_parser("status", help="where a run folder stands")
    status_p.add_argument("out", metavar="DIR", help="the --out folder of a run")
    status_p.set_defaults(run=run)

    batch_p = actions.add_parser("batch", help="the Batch-API jobs of a run folder: status, cancel")
    batch_p.add_argument("batch_action", choices=("status", "cancel"),
                         help="status: every batch, those in flight checked now; cancel: cancel those in flight")
    batch_p.add_argument("out", metavar="DIR", help="the --out folder of a run")
    batch_p.set_defaults(run=run)

    import_p = actions.add_parser("import", help="store the answers of a batch result file (e.g. vllm run-batch's)")
    import_p.add_argument("out", metavar="DIR", help="the --out folder of the run that wrote the --batch-files")
    import_p.add_argument("results", metavar="RESULTS", help="JSONL of Batch-API results, matched by custom_id")
    import_p.set_defaults(run=run)

    providers_p = actions.add_parser("providers", help="print the default providers file, to edit")
    providers_p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the annotate package (imported only now)."""
    from critic.core.errors import require

    if args.action == "providers":
        from critic.annotate.providers import DEFAULT_PROVIDERS_TOML

        print(DEFAULT_PROVIDERS_TOML, end="")
        return 0
    if args.action == "status":
        from critic.annotate.job import status
        from critic.annotate.report import status_text

        print(status_text(status(args.out)))
        return 0
    if args.action in ("batch", "import"):
        return _batches(args)

    from critic.annotate.config import RunConfig
    from critic.annotate.job import execute, plan
    from critic.annotate.report import plan_text, summary_text

    config = RunConfig(**config_flags(args, RunConfig))
    if args.dry_run:
        print(plan_text(plan(config)))
        return 0
    require("openai", "annotate")
    from critic.annotate.batch import Paused
    from critic.annotate.progress import StageBars

    try:
        with StageBars(enabled=not args.no_progress) as bars:
            stats = execute(config, progress=bars)
    except Paused as paused:
        print(paused)
        return 0
    print(summary_text(stats, args.out))
    return 0


def _batches(args: argparse.Namespace) -> int:
    """`annotate batch status|cancel DIR` and `annotate import DIR RESULTS`."""
    from critic.core.errors import require

    require("openai", "annotate")
    from critic.annotate.batch_commands import cancel, import_results, refresh
    from critic.annotate.report import batch_lines

    if args.action == "import":
        stored = import_results(args.out, args.results)
        counts = stored.counts
        print(f"stored {counts['answers']:,} answers, {counts['rejected']:,} rejected as not what was asked, "
              f"{counts['failed']:,} failures; {counts['known']:,} were stored already, {counts['unknown']:,} "
              f"unknown, {counts['unfinished']:,} not run. Run again to go on.")
        return 0
    records, notes = (refresh if args.batch_action == "status" else cancel)(args.out)
    for line in notes + (batch_lines(records, everything=True) or ["no batches"]):
        print(line)
    return 0
