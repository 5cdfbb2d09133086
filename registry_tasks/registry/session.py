"""One simulated client's conversation with a registry: its transport, its auth state, and the measuring of
each call, under the API operations that `RegistryClient` builds on top.

Every call is reported through a `fire` callable with Locust's `events.request.fire` signature, so the same code
serves Locust users (counted in the stats) and seeding (only logged). A failed call is reported once, with the
registry's error code in the message, and then raised as `RequestFailed` so that the workflow above it stops
without reporting it again. Only what the registry or the network did is reported so: a bug in our code (a
TypeError, a KeyError) goes up to Locust with its traceback, never counted as a registry's failure.
"""

from __future__ import annotations

import errno
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import gevent
import gevent.lock

from . import names
from .auth import Authenticator, AuthError, Challenge, Credentials, scope_for, token_url
from .connecting import join_url
from .errors import DigestMismatch, Failure, RegistryError, RequestFailed, error_codes
from .profiles import MINIMAL, PER_REQUEST, ClientProfile
from .transport import ConnectTimeout, ProtocolError, Response, Transport, TransportConfig

log = logging.getLogger(__name__)

RequestHook = Callable[..., None]
"""Locust's `events.request.fire(request_type=, name=, response_time=, response_length=, exception=, context=)`."""

ERROR_BODY_LIMIT = 64 << 10
MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class ClientConfig:
    """How a client talks to its registry."""

    verify_digests: bool = True
    connect_timeout: float = 10.0
    network_timeout: float = 120.0
    concurrency: int = 5
    tls_verify: bool = True
    ca_file: str | None = None
    credentials: Credentials | None = None
    honor_retry_after: bool = False
    profile: ClientProfile = MINIMAL
    """The real client this one sends as (User-Agent, connections, sequences): see profiles.py."""

    @property
    def user_agent(self) -> str:
        return self.profile.user_agent

    def transport(self) -> TransportConfig:
        return TransportConfig(
            connect_timeout=self.connect_timeout,
            network_timeout=self.network_timeout,
            concurrency=self.concurrency,
            tls_verify=self.tls_verify,
            ca_file=self.ca_file,
            keep_alive=self.profile.connections != PER_REQUEST,
            default_headers={"User-Agent": self.user_agent},
        )


@dataclass
class Outcome:
    """Filled in by a call while its timer runs: the bytes moved decide `response_length`."""

    length: int = 0
    context: dict[str, Any] = field(default_factory=dict)
    url: str | None = None
    """The first request's URL (credentials left out): what Locust's request event calls `url`."""
    outer: Outcome | None = field(default=None, repr=False)
    """The measured block this one runs in, in the same greenlet (an image-pull around its manifest-get)."""


_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def next_link(header: str | None) -> str | None:
    """The `rel="next"` target of a Link header (as distribution and the OCI spec send it), or None."""
    found = _NEXT.search(header or "")
    return found.group(1) if found else None


@dataclass(frozen=True)
class Answer:
    """What `RegistrySession.send` got back: status, headers (names in lower case), body, and the next page."""

    status: int
    headers: dict[str, str]
    body: bytes
    next_url: str | None = None


class RegistrySession:
    """Sends requests to one registry with auth, redirects and back-off; `measure` times and reports them."""

    def __init__(self, base_url: str, fire: RequestHook, config: ClientConfig | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.fire = fire
        self.config = config or ClientConfig()
        self.transport = Transport(self.config.transport())
        self.auth = Authenticator(self.config.credentials)
        self._base_netloc = urlsplit(self.base_url).netloc
        self._token_locks: dict[tuple[str, ...], gevent.lock.Semaphore] = {}
        self._not_before = 0.0  # monotonic time before which --honor-retry-after holds our next call back
        self._measuring: dict[Any, Outcome] = {}  # greenlet -> the innermost measured block it runs in

    def close(self) -> None:
        self.transport.close()

    # --- requests --------------------------------------------------------------------------------

    def _follow(self, method: str, url: str, headers: dict[str, Any], body: Any = None) -> Response:
        """One request, following redirects by hand; Authorization goes only to the registry's own host."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self.transport.request(method, url, headers, body)
            if response.status not in REDIRECT_STATUSES or method not in ("GET", "HEAD"):
                return response
            location = response.header("Location")
            if not location:
                return response
            response.read(ERROR_BODY_LIMIT)
            url = join_url(url, location)
            if urlsplit(url).netloc != self._base_netloc:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise RegistryError(f"more than {MAX_REDIRECTS} redirects", response.status)

    def _send(
        self, method: str, url: str, headers: dict[str, Any], body: Any = None, scopes: tuple[str, ...] = ()
    ) -> Response:
        """A registry request with auth: known credentials up front; on a 401, answer the challenge and retry
        once (a cached token the registry calls invalid or short of scope is fetched anew)."""
        outcome = self._measuring.get(gevent.getcurrent())
        while outcome is not None and outcome.url is None:  # the innermost block, and those around it
            outcome.url = without_credentials(url)
            outcome = outcome.outer
        for attempt in (1, 2):
            authorization = self.auth.header(scopes)
            sent = {**headers, "Authorization": authorization} if authorization else headers
            response = self._follow(method, url, sent, body)
            if response.status != 401 or attempt == 2:
                return response
            refusal = response.read(ERROR_BODY_LIMIT)
            try:
                challenge = self.auth.learn(response.header("WWW-Authenticate"))
            except AuthError as exc:
                raise RegistryError(f"401 {exc}", 401, codes=error_codes(refusal)) from None
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
        """GET the token server, reported as its own `token` entry so its load shows. It may be another host:
        our Basic credentials go to it on purpose (docker does)."""
        wanted = tuple(dict.fromkeys((*scopes, *challenge.scopes)))
        credentials = self.config.credentials
        headers = {"Authorization": credentials.basic()} if credentials else {}
        with self.measure("GET", names.TOKEN) as outcome:
            try:
                url = token_url(challenge, wanted)
            except AuthError as exc:  # the registry's challenge names no token server
                raise RegistryError.bad_response(exc, 401) from None
            response = self.transport.request("GET", url, headers)
            self._expect(response, 200)
            body = response.read(ERROR_BODY_LIMIT)
            outcome.length = len(body)
            try:
                self.auth.store(scopes, body)
            except AuthError as exc:
                raise RegistryError(str(exc), response.status) from None

    def _call(
        self,
        method: str,
        repository: str,
        tail: str,
        headers: dict[str, Any] | None = None,
        body: Any = None,
        also: tuple[str, ...] = (),
    ) -> Response:
        """A request under `/v2/<repository>/`, with the scope its method needs (push for writes)."""
        scopes = scope_for(repository, method not in ("GET", "HEAD")) + also
        return self._send(method, f"{self.base_url}/v2/{repository}/{tail}", headers or {}, body, scopes)

    def _on_upload(
        self, method: str, repository: str, url: str, headers: dict[str, str] | None = None, body: Any = None
    ) -> Response:
        """A request on an upload URL (kept as the registry gave it), with the repository's push scope."""
        return self._send(method, url, headers or {}, body, scope_for(repository, True))

    @staticmethod
    def _expect(response: Response, *statuses: int) -> None:
        if response.status not in statuses:
            body = response.read(ERROR_BODY_LIMIT)
            raise RegistryError.of_answer(response.status, body, response.header("Retry-After"))

    # --- reporting -------------------------------------------------------------------------------

    @contextmanager
    def measure(self, request_type: str, name: str, **context: Any) -> Iterator[Outcome]:
        """Time a block and report it once; a failure inside is reported here and raised as RequestFailed.

        Failures are what the registry or the network did: our registry errors (an answer's body that does not
        parse is one, made where it is parsed), digest mismatches, protocol errors, timeouts and OSErrors. Any
        other exception is a bug of ours (or a local file gone bad): it goes up unreported, to Locust's
        exceptions with its traceback. A Retry-After the registry sent holds the next call back
        (--honor-retry-after), before its timer starts.
        """
        self._wait_as_told()
        greenlet = gevent.getcurrent()
        outer = self._measuring.get(greenlet)
        outcome = Outcome(context=dict(context), outer=outer)
        self._measuring[greenlet] = outcome
        start_time, start = time.time(), time.perf_counter()
        error: BaseException | None = None
        try:
            yield outcome
        except (RequestFailed, RegistryError, DigestMismatch) as exc:
            error = exc
        except ProtocolError as exc:  # an answer that is not HTTP we can read: its own words, no "bad response"
            error = RegistryError(str(exc), network=True)
        except TimeoutError as exc:
            error = RegistryError(self._timeout_message(exc), network=True)
        except OSError as exc:  # refused, reset, TLS, no local port left: temporary, as every network error
            shortage = exc.errno == errno.EADDRNOTAVAIL
            error = ConnectionError(_port_shortage() if shortage else f"{type(exc).__name__}: {exc}")
        finally:
            if outer is None:
                del self._measuring[greenlet]
            else:
                self._measuring[greenlet] = outer
        elapsed = (time.perf_counter() - start) * 1000.0
        self.fire(
            request_type=request_type,
            name=name,
            response_time=elapsed,
            response_length=outcome.length,
            exception=None if error is None else Failure(str(error), error),
            context=outcome.context,
            response=None,
            url=outcome.url,
            start_time=start_time,
        )
        if error is not None:
            self._note_retry_after(error)
            raise RequestFailed.of(error) from error

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


    # --- any other request -------------------------------------------------------------------------

    def send(
        self,
        method: str,
        name: str,
        url: str,
        repository: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        expect: tuple[int, ...] = (200,),
        **context: Any,
    ) -> Answer:
        """One measured request, reported under `name`, for workflows beyond the fixed operations (artifacts,
        referrers): `url` absolute (a Link's target) or a tail under `/v2/<repository>/`. An answer outside
        `expect` fails it with the registry's error code. The body is read whole (at most 1 MiB)."""
        target = url if "://" in url else f"{self.base_url}/v2/{repository}/{url}"
        writes = method not in ("GET", "HEAD")
        with self.measure(method, name, repository=repository, **context) as outcome:
            response = self._send(method, target, headers or {}, body, scope_for(repository, writes))
            self._expect(response, *expect)
            data = b"" if method == "HEAD" else response.read(ERROR_BODY_LIMIT * 16)
            outcome.length = len(body or b"") if writes else len(data)
            link = next_link(response.header("Link"))
            following = join_url(target, link) if link else None  # a Link that does not parse fails this request
        answer_headers = {key.lower(): value for key, value in response.headers}
        return Answer(response.status, answer_headers, data, following)


def without_credentials(url: str) -> str:
    """The URL as reports may show it: no user:password@ (a host given as http://user:secret@registry)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


PORT_SHORTAGE = "EADDRNOTAVAIL: no local port left for a new connection"
_port_shortage_told = False


def _port_shortage() -> str:
    """The failure message for a connect that found no free ephemeral port, with the fix said once per process:
    a client that opens a connection per request (docker, skopeo) at a high rate leaves ports in TIME_WAIT."""
    global _port_shortage_told
    if not _port_shortage_told:
        _port_shortage_told = True
        log.error(
            "%s: this machine ran out of ephemeral ports (connections per request leave them in TIME_WAIT). "
            "Widen the range (sysctl -w net.ipv4.ip_local_port_range='1024 65535'), allow reuse "
            "(sysctl -w net.ipv4.tcp_tw_reuse=1), or spread the load over more workers or source addresses. "
            "Such requests are counted as failures.",
            PORT_SHORTAGE,
        )
    return PORT_SHORTAGE
