"""A scripted OpenAI-compatible chat server on loopback, for testing clients' fault paths.

It speaks just enough of `GET /v1/models` (one model, "scripted") and
`POST /v1/chat/completions` for the openai client: a normal request
is answered by `answer(body) -> str`; a script queues behaviours (429 with Retry-After, 500,
a reply slower than the client's timeout, a body that is not JSON, a chosen text) consumed,
in order, by the requests whose last user message contains a given substring, so that faults
land on chosen requests even when many are in flight. Every request is logged. The Files and
Batches endpoints are `server.batch_api` (tests/openai_batch_fake.py), answering batch lines
by the same rules.

    with ScriptServer(answer) as server:
        server.script("Starry Night", Status(429, retry_after=1), Reply("..."))
        OpenAI(base_url=server.url, api_key="k").chat.completions.create(...)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from openai_batch_fake import BatchFake


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP error status (and Retry-After seconds, when given)."""

    code: int
    retry_after: float | None = None
    message: str = "scripted failure"


@dataclass(frozen=True)
class Slow:
    """Wait this long before answering normally (past a client's timeout)."""

    seconds: float


@dataclass(frozen=True)
class Malformed:
    """Answer 200 with a body that is not JSON."""

    body: str = '{"id": "cmpl-1", "choices": [{"message": {"content": "trunc'


@dataclass(frozen=True)
class Reply:
    """Answer 200 with this assistant text instead of the default answer."""

    text: str


@dataclass(frozen=True)
class EchoAuth:
    """Answer 401 with a message that repeats the Authorization header, as some servers do."""


Behaviour = Status | Slow | Malformed | Reply | EchoAuth


@dataclass
class Logged:
    """One request as the server saw it."""

    body: dict[str, Any]
    authorization: str
    behaviour: str
    time: float

    @property
    def prompt(self) -> str:
        """The last user message."""
        return last_user_text(self.body)


def last_user_text(body: dict[str, Any]) -> str:
    """The content of the last user message of a chat request."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content)
    return ""


@dataclass
class _Rule:
    match: str
    queue: list[Behaviour] = field(default_factory=list)


class ScriptServer:
    """A ThreadingHTTPServer on 127.0.0.1 (port chosen by the OS) in a background thread."""

    def __init__(self, answer: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.answer = answer or (lambda body: "ok")
        self.delay = 0.0
        self.log: list[Logged] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self.batch_api = BatchFake(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL for an OpenAI client (ends in /v1)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "ScriptServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, match: str, *behaviours: Behaviour) -> None:
        """Queue behaviours for the requests whose last user message contains `match`."""
        with self._lock:
            self._rules.append(_Rule(match, list(behaviours)))

    def clear(self) -> None:
        """Drop the scripted behaviours not used yet."""
        with self._lock:
            self._rules.clear()

    def pending(self) -> int:
        """How many scripted behaviours have not been used yet."""
        with self._lock:
            return sum(len(rule.queue) for rule in self._rules)

    def prompts(self) -> list[str]:
        """The last user message of every request, in arrival order."""
        with self._lock:
            return [entry.prompt for entry in self.log]

    def _next_behaviour(self, body: dict[str, Any]) -> Behaviour | None:
        text = last_user_text(body)
        with self._lock:
            for rule in self._rules:
                if rule.queue and rule.match in text:
                    return rule.queue.pop(0)
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK wait

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _send(self, code: int, payload: bytes, headers: dict[str, str] | None = None,
                      content_type: str = "application/json") -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): nothing to do

            def _batch_api(self, raw: bytes = b"") -> bool:
                """Answer a Files or Batches request; False for any other path."""
                if not self.path.startswith(("/v1/files", "/v1/batches")):
                    return False
                code, payload, content_type = server.batch_api.handle(self.command, self.path, self.headers, raw)
                self._send(code, payload, content_type=content_type)
                return True

            def do_GET(self) -> None:
                if self._batch_api():
                    return
                if self.path.rstrip("/") != "/v1/models":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                self._send(200, json.dumps({"object": "list", "data": [
                    {"id": "scripted", "object": "model", "created": 0, "owned_by": "tests"}]}).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:  # the client was killed mid-request: nothing was asked
                    return
                if self._batch_api(raw):
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                body = json.loads(raw or b"{}")
                model = str(body.get("model", ""))
                behaviour = server._next_behaviour(body)
                with server._lock:
                    server.in_flight[model] = server.in_flight.get(model, 0) + 1
                    server.max_in_flight[model] = max(server.max_in_flight.get(model, 0),
                                                      server.in_flight[model])
                    server.log.append(Logged(body, self.headers.get("Authorization", ""),
                                             type(behaviour).__name__ if behaviour else "answer",
                                             time.monotonic()))
                try:
                    self._respond(body, behaviour)
                finally:
                    with server._lock:
                        server.in_flight[model] -= 1

            def _respond(self, body: dict[str, Any], behaviour: Behaviour | None) -> None:
                if server.delay:
                    time.sleep(server.delay)
                if isinstance(behaviour, Status):
                    headers = {}
                    if behaviour.retry_after is not None:
                        headers["Retry-After"] = f"{behaviour.retry_after:g}"
                    error = {"error": {"message": behaviour.message, "type": "scripted"}}
                    self._send(behaviour.code, json.dumps(error).encode(), headers)
                    return
                if isinstance(behaviour, EchoAuth):
                    message = f"Incorrect API key provided: {self.headers.get('Authorization', '')}"
                    self._send(401, json.dumps({"error": {"message": message}}).encode())
                    return
                if isinstance(behaviour, Malformed):
                    self._send(200, behaviour.body.encode())
                    return
                if isinstance(behaviour, Slow):
                    time.sleep(behaviour.seconds)
                text = behaviour.text if isinstance(behaviour, Reply) else server.answer(body)
                if body.get("stream"):
                    self._stream(body, text)
                    return
                self._send(200, json.dumps(completion(body, text)).encode())

            def _stream(self, body: dict[str, Any], text: str) -> None:
                """Server-sent events: a chunk per word (cut at max_tokens words), the finish
                reason, and the usage when `stream_options.include_usage` asks for it."""
                limit = int(body.get("max_tokens") or 1 << 30)
                words = text.split()
                sent = words[:limit]
                events = [{"choices": [{"index": 0, "delta": {"content": " " + word}, "finish_reason": None}]}
                          for word in sent]
                events.append({"choices": [{"index": 0, "delta": {},
                                            "finish_reason": "length" if len(words) > limit else "stop"}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    events.append({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": len(sent),
                                                            "total_tokens": 7 + len(sent)}})
                payload = "".join(
                    "data: " + json.dumps({"id": "chatcmpl-scripted", "object": "chat.completion.chunk",
                                           "created": 0, "model": body.get("model", "scripted"), **event}) + "\n\n"
                    for event in events) + "data: [DONE]\n\n"
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(payload.encode())))
                    self.end_headers()
                    self.wfile.write(payload.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    """A chat completion response carrying `text`, with usage counted in words."""
    prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": len(text.split()),
            "total_tokens": prompt_words + len(text.split()),
        },
    }
