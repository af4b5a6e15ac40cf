"""`critic chat [IMAGE]`: talk about a painting in the terminal; `--history` and `--resume` for saved talks."""

from __future__ import annotations

import argparse

from critic.cli.options import add_generation_flags, generation_settings, hardware


def register(sub) -> None:
    parser = sub.add_parser(
        "chat", help="talk about a painting in the terminal",
        description="An interactive conversation about one painting, shown beside it. Follow-up questions "
                    "reuse the painting's encoding; conversations are saved and can be resumed. "
                    "Keys: F2 the overall analysis, F3 then 1-9 one perspective, F4 brief answers on/off, "
                    "Escape stops an answer, ctrl+r regenerates the last answer, ctrl+o opens another painting, "
                    "ctrl+n starts a new conversation, ctrl+y copies the last answer, ctrl+s saves the "
                    "conversation as Markdown (or, to a .html name, as a page with the painting and its facts), "
                    "F5 chooses a detail to ask about (the arrows move the rectangle, shift+arrows resize it, or "
                    "drag it with the mouse; Enter opens it as its own conversation, with the crop shown and its "
                    "facts compared with the whole; ctrl+b goes back to the whole painting; the model was trained "
                    "on whole paintings, so a detail's answer is the model applied to a crop), "
                    "ctrl+p opens the command palette, ctrl+q quits.",
    )
    parser.add_argument("image", nargs="?", metavar="IMAGE", help="the painting (default: pick one in the app)")
    parser.add_argument("--history", action="store_true", help="list saved conversations and exit")
    parser.add_argument("--resume", nargs="?", type=int, const=0, metavar="ID",
                        help="reopen a saved conversation with its painting (default: the latest)")
    add_generation_flags(parser, server=False)
    parser.set_defaults(run=run)


def print_history(history) -> int:
    """One line per saved conversation, the most recent first, and a line that tells it apart."""
    from pathlib import Path

    from critic.core.names import safe_name
    from critic.core.perspectives import DEFAULT_QUESTION

    rows = history.list(skip_question=DEFAULT_QUESTION)
    if not rows:
        print("no saved conversations yet: `critic chat IMAGE` starts one")
        return 0
    print(f"{'ID':>5}  {'updated (UTC)':<16}  {'turns':<8}  {'model':<14} painting")
    for row in rows:
        when = row.updated[:16].replace("T", " ")
        turns = f"{row.turns} turn" + ("" if row.turns == 1 else "s")
        preview = row.first_question or f"the overall analysis of {Path(row.image_path).name}, {when[:10]}"
        preview = safe_name(preview)
        preview = preview if len(preview) <= 70 else preview[:69] + "…"
        painting = safe_name(row.image_path) + (f", detail {safe_name(row.region)}" if row.region else "")
        print(f"{row.id:>5}  {when:<16}  {turns:<8}  {row.model:<14} {painting}\n       “{preview}”")
    print("`critic chat --resume ID` continues one")
    return 0


def run(args: argparse.Namespace) -> int:
    from critic.core.errors import UsageError
    from critic.history import History

    history = History()
    if args.history:
        return print_history(history)
    settings = generation_settings(args)
    resume = None
    if args.resume is not None:
        if args.image:
            raise UsageError("--resume reopens a conversation with its own painting: give no IMAGE with it")
        resume = args.resume or history.latest_id()
        if resume is None:
            raise UsageError("no saved conversations yet: `critic chat IMAGE` starts one")
        history.get(resume)  # an unknown id is a one-line error here, before the screen changes
    if args.image:
        from critic.core.images import load_image

        load_image(args.image)  # a missing or unreadable picture is the same one-line error as in analyze

    from critic.engine import open_engine
    from critic.tui.app import ChatApp  # imports textual-image, which asks the terminal before Textual starts

    def load_engine():
        return open_engine(args.model, n_ctx=args.ctx, hardware=hardware(args), cache=not args.no_cache)

    app = ChatApp(load_engine, args.image, settings=settings,
                  history=history, resume=resume)
    return app.run() or 0
