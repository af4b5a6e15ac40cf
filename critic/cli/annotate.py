"""`critic annotate`: build the PaintingForm training and test data with LLM APIs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `critic annotate run|status|providers`."""
    parser = subparsers.add_parser(
        "annotate",
        help="make training data: formal analyses of known paintings from LLM APIs",
        description="The PaintingForm data pipeline: knowledge filter, overall and perspective "
        "analyses from two LLMs, leakage filter, split, export (needs the 'annotate' extra).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    run_p = actions.add_parser("run", help="run every stage (resumes where the folder stopped)")
    run_p.add_argument("--paintings", required=True, metavar="FILE",
                       help="CSV or JSONL with id, title, artist, image, popularity")
    run_p.add_argument("--images", required=True, metavar="DIR", help="folder the image paths are relative to")
    run_p.add_argument("--out", required=True, metavar="DIR", help="run folder: answers, train.json, test.json, stats.json")
    run_p.add_argument("--providers", metavar="FILE", help="providers TOML (default: OpenAI and Gemini)")
    run_p.add_argument("--dry-run", action="store_true", help="print the requests each stage would send and their cost")
    run_p.add_argument("--test-count", type=int, default=5000, metavar="N", help="paintings in the test set (default 5000)")
    run_p.add_argument("--leak-retries", type=int, default=2, metavar="N",
                       help="regenerations of an analysis that names the work before it is dropped (default 2)")
    run_p.add_argument("--invalid-retries", type=int, default=2, metavar="N",
                       help="regenerations of an answer that is not an analysis (a refusal, a yes/no, JSON, "
                       "a list, too short, off topic, not English) or a pick naming no known perspective, "
                       "before it is dropped and counted (default 2)")
    run_p.add_argument("--retries", type=int, default=5, metavar="N",
                       help="retries of a failed or malformed request (default 5)")
    run_p.add_argument("--backoff", type=float, default=1.0, metavar="S", help="first retry delay in seconds, doubled each time (default 1)")
    run_p.add_argument("--max-backoff", type=float, default=60.0, metavar="S", help="longest retry delay (default 60)")
    run_p.add_argument("--timeout", type=float, metavar="S", help="seconds per request, overriding the providers file")
    run_p.add_argument("--max-perspectives", type=int, default=5, metavar="N", help="perspectives each analyst may name (default 5)")
    run_p.add_argument("--max-tokens", type=int, default=512, metavar="N", help="longest analysis in tokens (default 512)")
    run_p.add_argument("--limit", type=int, metavar="N", help="only the first N usable paintings (a trial run)")
    run_p.add_argument("--no-progress", action="store_true", help="no progress bars")
    run_p.set_defaults(run=run)

    status_p = actions.add_parser("status", help="where a run folder stands")
    status_p.add_argument("out", metavar="DIR", help="the --out folder of a run")
    status_p.set_defaults(run=run)

    providers_p = actions.add_parser("providers", help="print the default providers file, to edit")
    providers_p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the annotate package (imported only now)."""
    from critic.errors import require

    if args.action == "providers":
        from annotate.providers import DEFAULT_PROVIDERS_TOML

        print(DEFAULT_PROVIDERS_TOML, end="")
        return 0
    if args.action == "status":
        from annotate.report import status_text
        from annotate.run import status

        print(status_text(status(args.out)))
        return 0

    from annotate.report import plan_text, summary_text
    from annotate.run import RunConfig, execute, plan

    config = RunConfig(
        paintings=args.paintings, images=args.images, out=args.out, providers=args.providers,
        test_count=args.test_count, leak_retries=args.leak_retries,
        invalid_retries=args.invalid_retries, retries=args.retries,
        backoff=args.backoff, max_backoff=args.max_backoff, timeout=args.timeout,
        max_perspectives=args.max_perspectives, max_tokens=args.max_tokens, limit=args.limit,
    )
    if args.dry_run:
        print(plan_text(plan(config)))
        return 0
    require("openai", "annotate")
    from annotate.progress import StageBars

    with StageBars(enabled=not args.no_progress) as bars:
        stats = execute(config, progress=bars)
    print(summary_text(stats, args.out))
    return 0
