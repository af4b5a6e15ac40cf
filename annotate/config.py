"""What an annotation run is asked to do: one dataclass, saved beside the run's outputs.

Standard library and critic's light core only: `critic annotate run`'s flags are generated
from these fields while the command line is built (as `critic train`'s are from
train/config.py), so a default or help text is written once, here. A field without help
text is not a flag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from critic.core.errors import BadData, UsageError
from critic.core.perspectives import PERSPECTIVES

if TYPE_CHECKING:
    from critic.annotate.batch import BatchSettings
    from critic.annotate.client import RetryPolicy
    from critic.annotate.providers import Providers
    from critic.annotate.stages import Settings

CONFIG_FILE = "run.json"


def _f(default: Any, help: str, metavar: str | None = None) -> Any:
    """A config field with its --help text and the flag's metavar."""
    return field(default=default, metadata={"help": help, "metavar": metavar})


def _required(help: str, metavar: str) -> Any:
    """A config field every run must give (a required flag)."""
    return field(metadata={"help": help, "metavar": metavar})


@dataclass(frozen=True)
class RunConfig:
    """Everything a run was asked to do (saved beside its outputs)."""

    paintings: str = _required("CSV or JSONL with id, title, artist, image, popularity", "FILE")
    images: str = _required("folder the image paths are relative to", "DIR")
    out: str = _required("run folder: answers, train.json, test.json, stats.json", "DIR")
    providers: str | None = _f(None, "providers TOML (default: OpenAI and Gemini)", "FILE")
    test_count: int = _f(5000, "paintings in the test set", "N")
    leak_retries: int = _f(2, "regenerations of an analysis that names the work before it is dropped", "N")
    retries: int = _f(5, "retries of a failed or malformed request", "N")
    backoff: float = _f(1.0, "first retry delay in seconds, doubled each time", "S")
    max_backoff: float = _f(60.0, "longest retry delay", "S")
    timeout: float | None = _f(None, "seconds per request, overriding the providers file", "S")
    max_perspectives: int = _f(5, "perspectives each analyst may name", "N")
    max_tokens: int = _f(512, "longest analysis in tokens", "N")
    limit: int | None = _f(None, "only the first N usable paintings (a trial run)", "N")
    seed: int | None = None
    """Seeds the retry delays' jitter (tests); not a flag."""
    invalid_retries: int = _f(2, "regenerations of an answer that is not an analysis (a refusal, a yes/no, JSON, "
                                 "a list, too short, off topic, not English) or a pick naming no known "
                                 "perspective, before it is dropped and counted", "N")
    batch: bool = _f(False, "send each stage's requests as OpenAI Batch-API jobs (half price, answers within "
                            "24 h; the run waits, and a rerun picks up the batches in flight)")
    batch_files: str | None = _f(None, "write each stage's requests as Batch-API JSONL to DIR without sending "
                                       "(for `vllm run-batch` or another provider), then stop; store the answers "
                                       "with `critic annotate import` and run again", "DIR")
    poll: float = _f(30.0, "seconds between checks on batches in flight", "S")
    batch_max_lines: int = _f(50_000, "most requests in one batch file", "N")
    batch_max_bytes: int = _f(200_000_000, "largest batch file in bytes", "N")

    def check(self) -> None:
        """Raise UsageError for settings that cannot work."""
        if min(self.test_count, self.leak_retries, self.invalid_retries, self.retries) < 0:
            raise UsageError("--test-count, --leak-retries, --invalid-retries and --retries cannot be negative")
        if not 1 <= self.max_perspectives <= len(PERSPECTIVES):
            raise UsageError(f"--max-perspectives must be between 1 and {len(PERSPECTIVES)}")
        if self.backoff < 0 or (self.timeout is not None and self.timeout <= 0):
            raise UsageError("--backoff must be >= 0 and --timeout > 0")
        if self.batch and self.batch_files:
            raise UsageError("give --batch (send batches) or --batch-files (write them), not both")
        if self.poll <= 0 or self.batch_max_lines < 1 or self.batch_max_bytes < 1:
            raise UsageError("--poll, --batch-max-lines and --batch-max-bytes must be positive")

    def settings(self) -> Settings:
        """The stage settings."""
        from critic.annotate.stages import Settings

        return Settings(self.leak_retries, self.max_perspectives, self.max_tokens, self.invalid_retries)

    def batch_settings(self) -> BatchSettings:
        """How the run uses batches (a live run still waits for batches in flight)."""
        from critic.annotate.batch import BatchSettings

        mode, folder = "live", Path(self.out) / "batches"
        if self.batch:
            mode = "remote"
        elif self.batch_files:
            mode, folder = "files", Path(self.batch_files)
        return BatchSettings(mode, folder, self.poll, self.batch_max_lines, self.batch_max_bytes)

    def policy(self) -> RetryPolicy:
        """The retry policy."""
        from critic.annotate.client import RetryPolicy

        return RetryPolicy(self.retries, self.backoff, self.max_backoff)

    def load_providers(self) -> Providers:
        """Providers from the file (or defaults), with --timeout applied."""
        from critic.annotate.providers import load_providers

        providers = load_providers(Path(self.providers) if self.providers else None)
        if self.timeout is None:
            return providers
        by_name = {n: replace(p, timeout=self.timeout) for n, p in providers.by_name.items()}
        return replace(providers, by_name=by_name)

    @classmethod
    def load(cls, out: Path) -> "RunConfig":
        """The config saved in a run folder."""
        path = Path(out) / CONFIG_FILE
        if not path.is_file():
            raise BadData(f"{out} holds no annotate run ({CONFIG_FILE} missing): give the --out folder of a run")
        data = json.loads(path.read_text(encoding="utf-8"))
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.get("config", {}).items() if k in names})
