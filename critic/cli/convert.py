"""`critic convert`: a GalleryGPT checkpoint to GGUF files critic runs; `critic convert verify` proves them."""

from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    parser = sub.add_parser(
        "convert", help="make GGUF files from a GalleryGPT/LLaVA checkpoint (needs the convert extra)",
        description="Merge a GalleryGPT LoRA into its LLaVA-1.5 base and write the LLM GGUF, the mmproj GGUF "
                    "and a manifest, or with --to hf a transformers folder for vLLM / SGLang. "
                    "`critic convert verify DIR --reference BASE …` checks either against transformers.",
    )
    parser.add_argument("base", metavar="BASE", help="LLaVA checkpoint folder (original or transformers layout), "
                                                     "or `verify`")
    parser.add_argument("target", nargs="?", metavar="DIR", help="with `verify`: the converted folder")
    parser.add_argument("--vision-tower", metavar="VT", help="CLIP vision tower folder (original layout)")
    parser.add_argument("--lora", metavar="LORA", help="GalleryGPT LoRA folder to merge")
    parser.add_argument("--out", metavar="DIR", help="output folder")
    parser.add_argument("--quant", default="Q4_K_M", help="LLM type: Q4_K_M (default), Q5_K_M, Q8_0, F16")
    parser.add_argument("--mmproj-quant", default="F16", help="mmproj type: F16 (default) or Q8_0")
    parser.add_argument("--name", help="model name (default: the LoRA or base folder's name)")
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
    parser.add_argument("--reference", metavar="BASE", help="with `verify`: the checkpoint to compare against")
    parser.add_argument("--image", metavar="IMAGE", help="with `verify`: painting to use")
    parser.add_argument("--json", metavar="FILE", help="with `verify`: also write the measurements as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from critic.errors import UsageError, require

    require("torch", "convert")
    require("transformers", "convert")
    if args.base == "verify":
        if not args.target or not args.reference:
            raise UsageError("usage: critic convert verify DIR --reference BASE [--vision-tower VT] [--lora LORA]")
        from convert.verify import run_verify

        return run_verify(args.target, args.reference, args.vision_tower, args.lora, args.image, args.json)
    if args.target:
        raise UsageError(f"unexpected argument '{args.target}'; the output folder goes with --out")
    if not args.out:
        raise UsageError("--out DIR is required")
    from convert.pipeline import ConvertConfig, convert

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
