"""The model manifest (`critic.json`): what critic trusts about a pair of GGUF files.

`critic convert` writes it; `critic models add` copies it into the registry. Paths in
`files` are relative to the manifest's folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from critic.core.errors import BadModelFile
from critic.core.prompt import PROMPT_FORMAT

MANIFEST_NAME = "critic.json"
SCHEMA = 1


@dataclass
class ModelFile:
    """One GGUF file of a model."""

    path: str
    sha256: str
    size: int
    quantization: str


@dataclass
class Manifest:
    """Name, files and the facts needed to prompt and preprocess for one model."""

    name: str
    llm: ModelFile
    mmproj: ModelFile
    prompt_format: str = PROMPT_FORMAT
    image: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    class_token_layout: str = "rotated"
    patch0: ModelFile | None = None
    """With the ``exact`` layout: the second mmproj that yields patch 0 (convert/mmproj_gguf.py)."""
    tokenizer_legacy: bool = False
    schema: int = SCHEMA

    @property
    def quantization(self) -> str:
        """The LLM's quantization, the one that matters for quality and size."""
        return self.llm.quantization

    def to_json(self) -> str:
        """The manifest as pretty JSON."""
        data = asdict(self)
        data["files"] = {"llm": data.pop("llm"), "mmproj": data.pop("mmproj")}
        patch0 = data.pop("patch0")
        if patch0:
            data["files"]["patch0"] = patch0
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        """Read `critic.json` (or the folder holding it); raise BadModelFile naming the problem."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_NAME
        try:
            data = json.loads(path.read_text())
            files = data.pop("files")
            data.pop("schema", None)
            patch0 = ModelFile(**files["patch0"]) if files.get("patch0") else None
            return cls(llm=ModelFile(**files["llm"]), mmproj=ModelFile(**files["mmproj"]), patch0=patch0, **data)
        except FileNotFoundError:
            if (path.parent / "critic-export.json").exists():  # written by `critic convert --to hf`
                raise BadModelFile(f"{path.parent}: a transformers folder for serving engines (docs/serving.md), "
                                   "not GGUF files; make those with `critic convert` without --to hf") from None
            raise BadModelFile(f"{path}: no manifest; make the folder with `critic convert`") from None
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
            raise BadModelFile(f"{path}: not a critic manifest ({err.__class__.__name__}: {err})") from None

    @property
    def files(self) -> list[ModelFile]:
        """Every file of the model."""
        return [self.llm, self.mmproj] + ([self.patch0] if self.patch0 else [])

    def file_paths(self, folder: Path) -> tuple[Path, Path]:
        """Absolute paths of the LLM and mmproj files."""
        return folder / self.llm.path, folder / self.mmproj.path

    def patch0_path(self, folder: Path) -> Path | None:
        """Absolute path of the patch-0 mmproj, if the model has one."""
        return folder / self.patch0.path if self.patch0 else None
