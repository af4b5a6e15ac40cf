"""`critic models add|list|show|rm|default`: the model registry."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    parser = sub.add_parser("models", help="install, list and remove models",
                            description="Manage the GalleryGPT models critic can run.")
    verbs = parser.add_subparsers(dest="models_verb", metavar="ACTION")
    verbs.required = True
    add = verbs.add_parser("add", help="register a folder made by `critic convert`, or two GGUF files")
    add.add_argument("folder", nargs="?", help="folder with critic.json")
    add.add_argument("--llm", metavar="FILE", help="LLM GGUF (with --mmproj and --name)")
    add.add_argument("--mmproj", metavar="FILE", help="mmproj GGUF")
    add.add_argument("--name", help="name to register under")
    add.add_argument("--force", action="store_true", help="replace a model of the same name")
    add.add_argument("--no-default", action="store_true", help="do not make it the default")
    verbs.add_parser("list", help="installed models")
    show = verbs.add_parser("show", help="a model's manifest")
    show.add_argument("name", nargs="?")
    rm = verbs.add_parser("rm", help="remove a model")
    rm.add_argument("name")
    default = verbs.add_parser("default", help="set the default model")
    default.add_argument("name")
    parser.set_defaults(run=run)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def run(args: argparse.Namespace) -> int:
    from critic import registry
    from critic.errors import UsageError

    verb = args.models_verb
    if verb == "add":
        if args.folder and (args.llm or args.mmproj):
            raise UsageError("give a folder, or --llm and --mmproj, not both")
        if args.folder:
            model = registry.add_folder(args.folder, args.name, args.force)
        elif args.llm and args.mmproj and args.name:
            model = registry.add_files(args.llm, args.mmproj, args.name, args.force)
        else:
            raise UsageError("give a folder made by `critic convert`, or --llm FILE --mmproj FILE --name NAME")
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
            for column in ("", "name", "quantization", "mmproj", "image tokens", "size"):
                table.add_column(column)
            for m in models:
                table.add_row("*" if m.name == default else "", m.name, m.manifest.quantization,
                              m.manifest.mmproj.quantization, m.manifest.class_token_layout, _size(m.size))
            console.print(table)
            if default:
                console.print("* the default model, used when --model is not given")
        for bad in damaged:
            console.print(f"BROKEN {bad.folder.name}: {bad.reason}; {bad.fix}", markup=False, soft_wrap=True)
        return 0
    if verb == "show":
        model = registry.find(args.name)
        print(model.manifest.to_json(), end="")
        return 0
    if verb == "rm":
        registry.remove(args.name)
        print(f"removed {args.name}")
        return 0
    if verb == "default":
        registry.set_default(args.name)
        print(f"default model: {args.name}")
        return 0
    raise UsageError(f"unknown action {verb}")
