"""A small in-memory registry that follows distribution-spec 1.1 where no registry installed here does: it
answers `OCI-Subject` on a manifest PUT with a subject and serves `GET /v2/<name>/referrers/<digest>` (an OCI
index, `?artifactType=` filtered with `OCI-Filters-Applied`, pages of `page_size` linked by `Link: rel="next"`).

With `api=False` it plays an older registry instead (no OCI-Subject, 404 on /referrers/), so that the referrers
fallback tag can be tested too; unlike distribution 2.8 it honours `If-Match` / `If-None-Match: *` on a manifest
PUT (412 otherwise), for the tag's read-modify-write.
Blobs: monolithic uploads (POST, then PUT `?digest=` with the bytes), HEAD and GET.
Manifests: PUT, GET and HEAD by tag or digest, with `ETag` and `Docker-Content-Digest`.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .helpers import serve

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_MANIFESTS = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json")
ROUTE = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs/uploads|blobs|referrers)/(?P<rest>[^/]*)$")


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Stored:
    """One manifest as it was PUT: its Content-Type and exact bytes."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    def document(self) -> dict[str, Any]:
        return dict(json.loads(self.data))


@dataclass
class RegistryState:
    """What the server holds and saw; tests read it and may change it (`api`, `filters`, `before_put`)."""

    api: bool = True
    """Serve the referrers API and answer OCI-Subject; False: an older registry without either."""
    filters: bool = True
    """Apply `?artifactType=` (and say so); False: list every referrer, as a registry may."""
    page_size: int = 2
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], Stored] = field(default_factory=dict)
    """(repository, digest) -> manifest."""
    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    """(repository, tag) -> digest."""
    uploads: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(method, path with query) of every request, in order."""
    before_put: Callable[[RegistryState, str, str], None] | None = None
    """Called with (state, repository, reference) before a manifest PUT is looked at: another writer's turn."""
    lock: threading.RLock = field(default_factory=threading.RLock)

    def put_manifest(self, repository: str, reference: str, media_type: str, data: bytes) -> str:
        stored = Stored(media_type, data)
        with self.lock:
            self.manifests[(repository, stored.digest)] = stored
            if not reference.startswith("sha256:"):
                self.tags[(repository, reference)] = stored.digest
        return stored.digest

    def manifest(self, repository: str, reference: str) -> Stored | None:
        with self.lock:
            digest = reference if reference.startswith("sha256:") else self.tags.get((repository, reference))
            return self.manifests.get((repository, digest)) if digest else None

    def tag_document(self, repository: str, tag: str) -> dict[str, Any] | None:
        found = self.manifest(repository, tag)
        return found.document() if found else None

    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """The descriptors of every manifest of `repository` whose subject is `digest`, by digest order."""
        with self.lock:
            stored = [(key[1], value) for key, value in self.manifests.items() if key[0] == repository]
        out = []
        for manifest_digest, manifest in sorted(stored, key=lambda item: item[0]):
            document = manifest.document()
            if (document.get("subject") or {}).get("digest") != digest:
                continue
            entry: dict[str, Any] = {"mediaType": manifest.media_type, "digest": manifest_digest}
            entry["size"] = len(manifest.data)
            artifact_type = document.get("artifactType") or (
                (document.get("config") or {}).get("mediaType") if manifest.media_type in IMAGE_MANIFESTS else None
            )
            if artifact_type:
                entry["artifactType"] = artifact_type
            if document.get("annotations"):
                entry["annotations"] = document["annotations"]
            out.append(entry)
        return out


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    state: RegistryState

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str) -> None:
        body = json.dumps({"errors": [{"code": code, "message": code.lower().replace("_", " ")}]}).encode()
        self._answer(status, body, {"Content-Type": "application/json"})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._body()
        self.state.requests.append((self.command, self.path))
        parts = urlsplit(self.path)
        if parts.path == "/v2/":
            self._answer(200, b"{}", {"Content-Type": "application/json"})
            return
        route = ROUTE.match(parts.path)
        if route is None:
            self._answer(404, b"404 page not found\n", {"Content-Type": "text/plain"})
            return
        name, kind, rest = route.group("name"), route.group("kind"), route.group("rest")
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        handler = getattr(self, f"_{kind.replace('/', '_')}_{self.command.lower()}", None)
        if handler is None:
            self._error(405, "UNSUPPORTED")
            return
        handler(name, rest, query, body)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _dispatch

    # --- blobs -----------------------------------------------------------------------------------

    def _blobs_uploads_post(self, name: str, rest: str, query: dict[str, str], body: bytes) -> None:
        session = uuid.uuid4().hex
        self.state.uploads.add(session)
        self._answer(202, headers={"Location": f"/v2/{name}/blobs/uploads/{session}", "Range": "0-0"})

    def _blobs_uploads_put(self, name: str, rest: str, query: dict[str, str], body: bytes) -> None:
        if rest not in self.state.uploads:
            self._error(404, "BLOB_UPLOAD_UNKNOWN")
            return
        digest = query.get("digest", "")
        if digest != digest_of(body):
            self._error(400, "DIGEST_INVALID")
            return
        self.state.uploads.discard(rest)
        self.state.blobs[(name, digest)] = body
        self._answer(201, headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})

    def _blobs_get(self, name: str, rest: str, query: dict[str, str], body: bytes) -> None:
        data = self.state.blobs.get((name, rest))
        if data is None:
            self._error(404, "BLOB_UNKNOWN")
            return
        self._answer(200, data, {"Content-Type": "application/octet-stream", "Docker-Content-Digest": rest})

    _blobs_head = _blobs_get

    # --- manifests -------------------------------------------------------------------------------

    def _manifests_get(self, name: str, rest: str, query: dict[str, str], body: bytes) -> None:
        found = self.state.manifest(name, rest)
        if found is None:
            self._error(404, "MANIFEST_UNKNOWN")
            return
        headers = {"Content-Type": found.media_type, "Docker-Content-Digest": found.digest}
        self._answer(200, found.data, {**headers, "ETag": f'"{found.digest}"'})

    _manifests_head = _manifests_get

    def _manifests_put(self, name: str, rest: str, query: dict[str, str], body: bytes) -> None:
        state = self.state
        if state.before_put is not None:
            state.before_put(state, name, rest)
        media_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            document = json.loads(body)
        except ValueError:
            self._error(400, "MANIFEST_INVALID")
            return
        if not isinstance(document, dict) or document.get("mediaType") != media_type:
            self._error(400, "MANIFEST_INVALID")
            return
        if rest.startswith("sha256:") and rest != digest_of(body):
            self._error(400, "DIGEST_INVALID")
            return
        if media_type in IMAGE_MANIFESTS:
            wanted = [document.get("config") or {}, *(document.get("layers") or [])]
            if any((name, blob.get("digest")) not in state.blobs for blob in wanted):
                self._error(400, "MANIFEST_BLOB_UNKNOWN")
                return
        with state.lock:
            if not self._preconditions_hold(name, rest):
                self._error(412, "PRECONDITION_FAILED")
                return
            digest = state.put_manifest(name, rest, media_type, body)
        headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
        subject = document.get("subject")
        if state.api and isinstance(subject, dict) and subject.get("digest"):
            headers["OCI-Subject"] = str(subject["digest"])
        self._answer(201, headers=headers)

    def _preconditions_hold(self, name: str, reference: str) -> bool:
        """`If-Match: <ETag>` needs the manifest the ETag names; `If-None-Match: *` needs no manifest."""
        current = self.state.manifest(name, reference)
        etag = f'"{current.digest}"' if current else None
        wanted = self.headers.get("If-Match")
        if wanted is not None and wanted.strip() != etag and wanted.strip() != "*":
            return False
        return not (self.headers.get("If-None-Match", "").strip() == "*" and current is not None)

    # --- referrers -------------------------------------------------------------------------------

    def _referrers_get(self, name: str, rest: str, query: dict[str, str], body: bytes) -> None:
        state = self.state
        if not state.api:
            self._answer(404, b"404 page not found\n", {"Content-Type": "text/plain"})
            return
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", rest):
            self._error(400, "DIGEST_INVALID")
            return
        entries = state.referrers(name, rest)
        headers = {"Content-Type": OCI_INDEX}
        wanted = query.get("artifactType")
        if wanted and state.filters:
            entries = [entry for entry in entries if entry.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        after = query.get("last")
        if after:
            entries = [entry for entry in entries if entry["digest"] > after]
        page = entries[: state.page_size]
        if len(entries) > state.page_size:
            following = {**({"artifactType": wanted} if wanted else {}), "last": page[-1]["digest"]}
            headers["Link"] = f'</v2/{name}/referrers/{rest}?{urlencode(following)}>; rel="next"'
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": page}
        self._answer(200, json.dumps(index).encode(), headers)


@contextmanager
def referrers_registry(api: bool = True, page_size: int = 2) -> Iterator[tuple[str, RegistryState]]:
    """Run the server on a free loopback port for a test; yields its URL and its state."""
    state = RegistryState(api=api, page_size=page_size)
    handler = type("ReferrersRegistry", (_Handler,), {"state": state})
    with serve(handler) as url:
        yield url, state
