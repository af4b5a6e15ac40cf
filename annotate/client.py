"""One chat request to one provider, retried until it gives a usable answer or a final failure.

The openai client's own retries are switched off (max_retries=0) and done here instead (for
the Files and Batches calls of `--batch` too, through `Caller.request`),
because this loop must also retry answers that parse badly (same budget, same backoff), take
a backoff base small enough for tests, honour any Retry-After a server sends, stop at once when
the run is cancelled, and report how many tries an answer took. That is a dozen lines on top
of the client's typed errors; no retry library covers the parse step and Retry-After together.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from critic.annotate.prompts import Malformed
from critic.annotate.providers import Provider
from critic.core.errors import ServerError

RETRY_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
FATAL_STATUS = frozenset({401, 403, 404})
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before asking again."""

    retries: int = 5
    base: float = 1.0
    cap: float = 60.0
    max_retry_after: float = 600.0

    def delay(self, failures: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after the `failures`-th failed try (1-based)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.cap, self.base * 2 ** (failures - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)  # exponential, half of it jitter


@dataclass(frozen=True)
class Outcome:
    """What a request finally gave."""

    ok: bool
    value: Any = None
    text: str | None = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tries: int = 0
    seconds: float = 0.0


class Cancelled(Exception):
    """The run is stopping; the request was abandoned and nothing was stored."""


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date), if sent."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class Caller:
    """Sends requests to one provider through the openai client, with retries."""

    def __init__(
        self,
        provider: Provider,
        policy: RetryPolicy,
        stop: threading.Event,
        rng: random.Random | None = None,
    ) -> None:
        from openai import OpenAI  # the annotate extra

        self.provider = provider
        self.policy = policy
        self.stop = stop
        self.rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._key = provider.api_key()
        self._client = OpenAI(
            base_url=provider.base_url, api_key=self._key, timeout=provider.timeout, max_retries=0
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _clean(self, text: str) -> str:
        return redact(" ".join(str(text).split()), [self._key])[:300]

    def _send(self, body: dict[str, Any]) -> tuple[str, int, int]:
        """One HTTP request; the reply text and token counts, or an exception."""
        rest = {k: v for k, v in body.items() if k not in ("model", "messages")}
        response = self._client.chat.completions.create(
            model=body["model"], messages=body["messages"], extra_body=rest
        )
        choices = getattr(response, "choices", None)
        if not choices:
            raise Malformed("the reply has no choices")
        message = getattr(choices[0], "message", None)
        text = getattr(message, "content", None)
        if not isinstance(text, str):
            raise Malformed("the reply has no text content")
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        return text, tokens_in, tokens_out

    def _describe(self, err: Exception) -> tuple[str, float | None, bool]:
        """What went wrong: (message, Retry-After seconds, worth retrying); ServerError when
        nothing else can succeed either (a bad key, a missing model or endpoint)."""
        import openai

        if isinstance(err, Malformed):
            return f"malformed answer: {self._clean(str(err))}", None, True
        if isinstance(err, (json.JSONDecodeError, openai.APIResponseValidationError)):
            return f"malformed response body: {self._clean(str(err))}", None, True
        if isinstance(err, openai.APITimeoutError):
            return f"timed out after {self.provider.timeout:g} s", None, True
        if isinstance(err, openai.APIConnectionError):
            return f"connection failed: {self._clean(str(err.__cause__ or err))}", None, True
        if not isinstance(err, openai.APIStatusError):
            raise err
        code = err.status_code
        detail = err.body.get("message") if isinstance(err.body, dict) else None
        message = self._clean(detail or err.message)
        if code in FATAL_STATUS:
            what = {401: "rejected the API key", 403: "refused access", 404: "has no such model or endpoint"}[code]
            hint = (f"check ${self.provider.api_key_env}" if code in (401, 403) and self.provider.api_key_env
                    else "check base_url and model in the providers file")
            raise ServerError(f"provider '{self.provider.name}' {what} (HTTP {code}: {message}): {hint}") from None
        return f"HTTP {code}: {message}", retry_after_seconds(err.response.headers), code in RETRY_STATUS

    def _pause(self, tries: int, retry_after: float | None) -> None:
        """Wait before the next try; Cancelled if the run stops meanwhile."""
        with self._rng_lock:
            wait = self.policy.delay(tries, retry_after, self.rng)
        if self.stop.wait(wait):
            raise Cancelled()

    def ask(self, body: dict[str, Any], parse: Callable[[str], Any]) -> Outcome:
        """Send `body` until `parse` accepts the reply or the retries run out.

        A provider's fault ends as a failed Outcome, never an exception; only ServerError (a
        bad key, a missing model: nothing else can succeed either) and Cancelled escape.
        """
        import openai

        started = time.monotonic()
        tokens_in = tokens_out = 0
        last_text: str | None = None
        error = ""
        tries = 0
        for tries in range(1, self.policy.retries + 2):
            if self.stop.is_set():
                raise Cancelled()
            try:
                text, t_in, t_out = self._send(body)
                tokens_in += t_in
                tokens_out += t_out
                last_text = text
                value = parse(text)
                return Outcome(True, value, text, None, tokens_in, tokens_out, tries,
                               time.monotonic() - started)
            except (Malformed, json.JSONDecodeError, openai.OpenAIError) as err:
                error, retry_after, again = self._describe(err)
            if not again or tries > self.policy.retries:
                break
            self._pause(tries, retry_after)
        return Outcome(False, None, last_text, error, tokens_in, tokens_out, tries,
                       time.monotonic() - started)

    def request(self, what: str, call: Callable[[Any], T], not_found: str | None = None) -> T:
        """`call(client)`, a Files or Batches operation, retried as chat requests are; a
        ServerError saying it could not `what` when the retries run out (`not_found`: the
        message for an HTTP 404, when that means something more precise)."""
        import openai

        error = ""
        for tries in range(1, self.policy.retries + 2):
            if self.stop.is_set():
                raise Cancelled()
            try:
                return call(self._client)
            except openai.NotFoundError:
                if not_found is None:
                    raise ServerError(f"provider '{self.provider.name}' could not {what}: not found (HTTP 404)") from None
                raise ServerError(not_found) from None
            except (json.JSONDecodeError, openai.OpenAIError) as err:
                error, retry_after, again = self._describe(err)
            if not again or tries > self.policy.retries:
                break
            self._pause(tries, retry_after)
        raise ServerError(f"provider '{self.provider.name}' could not {what}: {error}: rerun to try again")
