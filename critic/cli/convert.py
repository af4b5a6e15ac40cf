"""`critic convert BASE …`: a GalleryGPT checkpoint to GGUF files critic runs (or, with --to hf, a
transformers folder); `critic convert verify DIR …` proves a converted folder against transformers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping


class _AnyWord(Mapping):
    """The subcommands by name, where any word passes argparse's choice check (`_VerbOrBase` routes it)."""

    def __init__(self, verbs: dict) -> None:
        self._verbs = verbs

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        return self._verbs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._verbs)

    def __len__(self) -> int:
        return len(self._verbs)

    def __contains__(self, word: object) -> bool:
        return True


class _VerbOrBase(argparse._SubParsersAction):
    """`critic convert`'s subcommands (`verify`), or, for any other first word, BASE to convert.

    Converting, the common case, keeps its short form `critic convert BASE …`; argparse has no
    default subcommand, so a first word that names no subcommand is BASE and the rest of the line
    is read by `critic convert`'s own options (a checkpoint folder named `verify` is given as ./verify).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.choices = _AnyWord(self._name_parser_map)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if values[0] in self._name_parser_map:
            super().__call__(parser, namespace, values, option_string)
            return
        if namespace.base is not None:
            raise argparse.ArgumentError(self, f"unexpected argument '{values[0]}'; the output folder goes with --out")
        namespace.base = values[0]
        parser.parse_args(values[1:], namespace)


def register(sub) -> None:
    parser = sub.add_parser(
        "convert", help="make GGUF files from a GalleryGPT/LLaVA checkpoint (needs the convert extra)",
        description="Merge a GalleryGPT LoRA into its LLaVA-1.5 base BASE (a LLaVA checkpoint folder, original "
                    "or transformers layout) and write the LLM GGUF, the mmproj GGUF and a manifest, or with "
                    "--to hf a transformers folder for vLLM / SGLang. "
                    "`critic convert verify DIR --reference BASE …` checks either against transformers.",
    )
    verbs = parser.add_subparsers(dest="convert_command", metavar="BASE | verify", action=_VerbOrBase,
                                  help="BASE: the checkpoint folder to convert; or a subcommand:")
    parser.add_argument("--vision-tower", metavar="VT", help="CLIP vision tower folder (original layout)")
    parser.add_argument("--lora", metavar="LORA", help="GalleryGPT LoRA folder to merge")
    parser.add_argument("--out", metavar="DIR", help="output folder")
    parser.add_argument("--quant", default="Q4_K_M", help="LLM type: Q4_K_M (default), Q5_K_M, Q8_0, F16")
    parser.add_argument("--mmproj-quant", default="F16", help="mmproj type: F16 (default) or Q8_0")
    parser.add_argument("--name", help="model name (default: the --out folder's name)")
    parser.add_argument("--layout", choices=("exact", "rotated", "stock"), default="exact",
                        help="image-token layout: exact (default: two mmproj files, every image token as trained), "
                             "rotated (one file for llama-server; patch 0 lost) or stock (see README)")
    parser.add_argument("--allow-other-tower", action="store_true",
                        help="convert with a vision tower other than the one the checkpoint names")
    parser.add_argument("--allow-base-projector", action="store_true",
                        help="convert a LoRA that lacks non_lora_trainables.bin with the base's projector")
    parser.add_argument("--to", choices=("gguf", "hf"), default="gguf",
                        help="gguf (default: critic's and llama.cpp's files) or hf (a transformers "
                             "LlavaForConditionalGeneration folder for vLLM / SGLang; see docs/serving.md)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                        help="with --to hf: weight type (default float32, an exact re-layout; bfloat16 halves it)")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.set_defaults(run=run, base=None)

    verify = verbs.add_parser(
        "verify", help="check a converted folder against the checkpoint with transformers",
        description="Run the converted folder (GGUF files, or a --to hf folder) and the checkpoint it came "
                    "from in transformers on the same painting, and report how closely they agree.",
    )
    verify.add_argument("target", metavar="DIR", help="the converted folder")
    verify.add_argument("--reference", metavar="BASE", required=True, help="the checkpoint to compare against")
    verify.add_argument("--vision-tower", metavar="VT", help="the checkpoint's CLIP vision tower folder")
    verify.add_argument("--lora", metavar="LORA", help="the GalleryGPT LoRA folder that was merged")
    verify.add_argument("--image", metavar="IMAGE", help="painting to use")
    verify.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    verify.add_argument("--kv-cache", choices=("f16", "q8_0"), default="f16",
                        help="the KV cache type the image prompt runs with (q8_0 is held to its own gate too)")
    verify.set_defaults(run=run_verify)


def run(args: argparse.Namespace) -> int:
    from critic.core.errors import UsageError, require

    if args.base is None:
        raise UsageError("give the checkpoint folder: critic convert BASE --out DIR (or `critic convert verify DIR`)")
    if not args.out:
        raise UsageError("--out DIR is required")
    require("torch", "convert")
    require("transformers", "convert")
    from critic.convert.pipeline import ConvertConfig, convert

    out = convert(ConvertConfig(base=args.base, out=args.out, vision_tower=args.vision_tower, lora=args.lora,
                                quant=args.quant, mmproj_quant=args.mmproj_quant, name=args.name,
                                layout=args.layout, force=args.force, allow_other_tower=args.allow_other_tower,
                                allow_base_projector=args.allow_base_projector, to=args.to, dtype=args.dtype),
                  show_progress=sys.stderr.isatty())
    if args.to == "hf":
        print(f"wrote {out}; serve it with vLLM or SGLang (docs/serving.md) and check it with "
              f"`critic convert verify {out} --reference {args.base} ...`")
        return 0
    print(f"wrote {out}; install it with `critic models add {out}`")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """critic convert verify."""
    from critic.core.errors import require

    require("torch", "convert")
    require("transformers", "convert")
    from critic.convert.verify import run_verify as verify

    return verify(args.target, args.reference, args.vision_tower, args.lora, args.image, args.json, args.kv_cache)
