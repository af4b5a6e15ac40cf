"""`critic report RESULTS.jsonl --html OUT.html`: the analyses as one illustrated, self-contained page."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    parser = sub.add_parser(
        "report", help="write analyses as one illustrated HTML page",
        description="Turn the results of `critic analyze --out` (or of the gallery) into one HTML file that "
                    "needs nothing else: each painting downscaled and embedded, its palette, value histogram "
                    "and composition overlay, the analyses with the sentences the measurements contradict "
                    "marked, and the model and settings that wrote them. The page makes no network request.",
    )
    parser.add_argument("results", nargs="+", metavar="RESULTS", help="JSON lines written by `critic analyze --out`")
    parser.add_argument("--html", required=True, metavar="OUT", help="the HTML file to write")
    parser.add_argument("--title", default="Formal analyses", help="the page's title (default: %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from critic.core.errors import UsageError
    from critic.core.names import safe_name
    from critic.core.store import write_atomic
    from critic.report import records_report
    from critic.report.records import read_results

    out = Path(args.html)
    if out.is_dir():
        raise UsageError(f"--html {out} is a folder: give a file name")
    records: list[dict] = []
    for name in args.results:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"{path}: no such results file (`critic analyze DIR --out {path.name}` writes one)")
        found = read_results(path)
        if path.stat().st_size and not found.keyed:
            raise UsageError(f"{path}: not a file of critic analyze results (JSON lines)")
        for note in found.notes:  # a damaged or edited record: the others still make the report
            print(f"critic: note: {safe_name(note)}", file=sys.stderr)
        records += found.records
    html, shown, failed = records_report(records, args.title, ", ".join(Path(n).name for n in args.results),
                                         base=Path(args.results[0]).resolve().parent)
    if not shown:
        raise UsageError("no finished analyses to report in " + ", ".join(args.results))
    write_atomic(out, html)
    size = len(html.encode())
    print(f"critic: {shown} painting{'s' if shown != 1 else ''} → {safe_name(out)} ({size / 1e6:.1f} MB)"
          + (f"; {failed} failed analyses left out" if failed else ""), file=sys.stderr)
    return 0
