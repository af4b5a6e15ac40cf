"""`critic facts IMAGE…`: measured palette, value, temperature and composition, no model needed."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `facts` verb."""
    parser = subparsers.add_parser(
        "facts",
        help="measure a painting's palette, value, colour temperature and composition",
        description=(
            "Measure what is on the canvas with Pillow and numpy: dominant colours with names, "
            "lightness key and contrast, warm/cool balance and colourfulness, where the visual weight "
            "and the detail sit, line directions and left-right symmetry. No model is used."
        ),
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON, one object per line")
    parser.add_argument("--k", type=int, default=None, metavar="N", help="palette size, 1–12 (default: automatic)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Measure each image; a bad one is reported on stderr and the others still measured."""
    from critic.core.errors import BadImage, UsageError
    from critic.core.images import iter_image_paths, load_image
    from critic.core.names import safe_name
    from critic.facts import facts_paragraph, measure
    from critic.facts.palette import MAX_K
    from critic.facts.working import WORK_SIDE

    if args.k is not None and not 1 <= args.k <= MAX_K:
        raise UsageError(f"--k must be between 1 and {MAX_K} (or left out for an automatic palette)")
    paths = iter_image_paths(args.images)
    if not paths:
        raise UsageError(f"no images found in {', '.join(args.images)}")
    console = None
    if args.format == "text":
        from rich.console import Console

        from critic.facts.render import render_facts

        console = Console()
    failed: BadImage | None = None
    for path in paths:
        try:
            # A JPEG decodes at 1/2–1/8 scale straight away: measures run on 320 px anyway.
            loaded = load_image(path, draft=2 * WORK_SIDE)
        except BadImage as err:
            if len(paths) == 1:
                raise
            print(f"critic: error: {safe_name(err)}", file=sys.stderr)
            failed = err
            continue
        facts = measure(loaded.image, k=args.k)
        if console is None:
            record = {"path": str(path), **facts.to_dict(), "paragraph": facts_paragraph(facts)}
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            console.print(render_facts(facts, title=safe_name(path), colour=console.color_system is not None))
    return failed.exit_code if failed else 0
