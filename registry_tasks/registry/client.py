"""RegistryClient: one method per Registry API V2 operation, each timed and reported as one request.

It knows which bytes go where and how to check them, never which image or why. Every call is
reported through a `fire` callable with Locust's `events.request.fire` signature, so the same code
serves Locust users (counted in the stats) and seeding (only logged). A failed call is reported
once, with the registry's error code in the message, and then raised as `RequestFailed` so that the
workflow above it stops without reporting it again.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import gevent
import gevent.lock
import gevent.ssl
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPSocketPoolResponse

from ..image import (
    ACCEPTED_MANIFEST_TYPES,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    Blob,
    BodyReader,
    hasher_digest,
    sha256_digest,
)
from . import names
from .auth import Authenticator, AuthError, Challenge, Credentials, scope_for, token_url
from .errors import TRUNCATED, DigestMismatch, RegistryError, RequestFailed, error_message, retry_after_seconds

log = logging.getLogger(__name__)

RequestHook = Callable[..., None]
"""Locust's `events.request.fire(request_type=, name=, response_time=, response_length=, exception=, context=)`."""

READ_CHUNK = 1 << 20
ERROR_BODY_LIMIT = 64 << 10
MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
ACCEPT = {"Accept": ", ".join(ACCEPTED_MANIFEST_TYPES)}


class ConnectTimeout(TimeoutError):
    """No connection within the connect timeout (told apart from a read timeout in failure messages)."""


@dataclass
class Response:
    """What a call needs from an answer: status, headers, the final URL, and (small) bodies."""

    status: int
    url: str
    raw: HTTPSocketPoolResponse
    _body: bytes | None = None

    def header(self, name: str) -> str | None:
        value = self.raw.get(name)
        if isinstance(value, list):
            return value[-1]
        return value

    def stream(self, buffer: bytearray) -> Iterator[memoryview]:
        """The body as views of `buffer`, each valid until the next: received straight into it (no parser,
        no copies) when the length is known, else through geventhttpclient's reader."""
        raw = self.raw
        length = raw.content_length
        if length is None or raw.get("Transfer-Encoding") is not None:
            while piece := raw.read(len(buffer)):
                yield memoryview(piece)
            return
        early = raw._body_buffer  # body bytes that came with the headers
        received = len(early)
        if received:
            yield memoryview(early)
        sock, pool = raw._sock, raw._pool
        if sock is None or pool is None:  # the whole message came with the headers: already released
            if received != length:
                raise RegistryError(TRUNCATED)
            return
        raw._sock = raw._pool = None  # from here on this method owns the connection
        view = memoryview(buffer)
        try:
            while received < length:
                count = sock.recv_into(view[: min(len(view), length - received)])
                if count == 0:
                    raise RegistryError(TRUNCATED)
                received += count
                yield view[:count]
        except BaseException:
            pool.release_socket(sock)  # half-read: never reuse it
            raise
        if raw.should_keep_alive():
            pool.return_socket(sock)
        else:
            pool.release_socket(sock)

    def read_small(self, limit: int = ERROR_BODY_LIMIT) -> bytes:
        """Read (once) a body we expect to be small (errors, manifests), refusing one larger than `limit`."""
        if self._body is None:
            length = self.raw.content_length
            if length is not None and length > limit:
                raise RegistryError(f"{self.status} answer of {length} bytes, more than the {limit} expected")
            try:
                self._body = self.raw.read()
            except HTTPException:
                if length is None:
                    raise
                raise RegistryError(TRUNCATED) from None
        return self._body


@dataclass
class UploadSession:
    """An upload URL as the registry gave it (query kept: distribution's `_state` lives there)."""

    repository: str
    location: str
    offset: int = 0


@dataclass
class Outcome:
    """Filled in by a call while its timer runs: the bytes moved decide `response_length`."""

    length: int = 0
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientConfig:
    """Transport settings a client is built with."""

    verify_digests: bool = True
    connect_timeout: float = 10.0
    network_timeout: float = 120.0
    concurrency: int = 5
    tls_verify: bool = True
    ca_file: str | None = None
    user_agent: str = "registry-tasks/0.1 (locust)"
    credentials: Credentials | None = None
    honor_retry_after: bool = False


def with_digest(location: str, digest: str) -> str:
    """Add `digest=` to an upload URL, keeping its query untouched."""
    separator = "&" if urlsplit(location).query else "?"
    return f"{location}{separator}digest={quote(digest, safe='')}"


def _disable_nagle(client: HTTPClient) -> None:
    """Set TCP_NODELAY on every connection: geventhttpclient sends headers and body in two writes,
    and Nagle plus delayed ACK would then hold a small PATCH or PUT body back for 40 ms."""
    pool = client._connection_pool
    create = pool._create_tcp_socket

    def create_nodelay(family: int, socktype: int, protocol: int) -> Any:
        sock = create(family, socktype, protocol)
        if family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    pool._create_tcp_socket = create_nodelay  # type: ignore[method-assign]


def _tell_connect_timeouts(client: HTTPClient) -> None:
    """Raise ConnectTimeout when connecting times out, so that its message differs from a read timeout's."""
    pool = client._connection_pool
    connect = pool._connect_socket

    def connect_or_say_so(sock: Any, address: Any) -> Any:
        try:
            return connect(sock, address)
        except TimeoutError as exc:
            raise ConnectTimeout(str(exc)) from None

    pool._connect_socket = connect_or_say_so  # type: ignore[method-assign]


class RegistryClient:
    """Talks to one registry as one Locust user would: its own connections, its own counters."""

    def __init__(self, base_url: str, fire: RequestHook, config: ClientConfig | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.fire = fire
        self.config = config or ClientConfig()
        self._clients: dict[tuple[str, str, int], HTTPClient] = {}
        self._base_netloc = urlsplit(self.base_url).netloc
        self._headers = {"User-Agent": self.config.user_agent}
        self.auth = Authenticator(self.config.credentials)
        self._buffers: list[bytearray] = []  # one receive buffer per blob read in flight, reused
        self._token_locks: dict[tuple[str, ...], gevent.lock.Semaphore] = {}
        self._not_before = 0.0  # monotonic time before which --honor-retry-after holds our next call back

    # --- transport ---------------------------------------------------------------------------

    def _http(self, url: str) -> tuple[HTTPClient, str]:
        parts = urlsplit(url)
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        key = (parts.scheme, parts.hostname or "", port)
        client = self._clients.get(key)
        if client is None:
            client = HTTPClient(
                parts.hostname or "",
                port=port,
                ssl=secure,
                connection_timeout=self.config.connect_timeout,
                network_timeout=self.config.network_timeout,
                concurrency=self.config.concurrency,
                ssl_context_factory=self._ssl_context if secure else None,
                insecure=not self.config.tls_verify,
                headers=self._headers,
            )
            _disable_nagle(client)
            _tell_connect_timeouts(client)
            self._clients[key] = client
        path = parts.path or "/"
        return client, f"{path}?{parts.query}" if parts.query else path

    def _ssl_context(self, cafile: str | None = None, **_: Any) -> ssl.SSLContext:
        """Verify certificates by default (FastHttpUser does not): `--registry-ca-file` for a private CA."""
        context = gevent.ssl.create_default_context(cafile=self.config.ca_file or cafile)
        if not self.config.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _follow(self, method: str, url: str, headers: dict[str, str], body: Any = b"") -> Response:
        """One request, following redirects by hand; Authorization goes only to the registry's own host."""
        for _ in range(MAX_REDIRECTS + 1):
            raw = self._request(method, url, headers, body)
            response = Response(raw.status_code, url, raw)
            if raw.status_code not in REDIRECT_STATUSES or method not in ("GET", "HEAD"):
                return response
            location = response.header("Location")
            if not location:
                return response
            response.read_small()
            url = urljoin(url, location)
            if urlsplit(url).netloc != self._base_netloc:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise RegistryError(f"more than {MAX_REDIRECTS} redirects")

    def _request(self, method: str, url: str, headers: dict[str, str], body: Any = b"") -> HTTPSocketPoolResponse:
        """One HTTP exchange; geventhttpclient's own RuntimeErrors (no address, pool closed) become OSErrors."""
        client, path = self._http(url)
        try:
            return client.request(method, path, body=body, headers=headers)
        except RuntimeError as exc:
            raise ConnectionError(str(exc)) from None

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: Any = b"", scopes: tuple[str, ...] = ()
    ) -> Response:
        """A registry request with auth: known credentials up front; on a 401, answer the challenge and retry
        once (a cached token the registry calls invalid or short of scope is fetched anew)."""
        for attempt in (1, 2):
            authorization = self.auth.header(scopes)
            sent = {**headers, "Authorization": authorization} if authorization else headers
            response = self._follow(method, url, sent, body)
            if response.status != 401 or attempt == 2:
                return response
            response.read_small()
            try:
                challenge = self.auth.learn(response.header("WWW-Authenticate"))
            except AuthError as exc:
                raise RegistryError(f"401 {exc}") from None
            if challenge.scheme == "bearer":
                with self._token_lock(scopes):  # parallel blob requests share one fetch, as containerd's do
                    if self.auth.header(scopes) == authorization:  # nobody renewed it while we waited
                        self.auth.forget(scopes)
                        self._fetch_token(challenge, scopes)
            if hasattr(body, "seek"):
                body.seek(0)
        raise AssertionError("unreachable")

    def _token_lock(self, scopes: tuple[str, ...]) -> gevent.lock.Semaphore:
        return self._token_locks.setdefault(tuple(sorted(scopes)), gevent.lock.Semaphore())

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> None:
        """GET the token server, reported as its own `token` entry so its load shows."""
        wanted = tuple(dict.fromkeys((*scopes, *challenge.scopes)))
        url = token_url(challenge, wanted)
        credentials = self.config.credentials
        headers = {"Authorization": credentials.basic()} if credentials else {}
        with self.measure("GET", names.TOKEN) as outcome:
            response = self._follow_token(url, headers)
            self._expect(response, 200)
            body = response.read_small()
            outcome.length = len(body)
            try:
                self.auth.store(scopes, body)
            except AuthError as exc:
                raise RegistryError(str(exc)) from None

    def _follow_token(self, url: str, headers: dict[str, str]) -> Response:
        """The token server may be another host: our Basic credentials go to it on purpose (docker does)."""
        raw = self._request("GET", url, headers)
        return Response(raw.status_code, url, raw)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    # --- reporting -----------------------------------------------------------------------------

    @contextmanager
    def measure(self, request_type: str, name: str, **context: Any) -> Iterator[Outcome]:
        """Time a block and report it once; a failure inside is reported here and raised as RequestFailed.

        A Retry-After the registry sent holds the next call back (--honor-retry-after), before its timer starts.
        """
        self._wait_as_told()
        outcome = Outcome(context=dict(context))
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            yield outcome
        except RequestFailed as exc:
            error = exc
        except (RegistryError, DigestMismatch) as exc:
            error = exc
        except TimeoutError as exc:
            error = RegistryError(self._timeout_message(exc))
        except (OSError, HTTPException) as exc:  # refused, reset, TLS, unparsable answer
            error = ConnectionError(f"{type(exc).__name__}: {exc}")
        except ValueError as exc:  # a JSON body that does not parse, a malformed header
            error = RegistryError(f"bad response: {exc}")
        elapsed = (time.perf_counter() - start) * 1000.0
        self.fire(
            request_type=request_type,
            name=name,
            response_time=elapsed,
            response_length=outcome.length,
            exception=error,
            context=outcome.context,
            response=None,
            url=None,
        )
        if error is not None:
            self._note_retry_after(error)
            raise RequestFailed(str(error), getattr(error, "status", None)) from error

    def _timeout_message(self, exc: TimeoutError) -> str:
        if isinstance(exc, ConnectTimeout):
            return f"timeout: no connection within {self.config.connect_timeout:g} s"
        return f"timeout: no progress for {self.config.network_timeout:g} s"

    def _note_retry_after(self, error: BaseException) -> None:
        seconds = getattr(error, "retry_after", None)
        if self.config.honor_retry_after and seconds:
            self._not_before = max(self._not_before, time.monotonic() + seconds)

    def _wait_as_told(self) -> None:
        """Sleep (in the calling greenlet: this user's) until the back-off a registry asked for has passed."""
        delay = self._not_before - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)

    def _call(
        self,
        method: str,
        repository: str,
        tail: str,
        headers: dict[str, str] | None = None,
        body: Any = b"",
        also: tuple[str, ...] = (),
    ) -> Response:
        """A request under `/v2/<repository>/`, with the scope its method needs (push for writes)."""
        scopes = scope_for(repository, method not in ("GET", "HEAD")) + also
        return self._send(method, f"{self.base_url}/v2/{repository}/{tail}", headers or {}, body, scopes)

    def _on_session(
        self, method: str, session: UploadSession, url: str, headers: dict[str, str] | None = None, body: Any = b""
    ) -> Response:
        """A request on an upload URL (kept as the registry gave it), with the repository's push scope."""
        return self._send(method, url, headers or {}, body, scope_for(session.repository, True))

    def _expect(self, response: Response, *statuses: int) -> None:
        if response.status not in statuses:
            message = error_message(response.status, response.read_small())
            retry_after = retry_after_seconds(response.header("Retry-After"))
            raise RegistryError(message, response.status, retry_after)

    # --- ping, manifests -------------------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str) -> tuple[str, bytes, str]:
        """GET a manifest with every type we read in Accept; returns (media type, bytes, digest)."""
        with self.measure("GET", names.MANIFEST_GET, repository=repository, reference=reference) as outcome:
            response = self._call("GET", repository, f"manifests/{reference}", ACCEPT)
            self._expect(response, 200)
            data = response.read_small(4 << 20)
            outcome.length = len(data)
            media_type = (response.header("Content-Type") or "").split(";")[0].strip()
            digest = sha256_digest(data)
            if self.config.verify_digests:
                self._check_manifest_digest(reference, digest, response.header("Docker-Content-Digest"), media_type)
            return media_type, data, digest

    @staticmethod
    def _check_manifest_digest(reference: str, digest: str, announced: str | None, media_type: str) -> None:
        if media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED):
            return  # schema1's digest covers the JWS payload, not the bytes served
        if reference.startswith("sha256:") and digest != reference:
            raise DigestMismatch("manifest bytes do not match the requested digest")
        if announced and announced.startswith("sha256:") and announced != digest:
            raise DigestMismatch("manifest bytes do not match Docker-Content-Digest")

    def head_manifest(self, repository: str, reference: str) -> str | None:
        """The digest of a manifest if it exists (404 is an answer, not a failure)."""
        with self.measure("HEAD", names.MANIFEST_HEAD, repository=repository, reference=reference) as outcome:
            response = self._call("HEAD", repository, f"manifests/{reference}", ACCEPT)
            self._expect(response, 200, 404)
            outcome.context["exists"] = response.status == 200
            return response.header("Docker-Content-Digest") if response.status == 200 else None

    def put_manifest(self, repository: str, reference: str, manifest: Blob) -> str:
        """PUT the exact manifest bytes; the registry's digest must be ours."""
        data = manifest.body.read_all()
        headers = {"Content-Type": manifest.descriptor.media_type}
        with self.measure("PUT", names.MANIFEST_PUT, repository=repository, reference=reference) as outcome:
            response = self._call("PUT", repository, f"manifests/{reference}", headers, data)
            self._expect(response, 201)
            response.read_small()
            outcome.length = len(data)
            announced = response.header("Docker-Content-Digest")
            if announced and announced != manifest.digest:
                raise DigestMismatch("registry computed another manifest digest")
            return manifest.digest

    def delete_manifest(self, repository: str, digest: str) -> None:
        with self.measure("DELETE", names.MANIFEST_DELETE, repository=repository, reference=digest):
            response = self._call("DELETE", repository, f"manifests/{digest}")
            response.read_small()
            self._expect(response, 202)

    # --- blobs ---------------------------------------------------------------------------------

    def get_blob(self, repository: str, digest: str, expected_size: int | None = None) -> int:
        """Stream a blob, hashing as it comes; the time covers the whole body. Returns the bytes read."""
        with self.measure("GET", names.BLOB_GET, repository=repository, digest=digest) as outcome:
            response = self._call("GET", repository, f"blobs/{digest}")
            self._expect(response, 200)
            hasher = hashlib.sha256() if self.config.verify_digests else None
            total = 0
            buffer = self._buffers.pop() if self._buffers else bytearray(READ_CHUNK)
            try:
                for piece in response.stream(buffer):
                    total += len(piece)
                    if hasher is not None:
                        hasher.update(piece)
            finally:
                outcome.length = total
                self._buffers.append(buffer)
            if expected_size is not None and expected_size >= 0 and total != expected_size:
                raise DigestMismatch("blob size differs from its descriptor")
            if hasher is not None and hasher_digest(hasher) != digest:
                raise DigestMismatch("blob bytes do not match their digest")
            return total

    def blob_exists(self, repository: str, digest: str) -> bool:
        with self.measure("HEAD", names.BLOB_HEAD, repository=repository, digest=digest) as outcome:
            response = self._call("HEAD", repository, f"blobs/{digest}")
            self._expect(response, 200, 404)
            outcome.context["exists"] = response.status == 200
            return response.status == 200

    def start_upload(self, repository: str) -> UploadSession:
        with self.measure("POST", names.UPLOAD_START, repository=repository):
            response = self._call("POST", repository, "blobs/uploads/")
            response.read_small()
            self._expect(response, 202)
            return self._session(repository, response)

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount; False when the registry offers an upload instead (which we cancel)."""
        query = urlencode({"mount": digest, "from": from_repository})
        with self.measure("POST", names.BLOB_MOUNT, repository=repository, digest=digest) as outcome:
            response = self._call("POST", repository, f"blobs/uploads/?{query}", also=scope_for(from_repository, False))
            response.read_small()
            self._expect(response, 201, 202)
            outcome.context["mounted"] = response.status == 201
        if response.status == 202:
            self._cancel(self._session(repository, response))
        return response.status == 201

    def _cancel(self, session: UploadSession) -> None:
        """Drop an upload we will not use, as skopeo does; not a load figure, so not reported."""
        try:
            self._on_session("DELETE", session, session.location).read_small()
        except Exception as exc:  # best effort: the registry expires abandoned uploads itself
            log.debug("cancelling an upload failed: %s", exc)

    def _session(self, repository: str, response: Response) -> UploadSession:
        location = response.header("Location")
        if not location:
            raise RegistryError(f"{response.status} upload answer without Location")
        return UploadSession(repository, urljoin(response.url, location), self._range_end(response) + 1)

    @staticmethod
    def _range_end(response: Response) -> int:
        """The last byte the registry holds, from `Range: 0-N` (or `bytes=0-N`); -1 for none."""
        value = response.header("Range")
        if not value:
            return -1
        start, _, end = value.removeprefix("bytes=").partition("-")
        try:
            return int(end) if int(start) == 0 else -1
        except ValueError:
            raise RegistryError(f"upload answer with malformed Range {value!r}") from None

    def upload_chunk(self, session: UploadSession, blob: Blob, start: int, end: int, ranged: bool = True) -> None:
        """PATCH bytes [start, end) of a blob; the Range answer must show the registry has them all."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(end - start)}
        if ranged:
            headers["Content-Range"] = f"{start}-{end - 1}"
        with self.measure("PATCH", names.UPLOAD_CHUNK, digest=blob.digest) as outcome:
            body = BodyReader(blob.body, start, end, views=True)
            response = self._on_session("PATCH", session, session.location, headers, body)
            response.read_small()
            self._expect(response, 202)
            outcome.length = end - start
            held = self._range_end(response) + 1
            if held != end:
                raise RegistryError(f"registry holds {held} bytes after a chunk ending at {end}")
            session.location = urljoin(response.url, response.header("Location") or session.location)
            session.offset = end

    def finish_upload(self, session: UploadSession, blob: Blob, start: int | None = None) -> None:
        """PUT ?digest= closing the session, carrying bytes [start, size) when given (monolithic)."""
        headers = {"Content-Type": "application/octet-stream"}
        body: Any = b""
        length = 0
        if start is not None:
            body = BodyReader(blob.body, start, blob.size, views=True)
            length = blob.size - start
        headers["Content-Length"] = str(length)
        with self.measure("PUT", names.UPLOAD_FINISH, digest=blob.digest) as outcome:
            response = self._on_session("PUT", session, with_digest(session.location, blob.digest), headers, body)
            response.read_small()
            self._expect(response, 201)
            outcome.length = length
            announced = response.header("Docker-Content-Digest")
            if announced and announced != blob.digest:
                raise DigestMismatch("registry stored the blob under another digest")

    def upload_status(self, session: UploadSession) -> int:
        """GET the upload URL: how many bytes the registry holds (the spec's way back from a 416)."""
        with self.measure("GET", names.UPLOAD_STATUS, repository=session.repository) as outcome:
            response = self._on_session("GET", session, session.location)
            response.read_small()
            self._expect(response, 204)
            end = self._range_end(response)
            session.location = urljoin(response.url, response.header("Location") or session.location)
            session.offset = end + 1 if end > 0 else 0  # distribution says `0-0` for an empty session
            outcome.context["offset"] = session.offset
            return session.offset

    def upload_blob(self, repository: str, blob: Blob, mode: str, chunk_size: int) -> None:
        """One upload session for one blob, shaped as `chunked`, `stream` (one PATCH) or `monolithic`."""
        session = self.start_upload(repository)
        if mode == "monolithic":
            self.finish_upload(session, blob, start=0)
            return
        if mode == "stream":
            if blob.size:
                self.upload_chunk(session, blob, 0, blob.size, ranged=False)
        else:
            self._upload_chunks(session, blob, chunk_size)
        self.finish_upload(session, blob)

    def _upload_chunks(self, session: UploadSession, blob: Blob, chunk_size: int) -> None:
        """PATCH chunk after chunk; after a 416 ask the session where it stands and resume once from there
        (another failure, or a second 416, fails the upload: the next one starts a new session)."""
        start, resumed = 0, False
        while start < blob.size:
            end = min(start + chunk_size, blob.size)
            try:
                self.upload_chunk(session, blob, start, end)
            except RequestFailed as exc:
                if exc.status != 416 or resumed:
                    raise
                resumed = True
                start = self.upload_status(session)
                continue
            start = end
