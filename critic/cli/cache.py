"""`critic cache`: the persistent prefix cache (paintings' evaluated prompt + image, see critic/engine/prefix_cache.py)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    parser = sub.add_parser(
        "cache", help="show, bound or clear the cache of paintings already seen",
        description="critic keeps each painting's evaluated system prompt and image on disk, so a later "
                    "question about it skips the vision encoder and the prefill. Entries are removed least "
                    "recently used first when the cache passes its bound.",
        epilog="examples:\n  critic cache info\n  critic cache limit 8      # gigabytes\n  critic cache clear",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("info", "clear", "limit"), nargs="?", default="info",
                        help="info (default): what is kept and the bound; limit GB: set the bound; clear: empty it")
    parser.add_argument("gigabytes", nargs="?", type=float, help="with `limit`: the new bound in GB")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from critic.core.errors import UsageError
    from critic.engine.prefix_cache import PrefixCache, limit_bytes, set_limit

    cache = PrefixCache()
    if args.action == "clear":
        print(f"removed {cache.clear()} cached painting prefix(es) from {cache.folder}")
        return 0
    if args.action == "limit":
        if args.gigabytes is None or args.gigabytes < 0:
            raise UsageError("usage: critic cache limit GB (a number of gigabytes, 0 to keep nothing)")
        set_limit(args.gigabytes)
        cache.limit = limit_bytes()
        removed = cache.evict()
        print(f"cache bound set to {args.gigabytes:g} GB" + (f"; removed {removed} entries" if removed else ""))
        return 0
    entries = cache.entries()
    print(f"{cache.folder}: {len(entries)} painting prefix(es), {amount(cache.size())} of "
          f"{cache.limit / (1 << 30):g} GB")
    return 0


def amount(size: int) -> str:
    """Bytes in the largest unit that leaves at least 1 (B, KB, MB, GB), counted in 1024s as the bound is."""
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"
