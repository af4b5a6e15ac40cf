"""LLM providers: any OpenAI-compatible endpoint, described in a TOML file.

    [roles]
    knowledge = "gemini"              # asks "do you know this painting?"
    analysts = ["openai", "gemini"]   # write the analyses (the paper used two)

    [[provider]]
    name = "openai"
    base_url = "https://api.openai.com/v1"
    model = "gpt-4o"
    api_key_env = "OPENAI_API_KEY"    # the variable holding the key; never the key itself
    concurrency = 8                   # requests in flight at once
    price_in = 2.5                    # USD per million prompt tokens
    price_out = 10.0                  # USD per million completion tokens
    batch_price_in = 1.25             # the same through the Batch API (default: half the live price)
    batch_price_out = 5.0
    batch = true                      # `--batch` sends this provider's requests as Batch-API jobs;
                                      # false keeps them live (a local server has no Batch API)
    timeout = 120                     # seconds per request
    response_format = "json_schema"   # how to ask for JSON: json_schema (OpenAI strict),
                                      # json_object (with a schema: llama-cpp-python) or none

A local llama-server or `python -m llama_cpp.server` is a provider with its own base_url and
no api_key_env. Keys are read from the environment only, when the run starts. The prices are
what `--dry-run` and `status` count with: edit them to your provider's current list.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.core.errors import BadData, UsageError

RESPONSE_FORMATS = ("json_schema", "json_object", "none")

# List prices when this was written (USD per million tokens); check your provider's page.
DEFAULT_PROVIDERS_TOML = """\
[roles]
knowledge = "gemini"
analysts = ["openai", "gemini"]

[[provider]]
name = "openai"
base_url = "https://api.openai.com/v1"
model = "gpt-4o"
api_key_env = "OPENAI_API_KEY"
concurrency = 8
price_in = 2.5
price_out = 10.0
batch_price_in = 1.25
batch_price_out = 5.0
response_format = "json_schema"

[[provider]]
name = "gemini"
base_url = "https://generativelanguage.googleapis.com/v1beta/openai/"
model = "gemini-2.0-flash"
api_key_env = "GEMINI_API_KEY"
concurrency = 8
price_in = 0.1
price_out = 0.4
# Gemini's OpenAI-compatible endpoint takes the same Batch-API files and jobs, at half price.
batch_price_in = 0.05
batch_price_out = 0.2
# Gemini's schema dialect differs from OpenAI's strict one; the answers are parsed from
# plain text just as well. Set "json_schema" if your endpoint accepts OpenAI's.
response_format = "none"

# A local server (llama-server, or python -m llama_cpp.server) needs no key:
# [[provider]]
# name = "local"
# base_url = "http://127.0.0.1:8080/v1"
# model = "local"
# concurrency = 1
# response_format = "json_object"
# batch = false
"""


@dataclass(frozen=True)
class Provider:
    """One OpenAI-compatible endpoint and what it costs."""

    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    concurrency: int = 4
    price_in: float = 0.0
    price_out: float = 0.0
    timeout: float = 120.0
    response_format: str = "none"
    params: dict[str, Any] = field(default_factory=dict)
    batch: bool = True
    batch_price_in: float | None = None
    batch_price_out: float | None = None

    def cost(self, tokens_in: int, tokens_out: int, batch: bool = False) -> float:
        """USD for this many prompt and completion tokens, live or through the Batch API
        (half the live price unless the file says otherwise)."""
        if not batch:
            return (tokens_in * self.price_in + tokens_out * self.price_out) / 1e6
        price_in = self.price_in / 2 if self.batch_price_in is None else self.batch_price_in
        price_out = self.price_out / 2 if self.batch_price_out is None else self.batch_price_out
        return (tokens_in * price_in + tokens_out * price_out) / 1e6

    def api_key(self) -> str:
        """The key from the environment; a placeholder for servers that need none."""
        if not self.api_key_env:
            return "no-key"
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise UsageError(
                f"provider '{self.name}' needs an API key in ${self.api_key_env}: export it "
                "(keys are read from the environment only)"
            )
        return key

    def public(self) -> dict[str, Any]:
        """The settings, for run.json (no key, only the variable's name)."""
        return {
            "name": self.name, "base_url": self.base_url, "model": self.model,
            "api_key_env": self.api_key_env, "concurrency": self.concurrency,
            "price_in": self.price_in, "price_out": self.price_out, "timeout": self.timeout,
            "response_format": self.response_format, "params": dict(self.params),
            "batch": self.batch, "batch_price_in": self.batch_price_in, "batch_price_out": self.batch_price_out,
        }


@dataclass(frozen=True)
class Providers:
    """Every provider, and who plays which role."""

    by_name: dict[str, Provider]
    knowledge: str
    analysts: tuple[str, ...]

    def __getitem__(self, name: str) -> Provider:
        return self.by_name[name]

    def used(self) -> list[Provider]:
        """The providers some role needs, in a stable order."""
        names = dict.fromkeys((self.knowledge, *self.analysts))
        return [self.by_name[n] for n in names]


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"batch must be true or false, not {value!r}")
    return value


def _price(value: Any) -> float | None:
    return None if value is None else float(value)


def _provider(table: dict[str, Any], where: str) -> Provider:
    if "api_key" in table:
        raise BadData(
            f"{where}: provider '{table.get('name', '?')}' holds a key in the file; put it in an "
            "environment variable and name that variable with api_key_env"
        )
    known = set(Provider.__dataclass_fields__)
    unknown = sorted(set(table) - known)
    if unknown:
        raise BadData(f"{where}: unknown provider setting {', '.join(unknown)}: allowed are {', '.join(sorted(known))}")
    for key in ("name", "base_url", "model"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise BadData(f"{where}: every [[provider]] needs a '{key}' string")
    fmt = table.get("response_format", "none")
    if fmt not in RESPONSE_FORMATS:
        raise BadData(f"{where}: response_format '{fmt}' of '{table['name']}' must be one of {', '.join(RESPONSE_FORMATS)}")
    try:
        provider = Provider(
            name=table["name"], base_url=table["base_url"], model=table["model"],
            api_key_env=table.get("api_key_env") or None,
            concurrency=int(table.get("concurrency", 4)),
            price_in=float(table.get("price_in", 0.0)), price_out=float(table.get("price_out", 0.0)),
            timeout=float(table.get("timeout", 120.0)), response_format=fmt,
            params=dict(table.get("params", {})),
            batch=_flag(table.get("batch", True)),
            batch_price_in=_price(table.get("batch_price_in")), batch_price_out=_price(table.get("batch_price_out")),
        )
    except (TypeError, ValueError) as err:
        raise BadData(f"{where}: provider '{table['name']}' has a setting of the wrong type ({err})") from None
    if provider.concurrency < 1 or provider.timeout <= 0:
        raise BadData(f"{where}: provider '{provider.name}' needs concurrency >= 1 and timeout > 0")
    return provider


def parse_providers(text: str, where: str = "providers") -> Providers:
    """Providers and roles from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise BadData(f"{where} is not valid TOML ({err}): fix the file") from None
    tables = data.get("provider", [])
    if not isinstance(tables, list) or not tables:
        raise BadData(f"{where} defines no [[provider]] table: add at least one")
    by_name: dict[str, Provider] = {}
    for table in tables:
        provider = _provider(table, where)
        if provider.name in by_name:
            raise BadData(f"{where}: two providers are named '{provider.name}': names must differ")
        by_name[provider.name] = provider
    roles = data.get("roles", {})
    names = list(by_name)
    knowledge = roles.get("knowledge") or ("gemini" if "gemini" in by_name else names[0])
    analysts = roles.get("analysts") or names[:2]
    if isinstance(analysts, str):
        analysts = [analysts]
    for name in (knowledge, *analysts):
        if name not in by_name:
            raise BadData(f"{where}: role names provider '{name}', which is not defined: add a [[provider]] named so")
    if len(set(analysts)) != len(analysts):
        raise BadData(f"{where}: the analysts must be different providers")
    return Providers(by_name, knowledge, tuple(analysts))


def load_providers(path: Path | None) -> Providers:
    """Providers from a TOML file, or the built-in OpenAI + Gemini defaults."""
    if path is None:
        return parse_providers(DEFAULT_PROVIDERS_TOML, "default providers")
    path = Path(path)
    if not path.is_file():
        raise BadData(f"no providers file at {path}: `critic annotate providers > {path.name}` writes one to edit")
    return parse_providers(path.read_text(encoding="utf-8"), str(path))
