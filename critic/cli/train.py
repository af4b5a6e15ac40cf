"""`critic train`: fine-tune GalleryGPT's LoRA and projector (needs the 'train' extra).

Every field of the training config (train/config.py) is a flag that overrides the config
file; the flags are generated from the dataclass, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse


def _flag_kwargs(kind, default, help_text: str, metavar: str | None) -> dict:
    """argparse keyword arguments for a config field of type `kind`."""
    import typing

    shown = help_text if default in ("", None, []) else f"{help_text} (default: {default})"
    args = typing.get_args(kind)
    if args and type(None) in args:
        kind = next(a for a in args if a is not type(None))
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction, "help": shown}
    if typing.get_origin(kind) is list:
        return {"nargs": "+", "metavar": "NAME", "help": shown}
    return {"type": kind, "metavar": metavar or kind.__name__.upper(), "help": shown}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `critic train`."""
    import dataclasses

    # train.config is standard library only: the flags come from the dataclass itself.
    from train.config import TrainConfig, field_types

    parser = subparsers.add_parser(
        "train",
        help="fine-tune the LoRA and projector on LLaVA conversation data",
        description="LoRA fine-tuning of a LLaVA-1.5 base as in GalleryGPT (r=128, alpha=256, lr 2e-5, "
        "batch 16, cosine, bf16). Writes an adapter `critic convert --lora` reads. Run under "
        "`accelerate launch` for several GPUs or DeepSpeed (see docs/train.md).",
    )
    parser.add_argument("--config", metavar="FILE", help="JSON, TOML or YAML file of settings; flags override it")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint (same data order and schedule)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    types = field_types()
    group = parser.add_argument_group("settings (each overrides the config file)")
    for field in dataclasses.fields(TrainConfig):
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        group.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, default=argparse.SUPPRESS,
                           **_flag_kwargs(types[field.name], default, field.metadata.get("help", ""),
                                          field.metadata.get("metavar")))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Resolve the config and train (torch, peft and accelerate are imported only now)."""
    import dataclasses

    from critic.errors import require

    for module in ("torch", "transformers", "peft", "accelerate"):
        require(module, "train")
    from train.config import TrainConfig
    from train.loop import resolve_config, train

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    config = resolve_config(args.config, overrides, args.resume)
    result = train(config, resume=args.resume, show_progress=not args.no_progress)
    print(result.report.summary())
    if result.resumed_from and result.resumed_from >= result.steps:
        print(f"{result.out}: the run had already finished ({result.steps} steps)")
    else:
        print(f"{result.out}: adapter after {result.steps} steps; convert it with "
              f"`critic convert --base {config.base} --lora {result.out} ...`")
    return 0
