"""`critic train`: fine-tune GalleryGPT's LoRA and projector (needs the 'train' extra).

Every field of the training config (train/config.py) is a flag that overrides the config
file; the flags are generated from the dataclass, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse

from critic.cli.options import add_config_flags, config_flags


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `critic train`."""
    # train.config is standard library only: the flags come from the dataclass itself.
    from critic.train.config import TrainConfig

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
    add_config_flags(parser.add_argument_group("settings (each overrides the config file)"), TrainConfig)
    parser.set_defaults(run=run)


def convert_command(config, adapter) -> str:
    """The `critic convert` line that turns the adapter at `adapter` into GGUF files critic runs."""
    import shlex

    words = ["critic", "convert", str(config.base)]
    if config.vision_tower:
        words += ["--vision-tower", str(config.vision_tower)]
    words += ["--lora", str(adapter), "--out", f"{adapter}-gguf"]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    """Resolve the config and train (torch, peft and accelerate are imported only now)."""
    from critic.core.errors import require

    for module in ("torch", "transformers", "peft", "accelerate"):
        require(module, "train")
    from critic.train.config import TrainConfig
    from critic.train.loop import resolve_config, train

    config = resolve_config(args.config, config_flags(args, TrainConfig), args.resume)
    result = train(config, resume=args.resume, show_progress=not args.no_progress)
    print(result.report.summary())
    if result.resumed_from and result.resumed_from >= result.steps:
        print(f"{result.out}: the run had already finished ({result.steps} steps)")
    else:
        print(f"{result.out}: adapter after {result.steps} steps; convert it with `{convert_command(config, result.out)}`")
    return 0
