"""The Batch-API file formats: the request lines critic writes and the result lines it reads.

A request line is ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``,
the body being exactly what a live request sends. A result line, in OpenAI's output and error
files and in the output of `vllm run-batch`, is ``{"id", "custom_id", "response": {"status_code",
"request_id", "body"}, "error"}``, in any order. A line whose `error.code` is `batch_expired` or
`batch_cancelled` was never run: it is sent again and costs no try.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from critic.annotate.answer_store import Key
from critic.core.errors import UsageError

ENDPOINT = "/v1/chat/completions"
MAX_LINES = 50_000
MAX_BYTES = 200_000_000
"""OpenAI's limits on one batch input file (200 MB, counted here in decimal megabytes)."""
UNFINISHED = frozenset({"batch_expired", "batch_cancelled"})


def custom_id(key: Key) -> str:
    """A request's id in batch files: its stage and a digest of its store key, so the same
    request always has the same id and two requests never share one."""
    digest = hashlib.sha256("\0".join((key.stage, key.painting, key.provider, key.prompt_sha)).encode())
    return f"{key.stage}-{digest.hexdigest()[:32]}"


def request_line(ident: str, body: dict[str, Any]) -> bytes:
    """One line of a batch input file."""
    line = {"custom_id": ident, "method": "POST", "url": ENDPOINT, "body": body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def split(lines: list[bytes], max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> list[list[int]]:
    """The lines' indexes in consecutive files of at most `max_lines` lines and `max_bytes` bytes."""
    files: list[list[int]] = []
    size = 0
    for i, line in enumerate(lines):
        if len(line) > max_bytes:
            raise UsageError(f"one request is {len(line):,} bytes, more than --batch-max-bytes {max_bytes:,}")
        if not files or len(files[-1]) >= max_lines or size + len(line) > max_bytes:
            files.append([])
            size = 0
        files[-1].append(i)
        size += len(line)
    return files


@dataclass(frozen=True)
class Result:
    """What one result line says about its request."""

    custom_id: str
    text: str | None = None
    error: str | None = None
    unfinished: bool = False
    tokens_in: int = 0
    tokens_out: int = 0


def read_result(row: dict[str, Any]) -> Result:
    """The request's reply text and usage, or why it has none."""
    ident = str(row.get("custom_id", ""))
    error = row.get("error")
    if isinstance(error, dict) and error:
        code = str(error.get("code") or "error")
        return Result(ident, error=f"{code}: {error.get('message') or ''}".strip(), unfinished=code in UNFINISHED)
    if error and not isinstance(error, dict):  # vllm run-batch may give a bare message
        return Result(ident, error=" ".join(str(error).split())[:300])
    response = row.get("response")
    if not isinstance(response, dict):
        return Result(ident, error="the result line has no response")
    body = response.get("body")
    status = response.get("status_code")
    if status != 200:
        message = body.get("error", {}).get("message") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
        return Result(ident, error=f"HTTP {status}: {' '.join(str(message or body).split())[:300]}")
    usage = body.get("usage") if isinstance(body, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    choices = body.get("choices") if isinstance(body, dict) else None
    message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    text = message.get("content") if isinstance(message, dict) else None
    if not isinstance(text, str):
        return Result(ident, error="malformed response body: the reply has no text content", tokens_in=tokens[0],
                      tokens_out=tokens[1])
    return Result(ident, text=text, tokens_in=tokens[0], tokens_out=tokens[1])
