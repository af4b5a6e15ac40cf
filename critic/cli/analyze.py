"""`critic analyze IMAGE… [DIR…]`: a formal analysis of each painting, streamed or recorded."""

from __future__ import annotations

import argparse

from critic.cli.options import add_generation_flags, generation_settings, hardware
from critic.core.perspectives import DEFAULT_QUESTION, PERSPECTIVES
from critic.core.regions import CROP_NOTE, MAX_TILES, REGION_HELP


def register(sub) -> None:
    parser = sub.add_parser(
        "analyze", help="write a formal analysis of paintings",
        description="Write a formal analysis of each painting: composition, colour, light, line, form, space, "
                    "texture. With no model installed, prints what can be measured from the image.",
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files or folders of images")
    parser.add_argument("--aspect", metavar="NAME", action="append",
                        help="a perspective, by name or number: "
                             + ", ".join(f"{n} {p.key}" for n, p in enumerate(PERSPECTIVES, 1))
                             + "; repeat it for several, or `all`: each is asked after one shared encoding of "
                               "the painting, one result per perspective")
    parser.add_argument("--aspects", action="store_true", help="list the perspectives and exit")
    parser.add_argument("--example", action="store_true", help="analyse an example painting critic draws itself")
    parser.add_argument("--ask", metavar="QUESTION", help="ask any question instead")
    parser.add_argument("--brief", action="store_true", help="only the essential points")
    parser.add_argument("--lang", metavar="LANGUAGE", help="answer in this language")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default=None,
                        help="text (default on the terminal), json (one record per analysis) or markdown; with "
                             "--out and no --format, the file's extension decides (.md, .txt, else JSON lines)")
    parser.add_argument("--out", metavar="FILE",
                        help="write the results to FILE as they come, in --format: JSON lines are appended, a "
                             "Markdown or text document is rebuilt; a rerun skips what is done")
    parser.add_argument("--facts", action=argparse.BooleanOptionalAction, default=True,
                        help="show the measured facts beside the analysis (default: on)")
    parser.add_argument("--ground", action="store_true",
                        help="put a summary of the measured facts in the prompt (off by default)")
    parser.add_argument("--region", action="append", metavar="X,Y,W,H",
                        help=f"analyse a detail instead of the whole painting: {REGION_HELP}. The crop is cut from "
                             "the file at full resolution and is one more image for the model to encode; its "
                             "record carries the region, the detail's own facts (the claims are checked against "
                             f"them) and how they compare with the whole's. {CROP_NOTE}. Repeat it for several")
    parser.add_argument("--detail", type=int, metavar="N",
                        help=f"analyse an N×N grid of overlapping tiles (2 to {MAX_TILES} a side, each 2/(N+1) of "
                             "the canvas, neighbours sharing half), one result per tile with its region")
    add_generation_flags(parser)
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="with --server: paintings in flight at once (default 4, at most 64); each answer is "
                             "printed whole and recorded as it finishes, so --out JSON lines come in the order "
                             "answers finished (every record has its key; a Markdown or text --out is kept in "
                             "input order); 429, 5xx and timeouts are retried with backoff, honouring Retry-After")
    parser.set_defaults(run=run)


def print_aspects() -> int:
    width = max(len(p.key) for p in PERSPECTIVES)
    print(f"{'(default)':<{width}}  {DEFAULT_QUESTION}")
    for p in PERSPECTIVES:
        print(f"{p.key:<{width}}  {p.name}: {p.focus}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.aspects:
        return print_aspects()
    from critic.analyze.job import AnalyzeJob
    from critic.core.errors import UsageError

    if args.example:
        from critic.example import example_path

        args.images = [*args.images, str(example_path())]
    if not args.images:
        raise UsageError("give at least one image or folder (or --example, --aspects)")
    return AnalyzeJob.from_args(args, generation_settings(args), hardware(args)).run()
