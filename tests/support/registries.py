"""The registries the core suite runs against, one at a time (tests/system/test_registries.py): `each_registry`,
a module-scoped fixture parametrized over

- `distribution-2.8`: Debian's docker-registry, distribution 2.8 (what registry:2 and Harbor ship);
- `distribution-3`: distribution v3.1.2 (`make peers`, the program inside registry:3);
- `ggcr`: go-containerregistry v0.22.1's in-memory registry (`crane registry serve`, `make peers`), standing in for
  zot, whose module the Go proxy here does not serve.

Each one is started on a free loopback port for one test module and stopped by its pid at the module's end, its
directory removed; one that is not installed or built skips (fails under CI=true), as every peer does. What each
one is and does differently is data (`Kind`), read by the tests, and by docs/registries.md's table "Where the
registries differ" in words.

Distribution runs with htpasswd (Basic auth, tests/support/auth_servers.py) and its JSON request log
(tests/support/registry_log.py); crane's registry has no auth, and logs one line per request (method and URL, and
status and error code when it failed), read here into the same `Seen` shape."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from registry_tasks.registry.auth import Credentials
from registry_tasks.tools.local_registry import RegistryStartError, find_binary, start_registry

from .auth_servers import CREDENTIALS, htpasswd_config
from .helpers import missing
from .peers import crane_registry, peer
from .registry_log import REQUEST_LOG_CONFIG, read_requests, settled_offset


@dataclass(frozen=True)
class Kind:
    """One registry program: its version, and how it answers where the three differ (docs/registries.md's table
    "Where the registries differ"; each asserted by tests/system/test_registries.py)."""

    id: str
    version: str
    auth: bool
    """Runs with htpasswd (Basic) auth: every request needs the test's credentials."""
    json_log: bool
    """A JSON record per request with its status (distribution); else a text line each (crane's registry)."""
    v2_body: bytes
    """The body of its 200 to `GET /v2/`."""
    error_type: str
    """The Content-Type of its error answers (their bodies are the spec's JSON on all three)."""
    tags_paging: str
    """How a tags list answers `n=`: "link" (pages of n, a Link to the next while the page is full), "no-link"
    (pages of n after `last=`, never a Link), "all" (every tag in one answer, in no order: `n=`, `last=` ignored)."""
    catalog_paging: str
    """How the catalog answers `n=`: "link" (pages of n after `last=`, a Link while more remain), or "unpaged" (n
    repositories in no order, `last=` ignored, never a Link)."""
    mounts: bool
    """A cross-repository mount answers 201; else 202 and an upload session (the spec's fallback)."""
    blobs_global: bool
    """A blob HEAD answers 200 in any repository once one holds it (no per-repository links)."""
    upload_status: bool
    """GET on an upload URL says how much it holds (204, Range); DELETE on it cancels it (204). Else both 400."""
    range_checked: bool
    """A PATCH whose Content-Range does not start where the session is answers 416; else 202 (bytes appended)."""
    mixes_uploads: bool
    """A PATCH without Content-Range after a chunk is appended (202); else 400 BLOB_UPLOAD_INVALID."""
    single_post: int
    """Its answer to `POST .../uploads/?digest=` with the blob: 201 (stored), or 202 (an upload session, the body
    ignored)."""
    open_range: bool
    """A blob GET takes `Range: bytes=N-` (what docker and containerd send to resume a cut body); else 416."""
    etag: bool
    """A manifest GET answers an ETag (the referrers fallback tag's update sends it back in If-Match)."""
    tag_delete: int
    """Its answer to `DELETE .../manifests/<tag>`: 202, or 400 (DIGEST_INVALID: only digests are deleted)."""
    tag_outlives_digest: bool
    """A DELETE by digest leaves the tags that pointed at it."""
    referrers_not_found: bytes
    """The body of its 404 to /v2/<name>/referrers/<digest>: none of the three has the referrers API (nor answers
    OCI-Subject)."""


JSON_NOT_FOUND = b'{"errors":[{"code":"METHOD_UNKNOWN","message":"We don\'t understand your method + url"}]}\n'
DISTRIBUTION_2_8 = Kind(
    "distribution-2.8", "2.8", auth=True, json_log=True, v2_body=b"{}", error_type="application/json",
    tags_paging="all", catalog_paging="link", mounts=True, blobs_global=False, upload_status=True, range_checked=False,
    mixes_uploads=True, single_post=202, open_range=True, etag=True, tag_delete=400, tag_outlives_digest=False,
    referrers_not_found=b"404 page not found\n",
)  # fmt: skip
DISTRIBUTION_3 = Kind(
    "distribution-3", "v3.1.2", auth=True, json_log=True, v2_body=b"{}", error_type="application/json",
    tags_paging="link", catalog_paging="link", mounts=True, blobs_global=False, upload_status=True, range_checked=True,
    mixes_uploads=True, single_post=202, open_range=True, etag=True, tag_delete=202, tag_outlives_digest=False,
    referrers_not_found=b"404 page not found\n",
)  # fmt: skip
GGCR = Kind(
    "ggcr", "v0.22.1", auth=False, json_log=False, v2_body=b"", error_type="text/plain",
    tags_paging="no-link", catalog_paging="unpaged", mounts=False, blobs_global=True, upload_status=False,
    range_checked=True, mixes_uploads=False, single_post=201, open_range=False, etag=False, tag_delete=202,
    tag_outlives_digest=True, referrers_not_found=JSON_NOT_FOUND,
)  # fmt: skip
KINDS = (DISTRIBUTION_2_8, DISTRIBUTION_3, GGCR)


@dataclass(frozen=True)
class Seen:
    """One request as the registry logged it. `status` is None where crane's registry logs none (it succeeded);
    `code` is the error code it logged (crane's registry only)."""

    method: str
    path: str
    query: dict[str, str] = field(hash=False)
    status: int | None
    code: str = ""

    @property
    def ok(self) -> bool:
        return self.status is None or self.status < 400


GGCR_LINE = re.compile(r"^[\d/]{10} [\d:]{8} (?P<method>[A-Z]+) (?P<uri>\S+)(?: (?P<status>\d{3}) (?P<code>\S+))?")


def ggcr_requests(text: str) -> list[Seen]:
    """The requests in crane's registry log: `2026/12/01 10:00:00 GET /v2/` (a success), or the same followed by
    status, code and message (a failure)."""
    seen = []
    for line in text.splitlines():
        if found := GGCR_LINE.match(line):
            parts = urlsplit(found["uri"])
            query = dict(reversed(parse_qsl(parts.query, keep_blank_values=True)))
            status = int(found["status"]) if found["status"] else None
            seen.append(Seen(found["method"], parts.path, query, status, found["code"] or ""))
    return seen


@dataclass
class Registry:
    """A running registry of one `Kind`: its URL, the credentials it wants, and the requests it logged."""

    kind: Kind
    url: str
    log_path: Path
    credentials: Credentials | None

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://")

    def offset(self) -> int:
        """Where "the requests from now on" begin in its log (settled: every request answered is behind it)."""
        return settled_offset(self.log_path)

    def requests(self, start: int = 0, end: int | None = None) -> list[Seen]:
        """The requests it logged between two offsets, in log order."""
        if self.kind.json_log:
            return [Seen(r.method, r.path, dict(r.query), r.status) for r in read_requests(self.log_path, start, end)]
        return ggcr_requests(self._read(start, end).decode("utf-8", "replace"))

    def errors(self, start: int = 0, end: int | None = None) -> list[str]:
        """What it logged as its own errors between two offsets (distribution: records at level error but 4xx
        answers, with their `err.*` fields; crane's registry: its 5xx lines), for a failure's message."""
        data = self._read(start, end).decode("utf-8", "replace")
        if not self.kind.json_log:
            return [line for line in data.splitlines() if (found := GGCR_LINE.match(line)) and found["status"] and
                    found["status"] >= "500"]  # fmt: skip
        errors = []
        for line in data.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or int(record.get("http.response.status") or 500) < 500:
                continue  # (a 4xx is logged at level error too: an answer, not an error of its own)
            if record.get("level") in ("error", "fatal", "panic"):
                details = {key: value for key, value in record.items() if key.startswith(("err.", "http.request.uri"))}
                errors.append(f"{record.get('msg')} {details}")
        return errors

    def _read(self, start: int, end: int | None) -> bytes:
        with open(self.log_path, "rb") as handle:
            handle.seek(start)
            data = handle.read() if end is None else handle.read(max(0, end - start))
        return data[: data.rfind(b"\n") + 1]

    def challenges(self, start: int = 0, end: int | None = None) -> int:
        """How many requests it refused for want of credentials (401) between two offsets: distribution logs those
        as warnings ("error authorizing context"), not as completed requests; crane's registry asks for none."""
        return 0 if not self.kind.json_log else self._read(start, end).count(b'"msg":"error authorizing context: ')

    def locust_args(self) -> list[str]:
        """What an operator adds to a `locust` command for this registry (the password goes in the environment)."""
        return ["-H", self.url, *(["--registry-username", self.credentials.username] if self.credentials else [])]

    def env(self, password: str | None = None) -> dict[str, str]:
        """The environment of a `locust` run: LOCUST_REGISTRY_PASSWORD (or `password`) when it wants auth."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("LOCUST_")}
        if self.credentials:
            env["LOCUST_REGISTRY_PASSWORD"] = password or self.credentials.password
        return env

    def docker_config(self, directory: Path) -> Path:
        """A docker config directory (DOCKER_CONFIG) holding its credentials, for crane."""
        directory.mkdir(parents=True, exist_ok=True)
        auths = {}
        if self.credentials:
            basic = f"{self.credentials.username}:{self.credentials.password}".encode()
            auths[self.host_port] = {"auth": base64.b64encode(basic).decode()}
        (directory / "config.json").write_text(json.dumps({"auths": auths}))
        return directory


def distribution_binary(kind: Kind) -> str:
    if kind is DISTRIBUTION_3:
        return peer("distribution")
    try:
        return find_binary()
    except RegistryStartError as error:
        missing(str(error))


@contextmanager
def start(kind: Kind) -> Iterator[Registry]:
    """`kind` running on a free loopback port until the block ends; skips (fails under CI) when not installed."""
    if kind is GGCR:
        with ggcr() as registry:
            yield registry
        return
    binary = distribution_binary(kind)
    directory = Path(tempfile.mkdtemp(prefix=f"{kind.id}-"))
    try:
        config = {**REQUEST_LOG_CONFIG, **(htpasswd_config(directory) if kind.auth else {})}
        with start_registry(binary=binary, extra_config=config) as running:
            yield Registry(kind, running.url, running.log_path, CREDENTIALS if kind.auth else None)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def ggcr() -> Iterator[Registry]:
    """`crane registry serve`, its request log read as the distributions' is."""
    with crane_registry(peer("crane")) as (url, log):
        yield Registry(GGCR, url, log, None)


@pytest.fixture(scope="module", params=KINDS, ids=[kind.id for kind in KINDS])
def each_registry(request: pytest.FixtureRequest) -> Iterator[Registry]:
    """Each registry in turn, one at a time, for the whole test module (its tests use it in turn)."""
    with start(request.param) as registry:
        yield registry
