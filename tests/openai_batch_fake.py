"""The Files and Batches endpoints of the OpenAI API, faked on the scripted server (loopback).

Enough of both for the real `openai` client: `files.create` (multipart upload, purpose
"batch"), `files.retrieve`, `files.content`, `batches.create`, `batches.retrieve`,
`batches.list` (newest first, `after`/`limit` paging) and `batches.cancel`. A batch moves
one status per retrieve: validating, in_progress, finalizing, then completed; `hold` keeps
every batch in_progress (a kill while a batch is in flight). Each line is answered when its
batch finishes, through the scripted server's own rules (`ScriptServer.script`: a `Status`
there becomes that line's error, in the error file; a `Reply` its text) and default answer.
Fates queued with `fate()` change what the next created batches do: `Expire(n)` answers the
first n lines and expires the rest (the error file says `batch_expired`), `Fail()` fails
validation. A file over `max_lines` lines or `max_bytes` bytes fails validation as the real
service does. Every call is logged in `calls`; `uploaded` holds every uploaded file.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, urlsplit

STEPS = ("validating", "in_progress", "finalizing", "completed")
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True)
class Expire:
    """The batch answers its first `finished` lines, then its window closes."""

    finished: int


@dataclass(frozen=True)
class Fail:
    """The batch fails validation."""

    message: str = "scripted batch failure"


@dataclass
class Upload:
    """One uploaded file."""

    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def lines(self) -> list[dict[str, Any]]:
        """The JSONL objects it holds."""
        return [json.loads(line) for line in self.data.decode().splitlines() if line.strip()]

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed"}


@dataclass
class FakeBatch:
    """One batch and what the fake has done with it."""

    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, Any] | None
    created_at: int
    fate: Expire | Fail | None
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    cancel_asked: bool = False

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint, "input_file_id": self.input_file_id,
            "completion_window": "24h", "status": self.status, "created_at": self.created_at,
            "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "request_counts": dict(self.counts), "metadata": self.metadata,
        }


class BatchFake:
    """The state behind /v1/files and /v1/batches; `server` is the ScriptServer it answers for."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.hold = False
        self.max_lines = 50_000
        self.max_bytes = 200_000_000
        self.calls: list[tuple[str, str]] = []
        self.files: dict[str, Upload] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.answered: list[tuple[str, str]] = []
        """(batch id, custom_id) of every line answered, in order."""
        self._fates: list[Expire | Fail] = []
        self._lock = threading.Lock()
        self._count = 0

    # -- what tests read and script ------------------------------------------------------------

    def fate(self, *fates: Expire | Fail) -> None:
        """What the next created batches do, in order (then they complete)."""
        with self._lock:
            self._fates.extend(fates)

    @property
    def uploaded(self) -> list[Upload]:
        """Every file uploaded with purpose batch, in order."""
        with self._lock:
            return [f for f in self.files.values() if f.purpose == "batch"]

    def uploaded_ids(self) -> list[str]:
        """The custom_id of every line of every uploaded batch file."""
        return [line["custom_id"] for upload in self.uploaded for line in upload.lines()]

    def named(self, call: str) -> list[str]:
        """The arguments of every logged call of this name ('files.create', 'batches.create'...)."""
        with self._lock:
            return [arg for name, arg in self.calls if name == call]

    # -- HTTP ------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, bytes, str]:
        """Answer one request: (status, body, content type)."""
        parts = urlsplit(path)
        segments = [s for s in parts.path.split("/") if s][1:]  # without "v1"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            result = self._route(method, segments, query, headers, raw)
        except LookupError as err:
            return _error(404, str(err))
        except ValueError as err:
            return _error(400, str(err))
        if isinstance(result, bytes):
            return 200, result, "application/octet-stream"
        return 200, json.dumps(result).encode(), "application/json"

    def _route(self, method: str, seg: list[str], query: dict[str, str], headers: Any, raw: bytes) -> Any:
        if method == "POST" and seg == ["files"]:
            return self._upload(headers.get("Content-Type", ""), raw)
        if method == "GET" and len(seg) == 2 and seg[0] == "files":
            self._log("files.retrieve", seg[1])
            return self._file(seg[1]).info()
        if method == "GET" and len(seg) == 3 and seg[0] == "files" and seg[2] == "content":
            self._log("files.content", seg[1])
            return self._file(seg[1]).data
        if method == "POST" and seg == ["batches"]:
            return self._create(json.loads(raw or b"{}"))
        if method == "GET" and seg == ["batches"]:
            return self._list(query)
        if method == "GET" and len(seg) == 2 and seg[0] == "batches":
            return self._retrieve(seg[1])
        if method == "POST" and len(seg) == 3 and seg[0] == "batches" and seg[2] == "cancel":
            return self._cancel(seg[1])
        raise LookupError(f"no route {method} /v1/{'/'.join(seg)}")

    def _log(self, call: str, arg: str) -> None:
        with self._lock:
            self.calls.append((call, arg))

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._count += 1
            return f"{prefix}-{self._count:04d}"

    def _find(self, table: dict[str, Any], ident: str) -> Any:
        """A file or batch by id; LookupError (HTTP 404) when there is none."""
        with self._lock:
            found = table.get(ident)
        if found is None:
            raise LookupError(f"no such object: {ident}")
        return found

    def _file(self, file_id: str) -> Upload:
        return self._find(self.files, file_id)

    def _upload(self, content_type: str, raw: bytes) -> dict[str, Any]:
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        if "file" not in fields or "purpose" not in fields:
            raise ValueError("a file upload needs 'file' and 'purpose'")
        filename, data = fields["file"]
        upload = Upload(self._next_id("file"), filename or "upload", fields["purpose"][1].decode(), data,
                        int(time.time()))
        with self._lock:
            self.files[upload.id] = upload
            self.calls.append(("files.create", upload.id))
        return upload.info()

    def _store(self, filename: str, lines: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        upload = Upload(self._next_id("file"), filename, "batch_output", data, int(time.time()))
        with self._lock:
            self.files[upload.id] = upload
        return upload.id

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        self._file(body.get("input_file_id", ""))
        if body.get("completion_window") != "24h":
            raise ValueError("completion_window must be 24h")
        with self._lock:
            fate = self._fates.pop(0) if self._fates else None
        batch = FakeBatch(self._next_id("batch"), body["input_file_id"], body.get("endpoint", ""),
                          body.get("metadata"), int(time.time()), fate)
        with self._lock:
            self.batches[batch.id] = batch
            self.calls.append(("batches.create", batch.id))
        return batch.info()

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        self._log("batches.list", query.get("after", ""))
        with self._lock:
            newest_first = list(reversed(self.batches.values()))
        if "after" in query:
            ids = [b.id for b in newest_first]
            newest_first = newest_first[ids.index(query["after"]) + 1:] if query["after"] in ids else []
        limit = int(query.get("limit", 20))
        page = newest_first[:limit]
        return {"object": "list", "data": [b.info() for b in page],
                "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                "has_more": len(newest_first) > limit}

    def _batch(self, batch_id: str) -> FakeBatch:
        return self._find(self.batches, batch_id)

    def _cancel(self, batch_id: str) -> dict[str, Any]:
        self._log("batches.cancel", batch_id)
        batch = self._batch(batch_id)
        if batch.status not in TERMINAL:
            batch.cancel_asked = True
            batch.status = "cancelling"
        return batch.info()

    def _retrieve(self, batch_id: str) -> dict[str, Any]:
        self._log("batches.retrieve", batch_id)
        batch = self._batch(batch_id)
        if batch.status == "cancelling":
            self._finish(batch, "cancelled", 0)
        elif batch.status == "validating":
            self._validate(batch)
        elif batch.status == "in_progress" and not self.hold:
            batch.status = "finalizing"
        elif batch.status == "finalizing":
            if isinstance(batch.fate, Expire):
                self._finish(batch, "expired", batch.fate.finished)
            else:
                self._finish(batch, "completed", None)
        return batch.info()

    def _validate(self, batch: FakeBatch) -> None:
        upload = self._file(batch.input_file_id)
        problem = None
        try:
            lines = upload.lines()
        except json.JSONDecodeError:
            lines, problem = [], "the input file is not JSONL"
        if upload.purpose != "batch":
            problem = "the input file's purpose is not batch"
        elif len(lines) > self.max_lines or len(upload.data) > self.max_bytes:
            problem = f"the input file holds {len(lines)} lines, {len(upload.data)} bytes: over the limit"
        elif len({line.get("custom_id") for line in lines}) != len(lines):
            problem = "custom_id values must be unique"
        elif any(line.get("method") != "POST" or line.get("url") != batch.endpoint for line in lines):
            problem = "every line must POST to the batch's endpoint"
        elif isinstance(batch.fate, Fail):
            problem = batch.fate.message
        batch.counts["total"] = len(lines)
        if problem:
            batch.errors = [{"code": "invalid_request", "message": problem, "param": None, "line": None}]
            batch.status = "failed"
        else:
            batch.status = "in_progress"

    def _finish(self, batch: FakeBatch, status: str, finished: int | None) -> None:
        """Answer the first `finished` lines (None: all), write the output and error files."""
        lines = self._file(batch.input_file_id).lines()
        outputs, errors = [], []
        for number, line in enumerate(lines):
            if finished is not None and number >= finished:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                errors.append({"id": f"batch_req_{number}", "custom_id": line["custom_id"], "response": None,
                               "error": {"code": code, "message": f"not run: the batch was {status}"}})
                continue
            entry = self._answer(number, line)
            (outputs if entry["response"]["status_code"] == 200 else errors).append(entry)
            with self._lock:
                self.answered.append((batch.id, line["custom_id"]))
        batch.counts.update(completed=len(outputs), failed=sum(1 for e in errors if e["response"]))
        if outputs:
            batch.output_file_id = self._store(f"{batch.id}_output.jsonl", outputs)
        if errors:
            batch.error_file_id = self._store(f"{batch.id}_error.jsonl", errors)
        batch.status = status

    def _answer(self, number: int, line: dict[str, Any]) -> dict[str, Any]:
        """One output line, from the scripted server's rules and answers."""
        from openai_script_server import EchoAuth, Reply, Status, completion

        body = line["body"]
        behaviour = self.server._next_behaviour(body)
        request_id = f"req_{number}"
        if isinstance(behaviour, (Status, EchoAuth)):
            code = behaviour.code if isinstance(behaviour, Status) else 401
            message = behaviour.message if isinstance(behaviour, Status) else "scripted key failure"
            response = {"status_code": code, "request_id": request_id,
                        "body": {"error": {"message": message, "type": "scripted"}}}
        else:
            text = behaviour.text if isinstance(behaviour, Reply) else self.server.answer(body)
            response = {"status_code": 200, "request_id": request_id, "body": completion(body, text)}
        return {"id": f"batch_req_{number}", "custom_id": line["custom_id"], "response": response, "error": None}


def _error(code: int, message: str) -> tuple[int, bytes, str]:
    return code, json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode(), \
        "application/json"
