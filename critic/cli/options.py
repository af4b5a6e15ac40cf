"""Flags shared by the verbs that run the model (analyze, chat)."""

from __future__ import annotations

import argparse


def add_generation_flags(parser: argparse.ArgumentParser, server: bool = True) -> None:
    """--model, (--server), --max-tokens, --temperature, --seed, --threads, --ctx, --no-cache."""
    parser.add_argument("--model", metavar="NAME", help="installed model (default: the default model)")
    if server:
        parser.add_argument("--server", metavar="URL", help="send requests to an OpenAI-compatible server instead")
    parser.add_argument("--max-tokens", type=int, default=512, help="most tokens per answer (default 512)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 (default) decodes greedily")
    parser.add_argument("--seed", type=int, default=None,
                        help="sampling seed; without it each sampled answer (--temperature > 0) draws its own, "
                             "recorded with the answer so it can be reproduced")
    parser.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    parser.add_argument("--ctx", type=int, default=None, help="context size in tokens (default 4096, at least 2048)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither restore nor keep the painting's evaluated prefix (see `critic cache`)")
