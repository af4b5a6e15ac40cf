"""The backend interface: a session holds one painting and streams answers to questions.

One real implementation per engine (llama.cpp in-process, an OpenAI-compatible server);
UI tests may script a fake with the same shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator, Protocol


@dataclass(frozen=True)
class Hardware:
    """Where and how llama.cpp runs a model: `--threads`, `--gpu-layers`, `--vision-cpu`, `--kv-cache`."""

    threads: int | None = None
    """Both thread counts; None: the performance cores generate, every physical core reads the prompt."""
    gpu_layers: str | int | None = None
    """``auto``, ``all``, 0 or a number; None: CRITIC_GPU_LAYERS or settings.json, else auto."""
    vision_cpu: bool = False
    """Keep the vision encoder on the CPU (when the GPU is tight)."""
    kv_cache: str = "f16"
    """The KV cache's type: ``f16`` (the default, what the parity gates hold) or ``q8_0`` (about half the
    memory and prefix-cache entries; flash attention, which llama.cpp needs for a quantized V)."""


@dataclass
class Settings:
    """Generation settings: honoured exactly in-process; a server is sent all of them, and one
    that ignores `top_k` or `seed` (fields outside OpenAI's own) cannot be made to honour them."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 0.95
    top_k: int = 40
    seed: int | None = 0
    """None: each answer draws its own seed (recorded in its TurnRecord), so sampling twice differs."""

    def to_dict(self) -> dict:
        return asdict(self)

    def for_answer(self) -> "Settings":
        """These settings with a concrete seed: the given one, or a fresh random one when none was given."""
        if self.seed is not None:
            return self
        import secrets

        return replace(self, seed=secrets.randbelow(1 << 31) if self.temperature > 0 else 0)


@dataclass
class Timings:
    """Where the time of one answer went, in seconds."""

    model_load: float = 0.0
    prefix_restore: float = 0.0
    """Seconds spent restoring the painting's prefix from the cache (0: it was computed)."""
    image_encode: float = 0.0
    """The painting: preprocessing, the vision encoder, and the LLM over its image positions."""
    vision_encode: float = 0.0
    """Of `image_encode`, the vision encoder alone (its CLIP passes; 0 where llama.cpp does both in one call)."""
    prefill: float = 0.0
    first_token: float = 0.0
    generation: float = 0.0
    prompt_tokens: int = 0
    generated_tokens: int = 0

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per second of generation."""
        return self.generated_tokens / self.generation if self.generation > 0 else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tokens_per_second"] = round(self.tokens_per_second, 3)
        return data


@dataclass
class ModelInfo:
    """What a result records about the model that wrote it."""

    name: str
    quantization: str = ""
    sha256: str = ""
    mmproj_sha256: str = ""
    backend: str = "llama.cpp"
    image_layout: str = ""
    """How the image tokens are made: ``exact`` (as trained), ``rotated`` or ``stock`` (one encode)."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Notice:
    """Something the user should be told during a session (e.g. turns dropped)."""

    text: str


@dataclass
class TurnRecord:
    """One finished or interrupted exchange."""

    question: str
    answer: str = ""
    partial: bool = False
    stopped: str = ""  # "eos", "max_tokens" or "cancelled"
    timings: Timings = field(default_factory=Timings)
    seed: int | None = None
    """The sampling seed this answer was drawn with (reproduces it with `--seed`)."""
    runtime: dict = field(default_factory=dict)
    """Where it was computed (backend, device, layers on the GPU, threads): LlamaEngine.runtime."""
    temperature: float | None = None
    """The temperature this answer was drawn at, when not the conversation's own (a regenerated answer
    sampled where the conversation is greedy); None: the conversation's settings."""


def describe_runtime(runtime: dict) -> str:
    """One line saying where answers were computed, from LlamaEngine.runtime ("" for none)."""
    if not runtime:
        return ""
    layers, total = runtime.get("gpu_layers", 0), runtime.get("layers", 0)
    where = (f"{runtime.get('device')}, {layers} of {total} layers on the GPU" if layers
             else "the CPU")
    vision = f", vision on the {runtime.get('vision', 'CPU')}" if layers or runtime.get("vision") == "GPU" else ""
    kv = runtime.get("kv_cache", "f16")
    return (f"llama.cpp ({runtime.get('backend', '?')}) on {where}{vision}, "
            f"{runtime.get('threads')} threads ({runtime.get('threads_batch')} for the prompt)"
            + (f", {kv} KV cache" if kv != "f16" else ""))


class Session(Protocol):
    """A conversation about one painting."""

    turns: list[TurnRecord]
    image_encodes: int
    context_used: int
    context_size: int

    def ask(self, question: str, settings: Settings) -> Iterator[str]:
        """Stream the answer to `question`, piece by piece; closing the iterator stops it."""
        ...

    def rewind(self) -> TurnRecord | None:
        """Forget the last turn and return it; the painting stays."""
        ...

    def close(self) -> None:
        """Release what the session holds."""
        ...


class Engine(Protocol):
    """A loaded model that opens sessions."""

    info: ModelInfo
    load_seconds: float

    def open_session(self, image: Path | None) -> Session:
        """Start a conversation about `image`."""
        ...

    def close(self) -> None:
        """Release the model."""
        ...
