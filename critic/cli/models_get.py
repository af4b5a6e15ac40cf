"""`critic models pull|build|push`: getting a model from a hub or from the release, and sharing one.

The work is in critic.models (huggingface_hub and gdown imported there, inside the commands);
this module reads the command line and prints what happened.
"""

from __future__ import annotations

import argparse
import sys

from critic.core.errors import require


def register_get(verbs) -> None:
    """Add pull, build and push to `critic models`."""
    pull = verbs.add_parser(
        "pull", help="download a converted model from a hub repository (or a folder) and install it",
        description="Download a model critic runs (critic.json and its GGUF files, or GGUF files with an "
                    "mmproj), check every file (size, the hub's sha256, the manifest, the GGUF headers), and "
                    "install it under the repository's name. A killed pull resumes; no finished file is "
                    "fetched again. HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are honoured.")
    pull.add_argument("ref", metavar="REF",
                      help="hf:OWNER/REPO[@REVISION][:QUANT], https://huggingface.co/OWNER/REPO, or a folder")
    pull.add_argument("--quant", help="the quantization to take when REF names none (default Q4_K_M if there)")
    pull.add_argument("--name", help="name to install under (default: the repository's or folder's name)")
    pull.add_argument("--force", action="store_true", help="replace an installed model of the same name")

    build = verbs.add_parser(
        "build", help="build GalleryGPT from its release: download, convert, verify, install (resumable)",
        description="Fetch the files conversion needs from ShareGPT4V-7B and its vision tower (the revisions "
                    "are recorded), take the LoRA from a folder, a zip or the authors' Google Drive link, check "
                    "free space first, convert, verify against transformers, and install. Each stage is "
                    "recorded in the work folder's build.json; a rerun after a kill starts at the first "
                    "unfinished one. Needs the convert and hub extras.")
    build.add_argument("recipe", metavar="MODEL", choices=["gallerygpt"], help="what to build: gallerygpt")
    build.add_argument("--lora", metavar="PATH_OR_LINK",
                       help="the GalleryGPT LoRA: a folder, a .zip, or a Google Drive link (default: the "
                            "authors' Drive folder, fetched with gdown)")
    build.add_argument("--quant", default="Q4_K_M", help="LLM type: Q4_K_M (default), Q5_K_M, Q8_0, F16")
    build.add_argument("--name", help="name to install under (default: gallerygpt-q4 for Q4_K_M, and so on)")
    build.add_argument("--work", metavar="DIR", help="work folder for downloads and conversion "
                                                      "(default: build/gallerygpt in critic's data folder)")
    build.add_argument("--no-verify", action="store_true", help="skip the check against transformers")
    build.add_argument("--base-revision", metavar="REV", help="ShareGPT4V-7B's revision (default: main, recorded)")
    build.add_argument("--tower-revision", metavar="REV", help="the vision tower's revision (default: main, recorded)")
    keep = build.add_mutually_exclusive_group()
    keep.add_argument("--delete-checkpoint", action="store_true", dest="delete_checkpoint", default=None,
                      help="delete the downloaded checkpoint once the model is installed")
    keep.add_argument("--keep-checkpoint", action="store_false", dest="delete_checkpoint",
                      help="keep it without asking")
    build.add_argument("--force", action="store_true", help="build again and replace an installed model of that name")

    push = verbs.add_parser(
        "push", help="upload a converted model to a hub repository with a model card",
        description="Check a converted folder against its manifest and upload it in one commit under a folder "
                    "named by its quantization, with a README.md model card recording where it came from (source "
                    "repositories and revisions, the LoRA's sha256, the quantization, the verify figures). "
                    "Needs HF_TOKEN with write access.")
    push.add_argument("folder", metavar="DIR", help="a folder made by `critic convert`, or an installed model's name")
    push.add_argument("repo", metavar="OWNER/REPO", help="the repository (created if missing)")
    push.add_argument("--private", action="store_true", help="create the repository private")


def run_get(args: argparse.Namespace) -> int:
    """Run pull, build or push."""
    require("huggingface_hub", "hub")
    show = sys.stderr.isatty()
    if args.models_verb == "pull":
        from critic.models.hub import gb
        from critic.models.pull import parse_ref, pull

        model = pull(parse_ref(args.ref, args.quant), args.name, args.force, show_progress=show)
        _make_default_if_first(model.name)
        print(f"installed {model.name} ({model.manifest.quantization}, {gb(model.size)}) in {model.folder}")
        return 0
    if args.models_verb == "build":
        require("torch", "convert")
        require("transformers", "convert")
        from critic.models.build import build, stage_table

        model, record = build(args.recipe, args.lora, args.quant, args.name, args.work, not args.no_verify,
                              args.force, args.base_revision, args.tower_revision, args.delete_checkpoint,
                              show_progress=show)
        _make_default_if_first(model.name)
        for stage, size, seconds in stage_table(record):
            print(f"  {stage:<16}{size:>10}  {seconds:>9}")
        print(f"installed {model.name} ({model.manifest.quantization}) in {model.folder}")
        return 0
    from critic.models.push import push, resolve_folder

    url = push(resolve_folder(args.folder), args.repo, args.private, show_progress=show)
    print(f"pushed to {args.repo}: {url}")
    return 0


def _make_default_if_first(name: str) -> None:
    from critic.engine import registry

    if registry.default_name() is None:
        registry.set_default(name)
