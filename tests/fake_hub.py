"""A loopback model hub answering the requests the real `huggingface_hub` client makes.

Downloads (as `hf_hub_download` / `snapshot_download` ask, read from huggingface_hub 2.x):
``GET /api/models/{repo}/revision/{rev}`` (the commit ``sha``), ``GET /api/models/{repo}/tree/{rev}``
(``recursive``: files with ``size``, git ``oid`` and, for LFS files, ``lfs: {oid: sha256, size}``),
``HEAD /{repo}/resolve/{rev}/{path}`` (``X-Repo-Commit``, ``ETag`` and, for LFS files, a 302 to a
CDN address with ``X-Linked-Etag`` / ``X-Linked-Size``), and the ``GET`` of either, with ``Range``.
Uploads (as `create_repo` / `upload_folder` ask, with Xet disabled): ``POST /api/repos/create``,
``POST /api/models/{repo}/preupload/{rev}``, the LFS batch ``POST /{repo}.git/info/lfs/objects/batch``
(basic transfer: ``PUT`` the bytes), and ``POST /api/models/{repo}/commit/{rev}`` (NDJSON).

Every file body served is logged (`FakeHub.log`: repo, path, first byte, bytes sent, complete), so a
test can prove a finished file is never sent twice. Faults to inject: `corrupt` (serve other bytes of
the same length under the advertised sha256) and `slow` (send a file in small timed pieces).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".bin", ".gguf", ".safetensors", ".model", ".zip", ".pt", ".pth")
"""What the hub's default .gitattributes stores in LFS (the ones the release and critic's folders use)."""


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob: what the hub gives as `oid` (and ETag) of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    """One model repository at one commit."""

    repo_id: str
    files: dict[str, bytes] = field(default_factory=dict)
    sha: str = ""

    def __post_init__(self) -> None:
        if not self.sha:
            self.new_commit()

    def new_commit(self) -> None:
        """A new commit id from the contents."""
        digest = hashlib.sha1(self.repo_id.encode())
        for path in sorted(self.files):
            digest.update(path.encode() + hashlib.sha256(self.files[path]).digest())
        self.sha = digest.hexdigest()

    def entry(self, path: str) -> dict:
        """The tree listing's entry for one file."""
        data = self.files[path]
        item = {"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)}
        if is_lfs(path):
            item["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return item


def is_lfs(path: str) -> bool:
    """Stored in LFS (sha256-addressed) rather than as a git blob."""
    return path.endswith(LFS_SUFFIXES)


def read_folder(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """Every file under `folder` as {repo path: bytes}."""
    return {prefix + p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class FakeHub:
    """The hub (and its CDN); use as a context manager. `url` is what HF_ENDPOINT should be."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.log: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self.corrupt: set[tuple[str, str]] = set()
        self.slow: dict[tuple[str, str], float] = {}
        self.lfs_store: dict[str, bytes] = {}
        self.commits: list[dict] = []
        self.lock = threading.Lock()
        # The hub and its CDN on two ports: the client follows a redirect off the hub's origin only
        # for the body, and takes the file's metadata from the redirect itself, as with the real CDN.
        self.servers = [ThreadingHTTPServer(("127.0.0.1", 0), _handler(self)) for _ in range(2)]
        for server in self.servers:
            server.daemon_threads = True
        self.url, self.cdn_url = (f"http://127.0.0.1:{s.server_address[1]}" for s in self.servers)
        self.stopping = False

    def __enter__(self) -> "FakeHub":
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping = True
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def add(self, repo_id: str, files: dict[str, bytes], sha: str = "") -> Repo:
        """Serve `files` as `repo_id` (at commit `sha`, or one made from the contents)."""
        self.repos[repo_id] = Repo(repo_id, dict(files), sha)
        return self.repos[repo_id]

    def bodies(self, repo_id: str, path: str) -> list[dict]:
        """The log entries of `path`'s bodies sent, in order."""
        return [e for e in self.log if e["repo"] == repo_id and e["path"] == path]


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        # -- helpers ---------------------------------------------------------------------------
        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head and body:
                self.wfile.write(body)

        def _json(self, status: int, data, headers: dict | None = None, head: bool = False) -> None:
            self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})},
                       head)

        def _error(self, status: int, code: str, message: str, head: bool = False, extra: dict | None = None) -> None:
            self._json(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message, **(extra or {})},
                       head)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _repo(self, repo_id: str, rev: str | None, head: bool = False) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository Not Found for url: {self.path}", head)
                return None
            if rev is not None and unquote(rev) not in ("main", repo.sha):
                self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
                return None
            return repo

        def _serve_bytes(self, repo: Repo, path: str, head: bool, headers: dict) -> None:
            data = repo.files[path]
            if (repo.repo_id, path) in hub.corrupt:
                data = bytes(b ^ 0x5A for b in data)
            start, end = 0, len(data)
            status = 200
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if match and not head:
                start = int(match.group(1))
                end = int(match.group(2)) + 1 if match.group(2) else len(data)
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
            body = data[start:end]
            self.send_response(status)
            for key, value in {"Accept-Ranges": "bytes", **headers}.items():
                self.send_header(key, str(value))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if head:
                return
            entry = {"repo": repo.repo_id, "path": path, "start": start, "sent": 0, "complete": False}
            with hub.lock:
                hub.log.append(entry)
            delay = hub.slow.get((repo.repo_id, path))
            piece = 4096 if delay else 1 << 20
            for offset in range(0, len(body), piece):
                if hub.stopping:
                    return
                chunk = body[offset:offset + piece]
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except OSError:
                    return
                entry["sent"] += len(chunk)
                if delay:
                    time.sleep(delay)
            entry["complete"] = start + entry["sent"] == len(data)

        # -- downloads -------------------------------------------------------------------------
        def do_HEAD(self) -> None:
            self._get(head=True)

        def do_GET(self) -> None:
            self._get(head=False)

        def _get(self, head: bool) -> None:
            url = urlsplit(self.path)
            route = unquote(url.path)
            hub.requests.append(("HEAD" if head else "GET", self.path))
            if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/(.+)", route):
                repo = self._repo(m.group(1), m.group(2), head)
                if repo:
                    self._json(200, {"id": repo.repo_id, "modelId": repo.repo_id, "sha": repo.sha, "private": False,
                                     "siblings": [{"rfilename": p} for p in sorted(repo.files)], "tags": []},
                               head=head)
                return
            if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", route):
                repo = self._repo(m.group(1), m.group(2), head)
                if not repo:
                    return
                recursive = parse_qs(url.query).get("recursive", ["false"])[0].lower() == "true"
                under = (m.group(3) or "").strip("/")
                items, folders = [], set()
                for path in sorted(repo.files):
                    if under and not path.startswith(under + "/"):
                        continue
                    rest = path[len(under) + 1:] if under else path
                    if "/" in rest and not recursive:
                        folders.add((under + "/" if under else "") + rest.split("/")[0])
                        continue
                    parts = path.split("/")
                    folders.update("/".join(parts[:i]) for i in range(1, len(parts)) if recursive)
                    items.append(repo.entry(path))
                items += [{"type": "directory", "path": f, "size": 0, "oid": "0" * 40} for f in sorted(folders)]
                self._json(200, items, head=head)
                return
            if m := re.fullmatch(r"/cdn/([^/]+/[^/]+)/(.+)", route):
                repo = self._repo(m.group(1), None, head)
                if repo and m.group(2) in repo.files:
                    self._serve_bytes(repo, m.group(2), head, {"ETag": f'"{repo.entry(m.group(2))["lfs"]["oid"]}"'})
                elif repo:
                    self._error(404, "EntryNotFound", "no such object", head)
                return
            if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", route):
                repo = self._repo(m.group(1), m.group(2), head)
                if not repo:
                    return
                path = m.group(3)
                if path not in repo.files:
                    self._error(404, "EntryNotFound", f"Entry not found: {path}", head, {"X-Repo-Commit": repo.sha})
                    return
                entry = repo.entry(path)
                if "lfs" in entry:
                    self._send(302, b"", {"Location": f"{hub.cdn_url}/cdn/{repo.repo_id}/{path}",
                                          "X-Repo-Commit": repo.sha, "ETag": f'"{entry["oid"]}"',
                                          "X-Linked-Etag": f'"{entry["lfs"]["oid"]}"',
                                          "X-Linked-Size": entry["size"]}, head)
                    return
                self._serve_bytes(repo, path, head, {"X-Repo-Commit": repo.sha, "ETag": f'"{entry["oid"]}"'})
                return
            self._error(404, "NotFound", f"no route {route}", head)

        # -- uploads ---------------------------------------------------------------------------
        def do_PUT(self) -> None:
            route = unquote(urlsplit(self.path).path)
            hub.requests.append(("PUT", self.path))
            if m := re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", route):
                data = self._body()
                if hashlib.sha256(data).hexdigest() != m.group(1):
                    self._error(400, "BadUpload", "sha256 mismatch")
                    return
                hub.lfs_store[m.group(1)] = data
                self._send(200)
                return
            self._error(404, "NotFound", f"no route {route}")

        def do_POST(self) -> None:
            route = unquote(urlsplit(self.path).path)
            hub.requests.append(("POST", self.path))
            body = self._body()
            if route == "/api/repos/create":
                data = json.loads(body)
                repo_id = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]
                if repo_id in hub.repos:  # the hub's 409 carries the repository's address too
                    self._json(409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"},
                               {"X-Error-Message": "You already created this model repo"})
                    return
                hub.add(repo_id, {})
                self._json(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})
                return
            if route == "/api/validate-yaml":  # a README.md's metadata, checked before a commit
                self._json(200, {"errors": [], "warnings": []})
                return
            if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/preupload/(.+)", route):
                if self._repo(m.group(1), m.group(2)):
                    files = json.loads(body)["files"]
                    self._json(200, {"files": [{"path": f["path"], "uploadMode": "lfs" if is_lfs(f["path"])
                                                else "regular", "shouldIgnore": False} for f in files]})
                return
            if m := re.fullmatch(r"/([^/]+/[^/]+)\.git/info/lfs/objects/batch", route):
                if self._repo(m.group(1), None):
                    objects = json.loads(body)["objects"]
                    self._json(200, {"transfer": "basic", "objects": [
                        {"oid": o["oid"], "size": o["size"],
                         **({} if o["oid"] in hub.lfs_store else
                            {"actions": {"upload": {"href": f"{hub.url}/lfs-upload/{o['oid']}"}}})}
                        for o in objects]})
                return
            if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/commit/(.+)", route):
                repo = self._repo(m.group(1), m.group(2))
                if not repo:
                    return
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                for line in lines:
                    value = line["value"]
                    if line["key"] == "file":
                        repo.files[value["path"]] = base64.b64decode(value["content"])
                    elif line["key"] == "lfsFile":
                        repo.files[value["path"]] = hub.lfs_store[value["oid"]]
                    elif line["key"] == "deletedFile":
                        repo.files.pop(value["path"], None)
                hub.commits.append({"repo": repo.repo_id, "summary": lines[0]["value"].get("summary"),
                                    "files": [line["value"]["path"] for line in lines[1:]]})
                repo.new_commit()
                self._json(200, {"commitUrl": f"{hub.url}/{repo.repo_id}/commit/{repo.sha}",
                                 "commitOid": repo.sha, "pullRequestUrl": None})
                return
            self._error(404, "NotFound", f"no route {route}")

    return Handler


RELEASE_BASE = "Lin-Chen/ShareGPT4V-7B"
RELEASE_TOWER = "Lin-Chen/ShareGPT4V-7B_Pretrained_vit-large336-l12"


def add_release(hub: FakeHub, tiny_dir: Path) -> None:
    """Serve the tiny release's two hub repositories as the hub holds them: the base with its own Share4V
    config (GalleryGPT's README has the user replace it) and files conversion does not read."""
    import os

    base = read_folder(tiny_dir / "base")
    config = json.loads(base["config.json"])
    config.update({"_name_or_path": RELEASE_BASE, "architectures": ["Share4VLlamaForCausalLM"],
                   "model_type": "share4v"})
    base["config.json"] = json.dumps(config, indent=2).encode()
    base["README.md"] = b"---\ninference: false\n---\n# ShareGPT4V Model Card\n"
    base["trainer_state.json"] = b"{}\n"
    base["training_args.bin"] = os.urandom(50_000)
    hub.add(RELEASE_BASE, base)
    hub.add(RELEASE_TOWER, {**read_folder(tiny_dir / "vision-tower"), "README.md": b"# vision tower\n"})
