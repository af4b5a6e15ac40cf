"""Flags shared by the verbs: those that run the model (analyze, chat, gallery, eval) and their
checks, and the flags a stage's config dataclass generates (train, annotate run)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from critic.engine.base import Hardware, Settings


SEED_HELP = ("sampling seed; without it each sampled answer (--temperature > 0) draws its own, "
             "recorded with the answer so it can be reproduced")


def add_sampling_flags(parser: argparse.ArgumentParser, max_tokens: int = 512, seed: int | None = None,
                       seed_help: str = SEED_HELP) -> None:
    """--max-tokens, --temperature, --seed; `generation_settings` checks them."""
    parser.add_argument("--max-tokens", type=int, default=max_tokens,
                        help=f"most tokens per answer (default {max_tokens})")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 (default) decodes greedily")
    parser.add_argument("--seed", type=int, default=seed, help=seed_help)


def add_generation_flags(parser: argparse.ArgumentParser, server: bool = True) -> None:
    """--model, (--server), --max-tokens, --temperature, --seed, --threads, --gpu-layers, --vision-cpu, --ctx,
    --no-cache."""
    parser.add_argument("--model", metavar="NAME", help="installed model (default: the default model)")
    if server:
        parser.add_argument("--server", metavar="URL", help="send requests to an OpenAI-compatible server instead")
    add_sampling_flags(parser)
    add_hardware_flags(parser)
    parser.add_argument("--ctx", type=int, default=None, help="context size in tokens (default 4096, at least 2048)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither restore nor keep the painting's evaluated prefix (see `critic cache`)")


def add_hardware_flags(parser: Any) -> None:
    """--threads, --gpu-layers, --vision-cpu, --kv-cache: where and how llama.cpp runs the model (`hardware`
    reads them)."""
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads (default: the performance cores generate, every physical core reads "
                             "the prompt)")
    parser.add_argument("--gpu-layers", metavar="auto|all|N",
                        help="LLM layers on the GPU: auto (default: all that fit, none on a CPU build), all, "
                             "0 for CPU only, or a number; also CRITIC_GPU_LAYERS or settings.json")
    parser.add_argument("--vision-cpu", action="store_true",
                        help="keep the vision encoder on the CPU (leaves the GPU's memory to the LLM)")
    parser.add_argument("--kv-cache", choices=("f16", "q8_0"), default="f16",
                        help="the KV cache's type: f16 (default) or q8_0 (about half the memory and cache "
                             "entries, answers slightly different; uses flash attention)")


def hardware(args: argparse.Namespace) -> Hardware:
    """The `Hardware` of `add_hardware_flags`' flags; a one-line UsageError for a bad --gpu-layers or --threads."""
    from critic.core.errors import UsageError
    from critic.engine.base import Hardware
    from critic.engine.offload import parse_gpu_layers

    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise UsageError("--threads must be at least 1")
    layers = getattr(args, "gpu_layers", None)
    return Hardware(threads, parse_gpu_layers(layers) if layers is not None else None,
                    bool(getattr(args, "vision_cpu", False)), getattr(args, "kv_cache", None) or "f16")


def generation_settings(args: argparse.Namespace) -> Settings:
    """The settings of `add_sampling_flags`' flags; a one-line UsageError where they cannot work."""
    from critic.core.errors import UsageError
    from critic.engine.base import Settings

    if args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    if args.temperature < 0:
        raise UsageError("--temperature cannot be negative")
    return Settings(args.max_tokens, args.temperature, seed=args.seed)


def _flag_kwargs(kind: Any, default: Any, help_text: str, metavar: str | None) -> dict:
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


def add_config_flags(parser: Any, config_class: type) -> None:
    """A flag for each field of the dataclass `config_class` with help text in its metadata
    (and "metavar"): --field-name, typed as the field, required where the field has no default.

    Defaults stay the dataclass's, written once: a flag not given sets nothing
    (argparse.SUPPRESS), and `config_flags` returns only the flags that were given.
    """
    import dataclasses
    import typing

    types = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        if "help" not in field.metadata:
            continue
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        default = (None if required else field.default if field.default is not dataclasses.MISSING
                   else field.default_factory())
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, default=argparse.SUPPRESS,
                            required=required, **_flag_kwargs(types[field.name], default, field.metadata["help"],
                                                              field.metadata.get("metavar")))


def config_flags(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """The fields of `config_class` given as flags (see `add_config_flags`), by field name."""
    import dataclasses

    return {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class) if hasattr(args, f.name)}
