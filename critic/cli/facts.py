"""`critic facts IMAGE…`: measured palette, value, temperature and composition, no model needed."""

from __future__ import annotations

import argparse
import json
import sys

from critic.core.regions import REGION_HELP


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
    parser.add_argument("--region", action="append", metavar="X,Y,W,H",
                        help=f"measure a detail instead, cut from the file at full resolution, and compare it with the "
                             f"whole painting; {REGION_HELP}; repeat it for several")
    parser.set_defaults(run=run)


def _detail_facts(path, regions, k):
    """(label, region record, facts, comparison) for each region of the painting at `path`."""
    from critic.core.regions import cut_detail, load_whole
    from critic.facts import measure
    from critic.facts.detail import compare_to_whole

    whole = load_whole(path)
    whole_facts = measure(whole.image, k=k)
    for region in regions:
        detail = cut_detail(whole, region)
        facts = measure(detail.image.image, k=k)
        yield detail.label, detail.to_dict(), facts, compare_to_whole(facts, whole_facts)


def run(args: argparse.Namespace) -> int:
    """Measure each image; a bad one is reported on stderr and the others still measured."""
    from critic.core.errors import BadImage, BadRegion, UsageError
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
    from critic.core.regions import parse_region

    regions = [parse_region(text) for text in args.region or ()]  # a bad one stops here, before any work
    console = None
    if args.format == "text":
        from rich.console import Console

        from critic.facts.render import render_facts

        console = Console()
    failed: BadImage | BadRegion | None = None
    for path in paths:
        try:
            if regions:
                for label, region, facts, compared in _detail_facts(path, regions, args.k):
                    if console is None:
                        record = {"path": str(path), "region": region, **facts.to_dict(),
                                  "paragraph": facts_paragraph(facts), "compared": compared}
                        print(json.dumps(record, ensure_ascii=False), flush=True)
                    else:
                        console.print(render_facts(facts, title=f"{safe_name(path.name)} — {label}",
                                                   colour=console.color_system is not None))
                        console.print(compared, markup=False, highlight=False)
                continue
            # A JPEG decodes at 1/2–1/8 scale straight away: measures run on 320 px anyway.
            loaded = load_image(path, draft=2 * WORK_SIDE)
        except (BadImage, BadRegion) as err:  # a region outside one painting is that painting's error
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
