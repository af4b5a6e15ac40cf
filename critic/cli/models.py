"""`critic models add|list|show|rm|default|pull|build|push`: the model registry (getting models from a
hub or the release: critic/cli/models_get.py)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    parser = sub.add_parser("models", help="install, list and remove models",
                            description="Manage the GalleryGPT models critic can run.")
    verbs = parser.add_subparsers(dest="models_verb", metavar="ACTION")
    verbs.required = True
    add = verbs.add_parser("add", help="register a folder made by `critic convert`, or two GGUF files")
    add.add_argument("folder", nargs="?", help="a folder made by `critic convert` (with critic.json)")
    add.add_argument("--llm", metavar="FILE", help="LLM GGUF (with --mmproj and --name)")
    add.add_argument("--mmproj", metavar="FILE", help="mmproj GGUF")
    add.add_argument("--patch0", metavar="FILE",
                     help="with --llm/--mmproj: the exact layout's patch-0 mmproj (NAME.mmproj-patch0-F16.gguf "
                          "from `critic convert`), given beside its main mmproj")
    add.add_argument("--name", help="name to register under")
    add.add_argument("--force", action="store_true", help="replace a model of the same name")
    add.add_argument("--no-default", action="store_true", help="do not make it the default")
    verbs.add_parser("list", help="installed models")
    show = verbs.add_parser("show", help="what a model is: files, sizes, layout, where it came from")
    show.add_argument("name", nargs="?", help="the model (default: the default model)")
    show.add_argument("--json", action="store_true", help="the whole manifest as JSON")
    rm = verbs.add_parser("rm", help="remove a model")
    rm.add_argument("name", help="the model's name (or, for a broken one, its folder's name)")
    default = verbs.add_parser("default", help="show the default model, or set it")
    default.add_argument("name", nargs="?", help="the model to make the default (none: show the current one)")
    from critic.cli.models_get import register_get

    register_get(verbs)
    parser.set_defaults(run=run)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _files_state(problems: list[str]) -> str:
    """ok; CHANGED (only dates moved: the bytes may be the same); DAMAGED (missing or another size)."""
    if not problems:
        return "ok"
    return "CHANGED" if all("changed since" in p for p in problems) else "DAMAGED"


def run(args: argparse.Namespace) -> int:
    from critic.core.errors import UsageError
    from critic.engine import registry

    verb = args.models_verb
    if verb in ("pull", "build", "push"):
        from critic.cli.models_get import run_get

        return run_get(args)
    if verb == "add":
        if args.folder and (args.llm or args.mmproj):
            raise UsageError("give a folder, or --llm and --mmproj, not both")
        if args.folder:
            model = registry.add_folder(args.folder, args.name, args.force)
        elif args.llm and args.mmproj and args.name:
            model = registry.add_files(args.llm, args.mmproj, args.name, args.force, patch0=args.patch0)
        else:
            raise UsageError("give a folder made by `critic convert`, or --llm FILE --mmproj FILE --name NAME "
                             "(and --patch0 FILE for the exact layout)")
        if not args.no_default and registry.default_name() is None:
            registry.set_default(model.name)
        print(f"installed {model.name} ({model.manifest.quantization}, {_size(model.size)}) in {model.folder}")
        return 0
    if verb == "list":
        from rich.console import Console
        from rich.table import Table

        models, damaged = registry.installed(), registry.broken()
        if not models and not damaged:
            print(registry.INSTALL_HINT)
            return 0
        default = registry.default_name()
        console = Console(highlight=False)
        if models:
            table = Table(box=None, pad_edge=False)
            for column in ("", "name", "quantization", "mmproj", "image tokens", "size", "files"):
                table.add_column(column)
            problems = {m.name: registry.file_problems(m) for m in models}
            for m in models:
                table.add_row("*" if m.name == default else "", m.name, m.manifest.quantization,
                              m.manifest.mmproj.quantization, m.manifest.class_token_layout, _size(m.size),
                              _files_state(problems[m.name]))
            console.print(table)
            if default:
                console.print("* the default model, used when --model is not given")
            for m in models:
                state = _files_state(problems[m.name])
                if state != "ok":
                    fix = ("install it again (`critic models add DIR --force` or `critic models pull REF --force`)"
                           if state == "DAMAGED" else "its sha256 is checked when it is next used")
                    console.print(f"{state} {m.name}: {'; '.join(problems[m.name])} (sizes and dates read, not "
                                  f"checksums); {fix}", markup=False, soft_wrap=True)
        for bad in damaged:
            console.print(f"BROKEN {bad.folder.name}: {bad.reason}; {bad.fix}", markup=False, soft_wrap=True)
        return 0
    if verb == "show":
        model = registry.find(args.name)
        if args.json:
            print(model.manifest.to_json(), end="")
            return 0
        m = model.manifest
        print(f"{m.name}  ({'default' if m.name == registry.default_name() else 'installed'} model, "
              f"{_size(model.size)}, in {model.folder})")
        for role, entry in (("LLM", m.llm), ("mmproj", m.mmproj), ("patch-0 mmproj", m.patch0)):
            if entry:
                print(f"  {role:<15}{entry.path}  {entry.quantization}  {_size(entry.size)}  sha256 {entry.sha256[:16]}…")
        fitted = {"pad": "padded to a square and resized to", "crop": "resized and centre-cropped to"}
        print(f"  {'image tokens':<15}{m.class_token_layout}; pictures "
              f"{fitted.get(m.image.get('preprocess', 'pad'), 'fitted to')} {m.image.get('size')} px")
        print(f"  {'prompt':<15}{m.prompt_format}, tokenizer legacy {str(m.tokenizer_legacy).lower()}")
        for key, value in m.source.items():
            if value:
                print(f"  {'source ' + key:<14} {value}")  # at least one space after a long key
        return 0
    if verb == "rm":
        registry.remove(args.name)
        print(f"removed {args.name}")
        return 0
    if verb == "default" and not args.name:
        name = registry.default_name()
        print(f"default model: {name}" if name else "no default model: `critic models default NAME` sets one")
        return 0
    if verb == "default":
        registry.set_default(args.name)
        print(f"default model: {args.name}")
        return 0
    raise UsageError(f"unknown action {verb}")
