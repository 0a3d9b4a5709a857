"""A local stand-in for the Hugging Face Hub: the endpoints that huggingface_hub's upload and download use.

It runs `http.server` on 127.0.0.1 (a random port) in a thread and keeps repositories in memory. Implemented, as
huggingface_hub 2.x calls them (`HfApi.create_repo`, `create_branch`, `create_commit`, `hf_hub_download`,
`snapshot_download`):

- `POST /api/repos/create`: `{name, organization, type?, visibility?}`; 409 when the repository exists;
- `POST /api/validate-yaml`: the README's YAML header must parse to a mapping;
- `POST /api/{type}s/{repo}/branch/{branch}`: a branch from `main`; 409 when it exists;
- `POST /api/{type}s/{repo}/preupload/{rev}`: `uploadMode` per file, `lfs` for the patterns of the Hub's default
  `.gitattributes` (`*.safetensors`, `*.parquet`, `*.model`, ...) and files of 10 MiB or more, else `regular`;
- `POST /{prefix}{repo}.git/info/lfs/objects/batch`: the git-LFS batch API (basic transfer: an upload `href` and a
  `verify` `href`, no actions for objects already stored), then `PUT` of the object (its sha256 and size are checked)
  and `POST` of the verify URL;
- `POST /api/{type}s/{repo}/commit/{rev}`: the NDJSON commit (`header`, `file` in base64, `lfsFile` by sha256,
  `deletedFile`); an `lfsFile` whose object was not uploaded is refused;
- `GET`/`HEAD /{prefix}{repo}/resolve/{rev}/{path}` with the `X-Repo-Commit`, `ETag`, `X-Linked-Etag` and
  `X-Linked-Size` headers, and `GET /api/{type}s/{repo}[/revision/{rev}]` with `sha` and `siblings`.

Writes need `Authorization: Bearer <token>`; errors carry `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`,
`EntryNotFound`) as the Hub's do. Large files: huggingface_hub uploads LFS files through Xet when `hf_xet` is installed,
a protocol of its own storage service that this server does not speak; clients must set `HF_HUB_DISABLE_XET=1`, which
makes huggingface_hub use the git-LFS batch API above (the Hub still serves it).
"""

import base64
import fnmatch
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

# The LFS patterns of the `.gitattributes` that the Hub puts in a new repository (an excerpt).
LFS_PATTERNS = (
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.model",
    "*.parquet",
    "*.arrow",
    "*.h5",
    "*.zip",
)
LFS_MIN_SIZE = 10 * 1024 * 1024
PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StoredFile:
    data: bytes
    lfs: bool

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.lfs else git_blob_sha1(self.data)


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    branches: dict[str, dict[str, StoredFile]] = field(default_factory=lambda: {"main": {}})
    heads: dict[str, str] = field(default_factory=lambda: {"main": "0" * 40})
    commits: list[dict] = field(default_factory=list)


class FakeHub:
    """The server's state and its thread. Use as a context manager; `url` is the endpoint to give the client."""

    def __init__(self, token: str = "hf_fake_write_token"):
        self.token = token
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, StoredFile]:
        return self.repo(repo_id, repo_type).branches[revision]

    def export(self, repo_id: str, folder: Path, repo_type: str = "model", revision: str = "main") -> Path:
        """Writes a branch's files to `folder` (what a clone of the repository holds)."""
        for path, stored in self.files(repo_id, repo_type, revision).items():
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(stored.data)
        return folder


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _handler_class(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        pass

    Handler.hub = hub
    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep pytest's output clean
        pass

    # --- plumbing -----------------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the GET answer's headers and no body
            self.wfile.write(body)

    def _json(self, status: int, value, headers: dict | None = None) -> None:
        self._send(status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.hub.token}"

    def _require_auth(self) -> None:
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")

    def _dispatch(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.requests.append((method, path))
        body = self._body() if method in ("POST", "PUT") else b""
        try:
            with self.hub.lock:
                self._route(method, path, body)
        except HubError as error:
            headers = {"X-Error-Code": error.code} if error.code else {}
            self._json(error.status, {"error": error.message}, {**headers, "X-Error-Message": error.message})

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    # --- routes -------------------------------------------------------------------------------------------------
    def _route(self, method: str, path: str, body: bytes) -> None:
        api = re.fullmatch(
            r"/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/(preupload|commit|branch|revision)/(.+))?", path
        )
        lfs = re.fullmatch(r"/(datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
        resolve = re.fullmatch(r"/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo(json.loads(body))
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(body))
        if method == "POST" and lfs:
            return self._lfs_batch(self._find_repo(_repo_type(lfs.group(1)), lfs.group(2)), json.loads(body))
        if method == "PUT" and path.startswith("/lfs-objects/"):
            return self._lfs_put(path.rsplit("/", 1)[1], body)
        if method == "POST" and path.startswith("/lfs-verify/"):
            return self._lfs_verify(json.loads(body))
        if method in ("GET", "HEAD") and resolve:
            repo = self._find_repo(_repo_type(resolve.group(1)), resolve.group(2), write=False)
            return self._resolve(repo, resolve.group(3), resolve.group(4))
        if api:
            repo = self._find_repo(api.group(1)[:-1], api.group(2), write=method == "POST")
            action, rev = api.group(3), api.group(4)
            if method == "POST" and action == "preupload":
                return self._preupload(repo, rev, json.loads(body))
            if method == "POST" and action == "commit":
                return self._commit(repo, rev, body)
            if method == "POST" and action == "branch":
                return self._create_branch(repo, rev)
            if method == "GET" and action in (None, "revision"):
                return self._repo_info(repo, rev or "main")
        tree = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
        if method == "GET" and tree:
            repo = self._find_repo(tree.group(1)[:-1], tree.group(2), write=False)
            return self._tree(repo, tree.group(3), (tree.group(4) or "").strip("/"))
        raise HubError(404, f"no route for {method} {path}")

    def _base(self, repo: Repo) -> str:
        return f"{self.hub.url}/{PREFIXES[repo.repo_type]}{repo.repo_id}"

    def _find_repo(self, repo_type: str, repo_id: str, *, write: bool = True) -> Repo:
        if write:
            self._require_auth()
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self._authorized()):
            raise HubError(404, f"Repository not found: {repo_id}", "RepoNotFound")
        return repo

    def _branch(self, repo: Repo, revision: str) -> dict[str, StoredFile]:
        if revision not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.branches[revision]

    def _create_repo(self, payload: dict) -> None:
        self._require_auth()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        if "/" not in repo_id:
            repo_id = f"fake-user/{repo_id}"
        url = f"{self.hub.url}/{PREFIXES[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.hub.repos:  # the Hub's 409 names the existing repository's URL
            self._json(409, {"error": f"You already created this {repo_type} repo", "url": url})
            return
        private = payload.get("visibility") == "private"
        self.hub.repos[(repo_type, repo_id)] = Repo(repo_type, repo_id, private)
        self._json(200, {"url": url, "name": repo_id, "id": hashlib.sha1(url.encode()).hexdigest()[:24]})

    def _validate_yaml(self, payload: dict) -> None:
        content = payload["content"]
        try:
            header = yaml.safe_load(content.split("---", 2)[1]) if content.startswith("---") else {}
            if not isinstance(header, dict):
                raise ValueError("the metadata is not a mapping")
        except (yaml.YAMLError, ValueError, IndexError) as error:
            self._json(400, {"errors": [{"message": f"Invalid YAML metadata: {error}"}]})
            return
        warnings = [] if header else [{"message": "Empty metadata"}]
        self._json(200, {"errors": [], "warnings": warnings})

    def _create_branch(self, repo: Repo, branch: str) -> None:
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        repo.branches[branch] = dict(repo.branches["main"])
        repo.heads[branch] = repo.heads["main"]
        self._json(200, {})

    def _preupload(self, repo: Repo, revision: str, payload: dict) -> None:
        stored = self._branch(repo, revision)
        files = []
        for item in payload["files"]:
            lfs = item["size"] >= LFS_MIN_SIZE or any(fnmatch.fnmatch(item["path"], p) for p in LFS_PATTERNS)
            existing = stored.get(item["path"])
            files.append(
                {
                    "path": item["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": existing.etag if existing else None,
                }
            )
        self._json(200, {"files": files, "commitOid": repo.heads[revision]})

    def _lfs_batch(self, repo: Repo, payload: dict) -> None:
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(400, "only the upload operation with the basic transfer is supported")
        objects = []
        for item in payload["objects"]:
            entry = {"oid": item["oid"], "size": item["size"], "authenticated": True}
            if item["oid"] not in self.hub.lfs_objects:
                entry["actions"] = {
                    "upload": {"href": f"{self.hub.url}/lfs-objects/{item['oid']}", "header": {}},
                    "verify": {"href": f"{self.hub.url}/lfs-verify/{item['oid']}", "header": {}},
                }
            objects.append(entry)
        self._send(
            200,
            json.dumps({"transfer": "basic", "objects": objects}).encode(),
            {"Content-Type": "application/vnd.git-lfs+json"},
        )

    def _lfs_put(self, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "the uploaded content does not match its oid")
        self.hub.lfs_objects[oid] = body
        self._send(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    def _lfs_verify(self, payload: dict) -> None:
        self._require_auth()
        data = self.hub.lfs_objects.get(payload["oid"])
        if data is None or len(data) != payload["size"]:
            raise HubError(404, f"object {payload['oid']} not found or of another size")
        self._json(200, {"success": True})

    def _commit(self, repo: Repo, revision: str, body: bytes) -> None:
        files = dict(self._branch(repo, revision))
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0]["key"] != "header":
            raise HubError(400, "the commit payload must start with a header")
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                files[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif line["key"] == "lfsFile":
                if value["oid"] not in self.hub.lfs_objects:
                    raise HubError(400, f"LFS object {value['oid']} of {value['path']} was not uploaded")
                files[value["path"]] = StoredFile(self.hub.lfs_objects[value["oid"]], lfs=True)
            elif line["key"] == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            else:
                raise HubError(400, f"unsupported commit operation {line['key']}")
        parent = repo.heads[revision]
        oid = hashlib.sha1(json.dumps([parent, lines], sort_keys=True).encode()).hexdigest()
        repo.branches[revision], repo.heads[revision] = files, oid
        repo.commits.append({"oid": oid, "revision": revision, "summary": lines[0]["value"]["summary"]})
        url = f"{self._base(repo)}/commit/{oid}"
        self._json(200, {"success": True, "commitOid": oid, "commitUrl": url, "pullRequestUrl": None})

    def _revision(self, repo: Repo, revision: str) -> tuple[str, dict[str, StoredFile]]:
        if revision in repo.branches:
            return repo.heads[revision], repo.branches[revision]
        for branch, head in repo.heads.items():  # a commit id addresses the branch it heads
            if head == revision:
                return head, repo.branches[branch]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _resolve(self, repo: Repo, revision: str, path: str) -> None:
        commit, files = self._revision(repo, revision)
        stored = files.get(path)
        if stored is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        headers = {"X-Repo-Commit": commit, "ETag": f'"{stored.etag}"', "Content-Type": "application/octet-stream"}
        if stored.lfs:
            headers.update({"X-Linked-Etag": f'"{stored.etag}"', "X-Linked-Size": str(len(stored.data))})
        self._send(200, stored.data, headers)

    def _tree(self, repo: Repo, revision: str, folder: str) -> None:
        _, files = self._revision(repo, revision)
        entries = _tree_entries(files, folder)
        if folder and not entries:
            raise HubError(404, f"Entry not found: {folder}", "EntryNotFound")
        self._json(200, entries)

    def _repo_info(self, repo: Repo, revision: str) -> None:
        commit, files = self._revision(repo, revision)
        siblings = [{"rfilename": path} for path in sorted(files)]
        self._json(200, {"id": repo.repo_id, "sha": commit, "private": repo.private, "siblings": siblings})


def _tree_entries(files: dict[str, StoredFile], folder: str) -> list[dict]:
    """The entries directly in `folder` (`""` for the root), as the Hub's tree API lists them (not recursive)."""
    prefix = f"{folder}/" if folder else ""
    entries: dict[str, dict] = {}
    for path, stored in sorted(files.items()):
        if not path.startswith(prefix):
            continue
        head, _, rest = path[len(prefix) :].partition("/")
        if rest:
            entries.setdefault(head, {"type": "directory", "path": prefix + head, "oid": "0" * 40, "size": 0})
        else:
            entry = {"type": "file", "path": path, "oid": git_blob_sha1(stored.data), "size": len(stored.data)}
            if stored.lfs:
                entry["lfs"] = {"oid": stored.etag, "size": len(stored.data), "pointerSize": 134}
            entries[head] = entry
    return list(entries.values())


def _repo_type(prefix: str | None) -> str:
    return {None: "model", "datasets/": "dataset", "spaces/": "space"}[prefix]
