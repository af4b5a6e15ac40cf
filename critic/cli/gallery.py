"""`critic gallery DIR`: the paintings of a folder as a grid, sorted and filtered by what is measured."""

from __future__ import annotations

import argparse

from critic.cli.options import add_generation_flags, generation_settings, hardware

RESULTS_NAME = "critic-results.jsonl"


def register(sub) -> None:
    parser = sub.add_parser(
        "gallery", help="browse a folder of paintings, analyse and compare them",
        description="A grid of the folder's paintings, each with its palette and value key; beside it the "
                    "selected painting's measured facts, its latest analysis and its latest chat answer. Thumbnails and "
                    "facts are computed in the background and cached by each file's sha256, so a folder opens at "
                    "once the second time. Analyses are read from every critic results file in the folder "
                    "(whatever `critic analyze DIR --out FILE` was named, and a Markdown handout's records), and "
                    "from --results; where several answer the same painting and model, the newest is shown, with "
                    "the file it came from. New analyses are written to --results, the same JSON lines as `critic "
                    "analyze DIR --out RESULTS`, and either command continues the other's. Keys: arrows move, v "
                    "shows the analysis (below the facts), [ and ] scroll the detail pane, a analyses the "
                    "painting, A every painting shown not analysed yet (Escape stops after the one under way), "
                    "Enter talks about it in `critic chat` and comes back, s sorts (name, value key, temperature, "
                    "colourfulness, dominant hue), r reverses, / filters (key=low temperature=warm hue=blue "
                    "colourfulness>40 lightness<50, or part of a name), m marks a painting and c compares it "
                    "with the selected one, q quits.",
    )
    parser.add_argument("folder", metavar="DIR", help="a folder of paintings (searched recursively)")
    parser.add_argument("--results", metavar="FILE",
                        help=f"the results file new analyses are added to, and read with every critic results file "
                             f"in DIR (default: DIR/{RESULTS_NAME})")
    add_generation_flags(parser, server=False)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from critic.core.errors import UsageError

    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder (`critic chat {folder}` talks about one painting)"
                         if folder.is_file() else f"{folder}: no such folder")
    settings = generation_settings(args)  # as `critic analyze` makes them
    from critic.core.images import iter_image_paths

    if not iter_image_paths([folder]):
        raise UsageError(f"no images found in {folder}")
    results = Path(args.results) if args.results else folder / RESULTS_NAME
    if results.is_dir():
        raise UsageError(f"--results {results} is a folder: give a file name")

    from critic import engine
    from critic.tui.gallery import GalleryApp, GalleryState  # imports textual-image, which asks the terminal

    def open_engine(keep_new: bool):
        return lambda: engine.open_engine(args.model, n_ctx=args.ctx, hardware=hardware(args),
                                          cache=not args.no_cache, keep_new=keep_new)

    from critic.history import History

    history = History()
    state = GalleryState()
    while True:
        # A batch keeps no new prefixes (as `critic analyze DIR`); the chat keeps its painting's.
        outcome = GalleryApp(folder, results, open_engine(False), settings=settings, state=state,
                             history=history).run()
        if outcome is None or outcome.chat is None:
            return 0
        from critic.tui.app import ChatApp

        ChatApp(open_engine(True), outcome.chat, settings=settings, history=history).run()
        state = outcome.state
