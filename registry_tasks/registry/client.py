"""RegistryClient: one method per Registry API V2 operation, each timed and reported as one request.

It knows which bytes go where and how to check them, never which image or why. The session under it
(session.py) sends, authenticates, follows redirects and reports; the workflows above it (workflows.py)
decide what to pull or push.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from gevent import GreenletExit

from ..image import (
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    Blob,
    BodyReader,
    hasher_digest,
    sha256_digest,
)
from . import names
from .auth import scope_for
from .connecting import join_url
from .errors import LOST_BLOB_CODES, DigestMismatch, RegistryError, RequestFailed, error_message, json_object
from .profiles import CHUNKED, MONOLITHIC, POOL_PER_OPERATION, STREAM, STREAM_ENCODED
from .session import ERROR_BODY_LIMIT, ClientConfig, Outcome, RegistrySession, RequestHook, next_link
from .transport import Response

__all__ = ["ClientConfig", "RegistryClient", "RequestHook", "UploadSession", "with_digest"]

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
MANIFEST_LIMIT = 4 << 20  # distribution refuses larger manifests
KNOWN_BLOBS_LIMIT = 10_000  # blobs a client remembers where it saw them (for mounts), newest kept
SETTLE_SECONDS = 5.0  # at most this long for the registry to finish a request a stop cut, before the DELETE


@dataclass
class UploadSession:
    """An upload URL as the registry gave it (query kept: distribution's `_state` lives there)."""

    repository: str
    location: str
    offset: int = 0
    min_chunk: int = 0
    """OCI-Chunk-Min-Length: the smallest chunk the registry takes (distribution-spec 1.1)."""


@dataclass
class BlobProgress:
    """How much of one blob a transfer holds, and the hash of it, kept across a cut body and its resume."""

    received: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)

    def restart(self) -> None:
        self.received = 0
        self.hasher = hashlib.sha256()


def with_digest(location: str, digest: str) -> str:
    """Add `digest=` to an upload URL, keeping its query untouched."""
    separator = "&" if urlsplit(location).query else "?"
    return f"{location}{separator}digest={quote(digest, safe='')}"


class RegistryClient(RegistrySession):
    """Talks to one registry as one Locust user would: its own connections, its own counters."""

    def __init__(self, base_url: str, fire: RequestHook, config: ClientConfig | None = None) -> None:
        super().__init__(base_url, fire, config)
        self.profile = self.config.profile
        accept = self.profile.accept
        self._accept: dict[str, Any] = {"Accept": ", ".join(accept) if self.profile.accept_joined else accept}
        self._buffers: list[bytearray] = []  # one receive buffer per blob read in flight, reused
        self.known_blobs: dict[str, str] = {}
        """Blob digest -> a repository of this registry where this client saw it (pulled, pushed, found)."""

    def begin_operation(self) -> None:
        """A new image operation, as a fresh client process or transfer would start it: per the profile, a new
        connection pool and no cached token."""
        if self.profile.connections == POOL_PER_OPERATION:
            self.transport.close()
        if self.profile.token_per_operation:
            self.auth.tokens.clear()

    def knows(self, digest: str, repository: str) -> None:
        self.known_blobs.pop(digest, None)
        self.known_blobs[digest] = repository
        if len(self.known_blobs) > KNOWN_BLOBS_LIMIT:
            del self.known_blobs[next(iter(self.known_blobs))]

    def ping(self) -> None:
        """GET /v2/: the version check docker and skopeo make before each image operation."""
        with self.measure("GET", names.PING):
            response = self._send("GET", f"{self.base_url}/v2/", {})
            response.read(ERROR_BODY_LIMIT)
            self._expect(response, 200)

    def api_problem(self) -> str | None:
        """GET /v2/ with the configured auth before any load: None when a Registry API V2 answers, else one line
        naming the URL and what came back (a wrong path prefix, an HTML page, refused, a TLS error...)."""
        url = f"{self.base_url}/v2/"
        try:
            with self.measure("GET", names.PING):
                response = self._send("GET", url, {})
                body = response.read(ERROR_BODY_LIMIT)
        except RequestFailed as failure:
            if failure.status == 401 and self.config.credentials is None:
                return f"{url} answered 401: give --registry-username and --registry-password (or a docker config)"
            if failure.status == 401:  # its challenge or its token server refused us
                return f"{url} answered 401: the registry refused the credentials ({failure})"
            return f"{url}: {failure} (is the registry running there?)"
        api = response.header("Docker-Distribution-API-Version")
        if response.status == 200 and (api or body.strip().startswith(b"{")):
            return None
        what = "an HTML page" if b"<html" in body[:512].lower() else f"{len(body)} bytes"
        if response.status == 404:
            return f"{url} answered 404: not a Registry API V2 endpoint (check the path prefix)"
        if response.status == 200:
            return (
                f"{url} answered 200 with {what} and no Docker-Distribution-API-Version: not a Registry API V2 endpoint"
            )
        if response.status == 401 and self.config.credentials is not None:  # Basic: the retry with them refused too
            return f"{url} answered 401: the registry refused the credentials ({error_message(401, body)})"
        if response.status == 401:
            return f"{url} answered 401: give --registry-username and --registry-password (or a docker config)"
        return f"{url} answered {response.status}: not a Registry API V2 endpoint"

    # --- listings --------------------------------------------------------------------------------

    def tags_page(self, repository: str, page_size: int, url: str | None = None) -> tuple[list[str], str | None]:
        """One page of a repository's tags (`n=` page_size; `url`: the previous page's next link); returns the
        tags and the next page's URL (from `Link: <...>; rel="next"`), or None after the last."""
        first = f"{self.base_url}/v2/{repository}/tags/list?{urlencode({'n': page_size})}"
        with self.measure("GET", names.TAGS_LIST, repository=repository) as outcome:
            document, following = self._page(url or first, scope_for(repository, False), outcome)
            tags = document.get("tags") or []
        return [str(tag) for tag in tags], following

    def catalog_page(self, page_size: int, url: str | None = None) -> tuple[list[str], str | None]:
        """One page of the catalog (`n=` page_size), and the next page's URL or None."""
        first = f"{self.base_url}/v2/_catalog?{urlencode({'n': page_size})}"
        with self.measure("GET", names.CATALOG) as outcome:
            document, following = self._page(url or first, ("registry:catalog:*",), outcome)
            repositories = document.get("repositories") or []
        return [str(name) for name in repositories], following

    def _page(self, url: str, scopes: tuple[str, ...], outcome: Outcome) -> tuple[dict[str, Any], str | None]:
        response = self._send("GET", url, {"Accept": "application/json"}, None, scopes)
        self._expect(response, 200)
        data = response.read(ERROR_BODY_LIMIT * 16)
        outcome.length = len(data)
        document = json_object(data or b"{}", response.status, "a listing")
        link = next_link(response.header("Link"))
        return document, join_url(url, link) if link else None

    # --- manifests -------------------------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str) -> tuple[str, bytes, str]:
        """GET a manifest with every type we read in Accept; returns (media type, bytes, digest)."""
        with self.measure("GET", names.MANIFEST_GET, repository=repository, reference=reference) as outcome:
            response = self._call("GET", repository, f"manifests/{reference}", self._accept)
            self._expect(response, 200)
            data = response.read(MANIFEST_LIMIT)
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

    def head_manifest(self, repository: str, reference: str, required: bool = False) -> str | None:
        """The digest of a manifest if it exists; a 404 is an answer, not a failure, unless `required` (a pull
        resolving its tag); None also when the registry sends no Docker-Content-Digest."""
        with self.measure("HEAD", names.MANIFEST_HEAD, repository=repository, reference=reference) as outcome:
            found = self._probe(outcome, repository, f"manifests/{reference}", self._accept, required)
            return found.header("Docker-Content-Digest") if found else None

    def _probe(self, outcome: Outcome, repository: str, tail: str, headers: Any = None, required: bool = False) -> Any:
        """HEAD something that may not be there: the 200 answer, or None for a 404 (an answer, not a failure)."""
        response = self._call("HEAD", repository, tail, headers)
        self._expect(response, *((200,) if required else (200, 404)))
        outcome.context["exists"] = response.status == 200
        return response if response.status == 200 else None

    def put_manifest(self, repository: str, reference: str, manifest: Blob) -> str:
        """PUT the exact manifest bytes; the registry's digest must be ours."""
        data = manifest.body.read_all()
        headers = {"Content-Type": manifest.descriptor.media_type}
        with self.measure("PUT", names.MANIFEST_PUT, repository=repository, reference=reference) as outcome:
            response = self._call("PUT", repository, f"manifests/{reference}", headers, data)
            if response.status != 201:
                self._lost_blob(response, repository)
            response.read(ERROR_BODY_LIMIT)
            outcome.length = len(data)
            announced = response.header("Docker-Content-Digest")
            if announced and announced != manifest.digest:
                raise DigestMismatch("registry computed another manifest digest")
            return manifest.digest

    def _lost_blob(self, response: Response, repository: str) -> None:
        """A manifest PUT refused: a blob this client uploaded there with success, now "unknown", is a registry
        consistency bug (Quay's soak saw it within a second of deletion cycles) and gets a message of its own."""
        body = response.read(ERROR_BODY_LIMIT)
        error = RegistryError.of_answer(response.status, body, response.header("Retry-After"))
        text = body.decode("utf-8", "replace")  # the error's detail names the blob (distribution: its digest)
        ours = [digest for digest, where in self.known_blobs.items() if where == repository and digest in text]
        if LOST_BLOB_CODES.intersection(error.codes) and ours:
            raise RegistryError("blob unknown after its upload succeeded", error.status, codes=error.codes)
        raise error

    def delete_manifest(self, repository: str, digest: str) -> None:
        with self.measure("DELETE", names.MANIFEST_DELETE, repository=repository, reference=digest):
            response = self._call("DELETE", repository, f"manifests/{digest}")
            response.read(ERROR_BODY_LIMIT)
            self._expect(response, 202)

    # --- blobs and uploads ---------------------------------------------------------------------------------

    def get_blob(
        self, repository: str, digest: str, expected_size: int | None = None, progress: BlobProgress | None = None
    ) -> int:
        """Stream a blob, hashing as it comes; the time covers the whole body. Returns the blob's bytes read.

        With `progress` (a transfer a real client resumes), bytes it already holds are asked for no more:
        `Range: bytes=N-`, the hash going on from where the cut left it; an answer other than 206 starts the
        blob anew, as docker does."""
        with self.measure("GET", names.BLOB_GET, repository=repository, digest=digest) as outcome:
            resume_from = progress.received if progress is not None else 0
            headers = {"Range": f"bytes={resume_from}-"} if resume_from else None
            response = self._call("GET", repository, f"blobs/{digest}", headers)
            self._expect(response, *((200, 206) if resume_from else (200,)))
            if resume_from:
                outcome.context.update(resumed_from=resume_from, answer=response.status)
            if progress is None:
                progress = BlobProgress()
            if response.status != 206:
                progress.restart()
            hasher = progress.hasher if self.config.verify_digests else None
            buffer = self._buffers.pop() if self._buffers else bytearray(READ_CHUNK)
            try:
                for piece in response.stream(buffer):
                    outcome.length += len(piece)
                    progress.received += len(piece)
                    if hasher is not None:
                        hasher.update(piece)
            finally:
                self._buffers.append(buffer)
            total = progress.received
            if expected_size is not None and expected_size >= 0 and total != expected_size:
                raise DigestMismatch("blob size differs from its descriptor")
            if hasher is not None and hasher_digest(hasher) != digest:
                raise DigestMismatch("blob bytes do not match their digest")
            self.knows(digest, repository)
            return total

    def blob_exists(self, repository: str, digest: str) -> bool:
        with self.measure("HEAD", names.BLOB_HEAD, repository=repository, digest=digest) as outcome:
            found = self._probe(outcome, repository, f"blobs/{digest}") is not None
            if found:
                self.knows(digest, repository)
            return found

    def start_upload(self, repository: str) -> UploadSession:
        with self.measure("POST", names.UPLOAD_START, repository=repository):
            response = self._call("POST", repository, "blobs/uploads/")
            response.read(ERROR_BODY_LIMIT)
            self._expect(response, 202)
            return self._session(repository, response)

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount; False when the registry offers an upload instead (which we cancel)."""
        query = urlencode({"mount": digest, "from": from_repository})
        with self.measure("POST", names.BLOB_MOUNT, repository=repository, digest=digest) as outcome:
            response = self._call("POST", repository, f"blobs/uploads/?{query}", also=scope_for(from_repository, False))
            response.read(ERROR_BODY_LIMIT)
            self._expect(response, 201, 202)
            outcome.context["mounted"] = response.status == 201
        if response.status == 201:
            self.knows(digest, repository)
        if response.status == 202:
            self._cancel(self._session(repository, response))
        return response.status == 201

    def _cancel(self, session: UploadSession) -> None:
        """Drop an upload we will not use, as skopeo does; not a load figure, so not reported. A request of the
        session that a stop left in flight is waited for first (`Transport.settle`): requests on one upload
        session go one after another (distribution 2.8 answers a DELETE beside a PATCH with a 500), and the
        session's URL is the one its answer gave (distribution refuses the `_state` from before it, 404)."""
        try:
            for answer in self.transport.settle(min(SETTLE_SECONDS, self.transport.config.network_timeout)):
                location = answer.header("Location")
                if answer.status == 202 and location and answer.url.split("?")[0] == session.location.split("?")[0]:
                    session.location = urljoin(answer.url, location)
            self._on_upload("DELETE", session.repository, session.location).read(ERROR_BODY_LIMIT)
        except Exception as exc:  # best effort: the registry expires abandoned uploads itself
            log.debug("cancelling an upload failed: %s", exc)

    def _session(self, repository: str, response: Response) -> UploadSession:
        location = response.header("Location")
        if not location:
            raise RegistryError(f"{response.status} upload answer without Location", response.status)
        least = response.header("OCI-Chunk-Min-Length") or "0"
        minimum = int(least) if least.isdecimal() else 0
        return UploadSession(repository, join_url(response.url, location), self._range_end(response) + 1, minimum)

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
            raise RegistryError(f"upload answer with malformed Range {value!r}", response.status) from None

    def upload_chunk(
        self, session: UploadSession, blob: Blob, start: int, end: int, ranged: bool = True, encoded: bool = False
    ) -> None:
        """PATCH bytes [start, end) of a blob; the Range answer must show the registry has them all. `ranged`
        sends Content-Range (a chunked upload); `encoded` sends no length at all but Transfer-Encoding: chunked,
        as docker streams a layer it compresses on the fly."""
        headers = {"Content-Type": "application/octet-stream"}
        if not encoded:
            headers["Content-Length"] = str(end - start)
        if ranged:
            headers["Content-Range"] = f"{start}-{end - 1}"
        with self.measure("PATCH", names.UPLOAD_CHUNK, digest=blob.digest) as outcome:
            body = BodyReader(blob.body, start, end, views=True)
            response = self._on_upload("PATCH", session.repository, session.location, headers, body)
            response.read(ERROR_BODY_LIMIT)
            self._expect(response, 202)
            outcome.length = end - start
            held = self._range_end(response) + 1
            if held != end:
                raise RegistryError(f"registry holds {held} bytes after a chunk ending at {end}", response.status)
            session.location = join_url(response.url, response.header("Location") or session.location)
            session.offset = end

    def finish_upload(self, session: UploadSession, blob: Blob, start: int | None = None) -> None:
        """PUT ?digest= closing the session, carrying bytes [start, size) when given (monolithic)."""
        headers = {"Content-Type": "application/octet-stream"}
        body: Any = None
        length = 0
        if start is not None:
            body = BodyReader(blob.body, start, blob.size, views=True)
            length = blob.size - start
        headers["Content-Length"] = str(length)
        with self.measure("PUT", names.UPLOAD_FINISH, digest=blob.digest) as outcome:
            url = with_digest(session.location, blob.digest)
            response = self._on_upload("PUT", session.repository, url, headers, body)
            response.read(ERROR_BODY_LIMIT)
            self._expect(response, 201)
            outcome.length = length
            announced = response.header("Docker-Content-Digest")
            if announced and announced != blob.digest:
                raise DigestMismatch("registry stored the blob under another digest")

    def upload_status(self, session: UploadSession) -> int:
        """GET the upload URL: how many bytes the registry holds (the spec's way back from a 416)."""
        with self.measure("GET", names.UPLOAD_STATUS, repository=session.repository) as outcome:
            response = self._on_upload("GET", session.repository, session.location)
            response.read(ERROR_BODY_LIMIT)
            self._expect(response, 204)
            end = self._range_end(response)
            session.location = join_url(response.url, response.header("Location") or session.location)
            session.offset = end + 1 if end > 0 else 0  # distribution says `0-0` for an empty session
            outcome.context["offset"] = session.offset
            return session.offset

    def upload_blob(self, repository: str, blob: Blob, mode: str, chunk_size: int) -> None:
        """One upload session for one blob, in one of profiles.UPLOAD_STYLES: `chunked` (PATCHes with
        Content-Range), `stream` (one PATCH with Content-Length), `stream-encoded` (one PATCH, chunked
        transfer encoding) or `monolithic` (the body in the closing PUT)."""
        session = self.start_upload(repository)
        try:
            if mode == MONOLITHIC:
                self.finish_upload(session, blob, start=0)
            else:
                if mode == CHUNKED:
                    self._upload_chunks(session, blob, max(chunk_size, session.min_chunk))
                elif blob.size or mode == STREAM_ENCODED:
                    self.upload_chunk(session, blob, 0, blob.size, ranged=False, encoded=mode != STREAM)
                self.finish_upload(session, blob)
        except GreenletExit:  # abandoned at stop: leave the registry no half upload to expire
            self._cancel(session)
            raise
        self.knows(blob.digest, repository)

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
