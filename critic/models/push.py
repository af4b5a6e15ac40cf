"""`critic models push DIR OWNER/REPO`: a converted model onto a hub, with a model card, so others pull it.

DIR is a folder made by `critic convert` (or an installed model's name). Its files are checked
against its manifest first, then uploaded in one commit under a sub-folder named by the LLM's
quantization (``Q4_K_M/critic.json``, ``Q4_K_M/*.gguf``), so several quantizations share one
repository and `critic models pull hf:OWNER/REPO:Q8_0` picks one. The repository's ``README.md``
is the model card: the files with their sha256, and the provenance the manifest records (source
repositories and revisions, the LoRA's sha256, the quantization, the verify figures).
"""

from __future__ import annotations

from pathlib import Path

from critic import __version__
from critic.core.errors import UsageError
from critic.core.manifest import MANIFEST_NAME, Manifest
from critic.engine import registry


def resolve_folder(text: str) -> Path:
    """DIR as given: a folder with critic.json, or the folder of the installed model of that name."""
    folder = Path(text)
    if folder.is_dir():
        return folder
    return registry.find(text).folder


def model_card(manifest: Manifest, repo: str, quants: list[str]) -> str:
    """The README.md of the repository: what it holds, where it came from, how to get it."""
    src = manifest.source
    lines = [
        "---",
        "tags: [gguf, llava, critic, art]",
        *([f"base_model: {src['base_repo']}"] if src.get("base_repo") else []),
        "---",
        f"# {repo.split('/')[-1]}",
        "",
        "GalleryGPT (a LLaVA-1.5 model: ShareGPT4V-7B with the GalleryGPT LoRA merged) as GGUF files for "
        "[critic](https://pypi.org/project/critic/)'s offline formal analysis of paintings, made by "
        f"critic {src.get('critic_version', __version__)}.",
        "",
        "```sh",
        *[f"critic models pull hf:{repo}:{q}" for q in quants],
        "```",
        "",
        f"## {manifest.quantization}",
        "",
        "| file | role | type | bytes | sha256 |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for role, entry in (("LLM", manifest.llm), ("mmproj", manifest.mmproj), ("patch-0 mmproj", manifest.patch0)):
        if entry:
            lines.append(f"| {entry.path} | {role} | {entry.quantization} | {entry.size} | `{entry.sha256}` |")
    fitted = {"pad": "padded to a square and resized to", "crop": "resized and centre-cropped to"}
    lines += ["", f"Image tokens: `{manifest.class_token_layout}` layout; pictures "
                  f"{fitted.get(manifest.image.get('preprocess', 'pad'), 'fitted to')} {manifest.image.get('size')} px; "
                  f"prompt `{manifest.prompt_format}`.", "", "### Provenance", ""]
    for key, value in src.items():
        if key == "verify" and isinstance(value, dict):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} `{v}`" for k, v in value.items())
        lines.append(f"- {key.replace('_', ' ')}: {value}")
    verify = src.get("verify")
    if isinstance(verify, dict):
        lines += ["", "### Checked against transformers (`critic convert verify`)", ""]
        lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in verify.items()]
    return "\n".join(lines) + "\n"


def push(folder: Path, repo: str, private: bool = False, show_progress: bool = True) -> str:
    """Upload `folder` to `repo` (created if missing); return the commit's address."""
    from critic.models.hub import _hub, endpoint, hub_errors, progress_bars

    hub = _hub()
    manifest = Manifest.read(folder / MANIFEST_NAME)
    registry.verify_files(folder, manifest)
    if "/" not in repo:
        raise UsageError(f"'{repo}': give the repository as OWNER/REPO")
    api = hub.HfApi(endpoint=endpoint())
    prefix = manifest.quantization
    progress_bars(show_progress)
    with hub_errors(repo):
        api.create_repo(repo, private=private, exist_ok=True)
        existing = [f for f in api.list_repo_files(repo) if f.endswith("/" + MANIFEST_NAME)]
        quants = sorted({f.split("/")[0] for f in existing} | {prefix})
        card = model_card(manifest, repo, quants)
        ops = [hub.CommitOperationAdd(f"{prefix}/{entry.path}", str(folder / entry.path))
               for entry in manifest.files]
        ops += [hub.CommitOperationAdd(f"{prefix}/{MANIFEST_NAME}", manifest.to_json().encode()),
                hub.CommitOperationAdd("README.md", card.encode())]
        info = api.create_commit(repo, ops, commit_message=f"{manifest.name} ({prefix}) from critic {__version__}")
    progress_bars(True)
    return info.commit_url
