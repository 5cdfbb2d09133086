"""How a connection is made: the host's addresses, resolved once (a name again after RESOLVE_TTL, or when no
address answers), tried in turn as create_connection does; and the TLS context. gevent's resolver costs a
thread-pool round trip, ~100 us, even for 127.0.0.1: docker's connection per request would pay it every time."""

from __future__ import annotations

import socket
import ssl
import time
from typing import Protocol
from urllib.parse import SplitResult, urljoin, urlsplit

import gevent.socket
import gevent.ssl

from .errors import RegistryError

RESOLVE_TTL = 30.0  # seconds a resolved name is used before it is resolved again (round-robin DNS moves)
Address = tuple[int, int, int, tuple[object, ...]]  # family, type, protocol, socket address


class TlsSettings(Protocol):
    """What the TLS context is made from (TransportConfig has it)."""

    @property
    def tls_verify(self) -> bool: ...

    @property
    def ca_file(self) -> str | None: ...


class Addresses:
    """One host's addresses and when they were resolved (never again for an IP literal)."""

    def __init__(self) -> None:
        self.found: list[Address] = []
        self.resolved_at = 0.0

    def resolve(self, hostname: str, port: int) -> bool:
        """Fill `found` unless still fresh; True when it resolved now. An IP literal needs no resolver; a name
        goes through gevent's cooperative one."""
        now = time.monotonic()
        if self.found and (self.resolved_at == float("inf") or now - self.resolved_at < RESOLVE_TTL):
            return False
        for family, address in ((socket.AF_INET, (hostname, port)), (socket.AF_INET6, (hostname, port, 0, 0))):
            try:
                socket.inet_pton(family, hostname)
            except OSError:
                continue
            self.found = [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, address)]
            self.resolved_at = float("inf")  # a literal never moves
            return True
        answers = gevent.socket.getaddrinfo(hostname, port, 0, socket.SOCK_STREAM)
        self.found = [(family, kind, proto, address) for family, kind, proto, _, address in answers]
        self.resolved_at = now
        return True


def split_url(url: str) -> tuple[SplitResult, tuple[str, str, int]]:
    """A URL's parts and its (scheme, host, port); one we cannot send to (a Location the registry gave: another
    scheme, no host, a port that is no number) is the registry's bad response, not a ValueError of ours."""
    try:
        parts = urlsplit(url)
        scheme, hostname, port = parts.scheme, parts.hostname, parts.port
    except ValueError:  # an IPv6 bracket not closed, a port that is no number
        raise RegistryError.bad_response("unsupported URL") from None
    if scheme not in ("http", "https") or not hostname:
        raise RegistryError.bad_response("unsupported URL")
    return parts, (scheme, hostname, port or (443 if scheme == "https" else 80))


def join_url(base: str, reference: str) -> str:
    """A Location or Link the registry sent, resolved against the URL it answered: one that does not parse (an
    IPv6 bracket not closed) is its bad response, as with `split_url`."""
    try:
        return urljoin(base, reference)
    except ValueError:
        raise RegistryError.bad_response("unsupported URL") from None


def open_connection(addresses: Addresses, hostname: str, port: int, timeout: float) -> socket.socket:
    """A connected TCP socket to the first address that answers; when none does, the name is resolved anew and
    tried once more before the last error is raised. A timeout is raised at once (TimeoutError)."""
    fresh = addresses.resolve(hostname, port)
    retry = not fresh and addresses.resolved_at != float("inf")  # a literal stays what it is
    error: OSError = OSError(f"no address for {hostname}")
    for attempt in range(2 if retry else 1):
        for family, kind, proto, address in addresses.found:
            sock = gevent.socket.socket(family, kind, proto)
            sock.settimeout(timeout)
            try:
                sock.connect(address)
                return sock
            except TimeoutError:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                error = exc
        if retry and attempt == 0:
            addresses.resolved_at = 0.0  # none answered: the name may have moved
            addresses.resolve(hostname, port)
    raise error


def tls_context(config: TlsSettings) -> ssl.SSLContext:
    """Verifying unless told not to, `ca_file` for a private CA; gevent's, so that handshakes cooperate."""
    context = gevent.ssl.create_default_context(cafile=config.ca_file)
    if not config.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
