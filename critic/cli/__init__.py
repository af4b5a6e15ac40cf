"""The one `critic` command: git-style verbs, each in its own module.

A verb module defines `register(subparsers)` and `run(args) -> int`. Modules import only
the standard library and critic's light core at import time; heavy packages (llama_cpp,
torch, transformers) are imported inside `run`, so `critic --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from critic import __version__
from critic.cli.examples import add_examples
from critic.core.errors import CriticError
from critic.core.names import safe_name

VERBS: tuple[str, ...] = ("analyze", "chat", "gallery", "report", "facts", "models", "cache", "doctor", "convert",
                          "train", "annotate", "eval")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every verb registered."""
    parser = argparse.ArgumentParser(
        prog="critic",
        description="Formal analysis of paintings, offline, with GalleryGPT through llama.cpp.",
    )
    parser.add_argument("--version", action="version", version=f"critic {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        module = importlib.import_module(f"critic.cli.{verb}")
        module.register(sub)
    add_examples(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; map typed errors to one line on stderr and an exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:  # `critic` alone: what it can do, with examples
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except CriticError as err:
        print(f"critic: error: {safe_name(err)}", file=sys.stderr)  # one line, whatever names it holds
        return err.exit_code
    except KeyboardInterrupt:
        print("critic: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
