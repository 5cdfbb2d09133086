"""What a client's image operation looks like from the registry: request kinds, operations, signatures.

`classify` names each request of a registry log (`registry_log.Request`); `segment` cuts a long log of many
sequential image operations by one client into operations (by when the registry began each request, not by the
order of the log's lines); `signature` reduces one operation to the facts that tell clients apart (pings, how the
manifest is resolved, blob requests, upload style, connection reuse, the user agent's product), as a frozen,
comparable `Signature` with a readable `str`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from .registry_log import Request

PING = "ping"
MANIFEST_HEAD = "manifest-head"
MANIFEST_GET = "manifest-get"
MANIFEST_PUT = "manifest-put"
MANIFEST_DELETE = "manifest-delete"
BLOB_HEAD = "blob-head"
BLOB_GET = "blob-get"
BLOB_DELETE = "blob-delete"
UPLOAD_START = "upload-start"
UPLOAD_PATCH = "upload-patch"
UPLOAD_PUT = "upload-put"
UPLOAD_DELETE = "upload-delete"
UPLOAD_STATUS = "upload-status"
TAGS_LIST = "tags-list"
CATALOG = "catalog"
OTHER = "other"

NEW_CONNECTION_PER_REQUEST = "new connection per request"
POOLED = "pooled"

_UPLOAD = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<uuid>[^/]*)$")
_BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$")
_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")
_TAGS = re.compile(r"^/v2/(?P<name>.+)/tags/list$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass(frozen=True)
class Call:
    """A request with what it is: its kind, repository, manifest reference, upload session."""

    request: Request
    kind: str
    repository: str | None = None
    reference: str | None = None
    """A manifest's tag or digest, a blob's digest."""
    by: str | None = None
    """For manifest requests: "tag" or "digest"."""
    upload: str | None = None
    """The upload session's id (PATCH, PUT, DELETE, GET on an upload URL)."""
    mount: bool = False
    """An upload-start asking for a cross-repository mount (`mount=` in the query)."""

    @property
    def label(self) -> str:
        """The kind as a signature shows it: "HEAD tag 200", "GET digest 200", "blob-head 404", ..."""
        if self.kind in (MANIFEST_HEAD, MANIFEST_GET):
            return f"{self.request.method} {self.by} {self.request.status}"
        return f"{self.kind} {self.request.status}"


def classify(request: Request) -> Call:
    """The kind of one registry request (GET /v2/ is a ping, POST on /blobs/uploads/ an upload start, ...)."""
    method, path = request.method, request.path
    if path in ("/v2/", "/v2") and method == "GET":
        return Call(request, PING)
    if path == "/v2/_catalog":
        return Call(request, CATALOG)
    if match := _UPLOAD.match(path):
        name, uuid = match["name"], match["uuid"]
        if not uuid:
            kind = UPLOAD_START if method == "POST" else OTHER
            return Call(request, kind, name, mount=kind == UPLOAD_START and "mount" in request.query)
        kinds = {"PATCH": UPLOAD_PATCH, "PUT": UPLOAD_PUT, "DELETE": UPLOAD_DELETE, "GET": UPLOAD_STATUS}
        return Call(request, kinds.get(method, OTHER), name, upload=uuid)
    if match := _BLOB.match(path):
        kinds = {"HEAD": BLOB_HEAD, "GET": BLOB_GET, "DELETE": BLOB_DELETE}
        return Call(request, kinds.get(method, OTHER), match["name"], match["digest"])
    if match := _MANIFEST.match(path):
        reference = match["reference"]
        by = "digest" if _DIGEST.match(reference) else "tag"
        kinds = {"HEAD": MANIFEST_HEAD, "GET": MANIFEST_GET, "PUT": MANIFEST_PUT, "DELETE": MANIFEST_DELETE}
        return Call(request, kinds.get(method, OTHER), match["name"], reference, by)
    if match := _TAGS.match(path):
        return Call(request, TAGS_LIST if method == "GET" else OTHER, match["name"])
    return Call(request, OTHER)


def product(user_agent: str) -> str:
    """The user agent's product: its first token before "/" ("docker/20.10.24 go/..." -> "docker")."""
    first = user_agent.split(maxsplit=1)[0] if user_agent.strip() else ""
    return first.split("/", 1)[0]


def connection_policy(requests: Sequence[Request]) -> str:
    """The connection policy: "pooled" when two requests of the operation came on one connection (the same client
    address and port), else "new connection per request". (A port the kernel handed out again within one short
    operation would read as pooled; on loopback, ephemeral ports are handed out in turn and that does not happen.)"""
    counts = Counter(request.connection for request in requests)
    return POOLED if any(count > 1 for count in counts.values()) else NEW_CONNECTION_PER_REQUEST


@dataclass(frozen=True)
class Signature:
    """One image operation (a pull or a push of one image) as the registry saw it. Two clients whose operations
    have equal signatures send the same kinds of requests, in the same numbers, the same way."""

    pings: int
    manifest_resolution: tuple[str, ...]
    """Manifest HEADs and GETs in log order, e.g. ("HEAD tag 200", "GET digest 200") or ("GET tag 200",)."""
    blob_gets: int
    blob_heads: tuple[int, ...]
    """The statuses of blob HEADs, sorted (e.g. (200, 200, 404) )."""
    posts: int
    """Upload starts (POST /blobs/uploads/), mounts included."""
    mounts: int
    """Upload starts with `mount=` (cross-repository mounts)."""
    patches_per_upload: tuple[int, ...]
    """For each upload session (an upload URL that got a PATCH, PUT or DELETE), its PATCHes; sorted."""
    blob_puts: int
    """PUTs that finish an upload (`?digest=`)."""
    upload_deletes: int
    manifest_heads: tuple[int, ...]
    """The statuses of manifest HEADs, sorted (also in `manifest_resolution`, with their order)."""
    manifest_puts: int
    last: str
    """The kind of the operation's last request (e.g. "manifest-put", "blob-get")."""
    connections: str
    """Either "new connection per request" or "pooled"."""
    product: str
    """The user agent's product ("docker", "containerd", "skopeo", ...); several joined by "+"."""

    def __str__(self) -> str:
        return (
            f"pings={self.pings} manifests=[{', '.join(self.manifest_resolution)}] blob-gets={self.blob_gets}"
            f" blob-heads={list(self.blob_heads)} posts={self.posts} mounts={self.mounts}"
            f" patches/upload={list(self.patches_per_upload)} blob-puts={self.blob_puts}"
            f" upload-deletes={self.upload_deletes} manifest-heads={list(self.manifest_heads)}"
            f" manifest-puts={self.manifest_puts} last={self.last} connections={self.connections!r}"
            f" product={self.product}"
        )

    def table(self) -> str:
        """One `field  value` line per field."""
        width = max(len(f.name) for f in fields(self))
        return "\n".join(f"{f.name:<{width}}  {_plain(getattr(self, f.name))}" for f in fields(self))

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON values (tuples become lists)."""
        return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}

    def differences(self, other: Signature) -> dict[str, tuple[Any, Any]]:
        """field -> (self's value, other's value) for every field that differs."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }


def _plain(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def signature(requests: Sequence[Request]) -> Signature:
    """The signature of one image operation's requests (in log order)."""
    calls = [classify(request) for request in requests]

    def of(*kinds: str) -> list[Call]:
        return [call for call in calls if call.kind in kinds]

    sessions: dict[str, int] = {}
    for call in calls:
        if call.upload is not None:
            sessions.setdefault(call.upload, 0)
            if call.kind == UPLOAD_PATCH:
                sessions[call.upload] += 1
    products = sorted({product(request.user_agent) for request in requests})
    return Signature(
        pings=len(of(PING)),
        manifest_resolution=tuple(call.label for call in of(MANIFEST_HEAD, MANIFEST_GET)),
        blob_gets=len(of(BLOB_GET)),
        blob_heads=tuple(sorted(call.request.status for call in of(BLOB_HEAD))),
        posts=len(of(UPLOAD_START)),
        mounts=sum(call.mount for call in of(UPLOAD_START)),
        patches_per_upload=tuple(sorted(sessions.values())),
        blob_puts=len([call for call in of(UPLOAD_PUT) if "digest" in call.request.query]),
        upload_deletes=len(of(UPLOAD_DELETE)),
        manifest_heads=tuple(sorted(call.request.status for call in of(MANIFEST_HEAD))),
        manifest_puts=len(of(MANIFEST_PUT)),
        last=calls[-1].kind if calls else "",
        connections=connection_policy(requests),
        product="+".join(products),
    )


def blob_get_order(requests: Sequence[Request], config_digest: str) -> tuple[str, ...]:
    """The blob GETs of an operation in the order the registry began them (`Request.started`), each as "config"
    (the blob `config_digest`) or "layer": ("layer", "layer", "config") for a client that fetches the config
    last. Not part of the signature: with concurrent downloads the order can change from run to run."""
    gets = [call for call in map(classify, sorted(requests, key=lambda r: r.started)) if call.kind == BLOB_GET]
    return tuple("config" if call.reference == config_digest else "layer" for call in gets)


# --- segmentation: one long log of sequential operations -> operations ------------------------------------------


def split_by_repository(requests: Iterable[Request]) -> list[list[Request]]:
    """Sequential operations on different repositories (pushes, typically): a new operation begins where the
    repository changes. Requests without a repository (the ping) belong to the operation that follows them; when
    that one is on the repository of the current operation (a ping in the middle, a retry), they stay in it.
    Requests without a repository at the very end make an operation of their own.

    Consecutive operations on the same repository stay together: split those with `split_at_starts`."""
    operations: list[list[Request]] = []
    current: list[Request] = []
    current_repository: str | None = None
    pending: list[Request] = []
    for request in requests:
        repository = classify(request).repository
        if repository is None:
            pending.append(request)
            continue
        if current and repository != current_repository:
            operations.append(current)
            current = []
        current_repository = repository
        current.extend(pending)
        pending = []
        current.append(request)
    if current:
        operations.append(current)
    if pending:
        operations.append(pending)
    return operations


def _is_tag_manifest(call: Call) -> bool:
    return call.kind in (MANIFEST_HEAD, MANIFEST_GET) and call.by == "tag"


def split_at_starts(requests: Iterable[Request]) -> list[list[Request]]:
    """Sequential operations (pulls of the same repository again and again, typically) split at each operation's
    first request: the ping for a client that pings (any GET /v2/ in the log), else the manifest request by tag.
    Consecutive tag requests at the start (a HEAD by tag answered 405, then the GET by tag) open one operation;
    requests before the first start belong to the first operation."""
    items = list(requests)
    calls = [classify(request) for request in items]
    pings = any(call.kind == PING for call in calls)
    operations: list[list[Request]] = []
    current: list[Request] = []
    started = False  # the current operation has had its first request
    past_start = False  # ... and a request that is not a start since (tag mode: a tag request now opens the next)
    for call in calls:
        is_start = call.kind == PING if pings else _is_tag_manifest(call)
        if is_start and started and (pings or past_start):
            operations.append(current)
            current, past_start = [], False
        if is_start:
            started = True
        elif started:
            past_start = True
        current.append(call.request)
    if current:
        operations.append(current)
    return operations


SEGMENTERS: dict[str, Callable[[Iterable[Request]], list[list[Request]]]] = {
    "push": split_by_repository,
    "pull": split_at_starts,
}


def in_start_order(requests: Iterable[Request]) -> list[Request]:
    """The requests in the order the registry began them (`Request.started`; ties keep log order).

    The log is in the order the registry's handlers returned, which is not the order of the client's operations:
    a handler can return (and log) after its client has read the whole answer and begun its next operation, so
    the last blob GET of one pull can be logged after the next pull's ping. A request the client sends after
    another's answer always began after that one did."""
    return sorted(requests, key=lambda request: request.started)


def segment(requests: Iterable[Request], kind: str) -> list[list[Request]]:
    """One client's log of sequential image operations of one kind ("push" or "pull") cut into operations, in the
    order the registry began the requests (`in_start_order`, not log order): pushes by repository
    (`split_by_repository`), pulls at each operation's first request (`split_at_starts`)."""
    try:
        segmenter = SEGMENTERS[kind]
    except KeyError:
        raise ValueError(f"kind must be one of {sorted(SEGMENTERS)}, not {kind!r}") from None
    return segmenter(in_start_order(requests))


def signatures(requests: Iterable[Request], kind: str) -> list[Signature]:
    """The signature of each operation `segment` finds."""
    return [signature(operation) for operation in segment(requests, kind)]
