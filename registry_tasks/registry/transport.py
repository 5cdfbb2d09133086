"""A small HTTP/1.1 client on gevent sockets (public APIs only, so it cooperates even when the stdlib is not
monkey-patched): pooled keep-alive connections, TCP_NODELAY, connect timeouts told from read timeouts, and bodies
received straight into the caller's buffer."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult

import gevent.lock
from gevent import GreenletExit

from ..errors import RegistryTasksError
from .body_sending import BYTES_LIKE, SOURCE_READ, Body, body_size, rewind, send_request
from .connecting import Addresses, open_connection, split_url, tls_context

HEAD_LIMIT = 64 << 10  # largest response head we accept: a connection's receive buffer grows up to this
RECEIVE_START = 4 << 10  # a connection's receive buffer at first: a registry's heads are ~300 bytes, 10,000 users
HEAD_CACHE = 512  # request heads kept per transport (bodyless requests: the same path and headers, the same bytes)
TRUNCATED = "body ended before its Content-Length"  # no sizes in messages: failures group by message
BAD_CHUNKED = "malformed chunked body"
STALE_ERRORS = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)  # an idle connection the peer closed


class ConnectTimeout(RegistryTasksError, TimeoutError):
    """No connection within the connect timeout."""


class ProtocolError(RegistryTasksError):
    """The peer sent something that is not HTTP/1.1 we can read (bad status line, bad header, bad chunk size,
    body shorter than its Content-Length). Messages carry no sizes or names: failures group by message."""


Headers = Mapping[str, str | tuple[str, ...]]  # a tuple of values goes out as one line per value


@dataclass(frozen=True)
class TransportConfig:
    """How connections are made and kept. keep_alive=False is Go's DisableKeepAlives (what docker uses)."""

    connect_timeout: float = 10.0
    network_timeout: float = 120.0
    concurrency: int = 5
    tls_verify: bool = True
    ca_file: str | None = None
    keep_alive: bool = True
    default_headers: Mapping[str, str] = field(default_factory=dict)


class _Host:
    """One (scheme, host, port): idle connections (LIFO), the slots bounding the connections in use, and its
    addresses, resolved once (connecting.py)."""

    def __init__(self, concurrency: int) -> None:
        self.idle: list[_Connection] = []
        self.slots = gevent.lock.Semaphore(concurrency)
        self.closed = False
        self.addresses = Addresses()


class _Connection:
    """A socket and its receive buffer, reused for every response on it; `buf[start:end]` is received, unused.
    The buffer starts small and doubles (up to HEAD_LIMIT) only when unread bytes fill it: a head or chunk line
    that long. Bodies are received into the caller's buffer, so 10,000 idle users cost 4 KiB each, not 64."""

    __slots__ = ("sock", "host", "buf", "view", "start", "end")

    def __init__(self, sock: socket.socket, host: _Host) -> None:
        self.sock, self.host, self.buf = sock, host, bytearray(RECEIVE_START)
        self.view, self.start, self.end = memoryview(self.buf), 0, 0

    def done(self, reusable: bool) -> None:
        """Free its slot; pooled if it can carry another request (and nothing unread is on it), else closed."""
        host = self.host
        if reusable and not host.closed and self.start == self.end:
            self.start = self.end = 0
            host.idle.append(self)
        else:
            self.sock.close()
        host.slots.release()

    def fill(self) -> int:
        """Receive after the buffered bytes (moved to the front when at the end, into a buffer twice the size when
        they fill it); callers check that fewer than HEAD_LIMIT bytes are unread."""
        if self.end == len(self.buf):
            count = self.end - self.start
            if count == len(self.buf):  # a new buffer, not a resize: views of the old one may still be held
                grown = bytearray(min(2 * count, HEAD_LIMIT))
                grown[:count] = self.buf
                self.buf, self.view = grown, memoryview(grown)
            else:
                self.buf[:count] = self.buf[self.start : self.end]
            self.start, self.end = 0, count
        received = self.sock.recv_into(self.view[self.end :])
        self.end += received
        return received

    def readline(self) -> str:
        """One line of a chunked body (a size or a trailer), without its CRLF."""
        while (pos := self.buf.find(b"\r\n", self.start, self.end)) < 0:
            if self.end - self.start >= HEAD_LIMIT or not self.fill():
                raise ProtocolError(BAD_CHUNKED)
        line = self.buf[self.start : pos].decode("latin-1")
        self.start = pos + 2
        return line


class Response:
    """Status and headers; the body is read with `stream` or `read`, or given up with `release`."""

    __slots__ = ("status", "reason", "url", "headers", "_index", "_length", "_chunked", "_reusable", "_conn", "_body")

    def __init__(self, status: int, reason: str, url: str, headers: list[tuple[str, str]], index: dict[str, str]):
        self.status, self.reason, self.url, self.headers = status, reason, url, headers
        self._index = index  # lower-case name -> last value
        self._length: int | None = None
        self._chunked = self._reusable = False
        self._conn: _Connection | None = None  # set while the body is unread on it
        self._body: bytes | None = None

    def header(self, name: str) -> str | None:
        return self._index.get(name.lower())

    @property
    def content_length(self) -> int | None:
        """The announced length (also for HEAD); None when chunked or absent."""
        return self._length

    def stream(self, buffer: bytearray) -> Iterator[memoryview]:
        """The whole body as views of `buffer` (bytes that came with the head: of the connection's), each valid
        until the next is taken. Fully read, the connection is pooled; on an exception or early stop, closed."""
        conn = self._conn
        if conn is None:
            if self._body is None:
                raise RuntimeError("response body already consumed or released")
            if self._body:
                yield memoryview(self._body)
            return
        view = memoryview(buffer)
        try:
            if self._chunked:
                while True:
                    size = conn.readline().partition(";")[0].strip(" \t")
                    if not size or size.strip("0123456789abcdefABCDEF"):
                        raise ProtocolError(BAD_CHUNKED)
                    if not size.strip("0"):
                        break
                    yield from _pieces(conn, int(size, 16), view, BAD_CHUNKED)
                    if conn.readline():
                        raise ProtocolError(BAD_CHUNKED)
                while conn.readline():  # trailers
                    pass
            else:
                yield from _pieces(conn, self._length, view, TRUNCATED)
        except BaseException:
            self.release()
            raise
        self._conn = None
        conn.done(self._reusable)

    def read(self, limit: int) -> bytes:
        """The whole body as bytes (once; later calls return the same bytes), refusing more than `limit`."""
        too_large = f"{self.status} answer larger than {limit} bytes"
        if self._body is None:
            if self._length is not None and self._length > limit:
                self.release()
                raise ProtocolError(too_large)
            data = bytearray()
            # stream() receives into a buffer only once the bytes in it are used: the connection's own will do,
            # unless the body announced is larger (then one of its size, up to 1 MiB: few receives)
            buffer = self._conn.buf if self._conn else bytearray()
            if self._length is not None and self._length > len(buffer):
                buffer = bytearray(min(self._length, SOURCE_READ))
            for piece in self.stream(buffer):
                data += piece
                if len(data) > limit:
                    self.release()
                    raise ProtocolError(too_large)
            self._body = bytes(data)
        if len(self._body) > limit:
            raise ProtocolError(too_large)
        return self._body

    def release(self) -> None:
        """Done without reading the body: an unread body closes the connection (no draining). Idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.done(False)

    __del__ = release  # a response dropped unread must not hold its slot for ever


def _pieces(conn: _Connection, remaining: int | None, view: memoryview, short: str) -> Iterator[memoryview]:
    """`remaining` body bytes (None: until the peer closes), buffered ones first, the rest received into `view`."""
    while remaining is None or remaining > 0:
        want = len(view) if remaining is None else min(len(view), remaining)
        start = conn.start
        if start < conn.end:
            count = min(want, conn.end - start)
            conn.start += count
            yield conn.view[start : start + count]
        else:  # `view` may be the connection's buffer: nothing in it is unused now
            count = conn.sock.recv_into(view[:want])
            if not count:
                if remaining is None:
                    return
                raise ProtocolError(short)
            yield view[:count]
        if remaining is not None:
            remaining -= count


class Transport:
    """HTTP/1.1 requests over per-host pools of keep-alive connections, at most `concurrency` in use per host."""

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self.connections_opened = 0
        self._hosts: dict[tuple[str, str, int], _Host] = {}
        self._tls: ssl.SSLContext | None = None
        self._defaults = {name.lower(): f"{name}: {value}\r\n" for name, value in config.default_headers.items()}
        #: bodyless requests by (method, url, headers): host key, head bytes, whether we asked to close
        self._heads: dict[tuple[object, ...], tuple[tuple[str, str, int], bytes, bool]] = {}
        #: requests a killed greenlet left in flight (method, url, connection), our sending side shut: see `settle`
        self._abandoned: list[tuple[str, str, _Connection]] = []

    def request(self, method: str, url: str, headers: Headers | None = None, body: Body = None) -> Response:
        """One exchange; a pooled connection the server closed while idle is replaced once (if the body allows)."""
        if isinstance(body, BYTES_LIKE) and not body_size(body):
            body = None  # no Content-Length: 0 on a GET; POST, PUT and PATCH get one anyway
        headers = headers or {}
        chunked = False
        cache_key: tuple[object, ...] | None = (method, url, *headers.items()) if body is None else None
        try:
            cached = self._heads.get(cache_key) if cache_key else None
        except TypeError:  # a header value that is not hashable (a list): built every time
            cache_key = cached = None
        if cached is None:
            parts, key = split_url(url)
            head, chunked, closing = self._head(method, parts, headers, body)
            if cache_key:
                if len(self._heads) >= HEAD_CACHE:  # new tokens, upload URLs: start afresh rather than keep all
                    self._heads.clear()
                self._heads[cache_key] = key, head, closing
        else:
            key, head, closing = cached
        host = self._hosts.get(key) or self._hosts.setdefault(key, _Host(self.config.concurrency))
        host.slots.acquire()
        conn = host.idle.pop() if host.idle else None
        while True:
            reused = conn is not None
            try:
                if conn is None:
                    conn = self._connect(host, *key)
                send_request(conn.sock, head, body, chunked)
                response = _read_response(conn, url, method, closing)
                break
            except BaseException as exc:
                if conn is None:
                    host.slots.release()
                    raise
                if isinstance(exc, GreenletExit):
                    self._abandon(conn, method, url)
                    raise
                if not reused or not isinstance(exc, STALE_ERRORS) or conn.end or not rewind(body):
                    conn.done(False)
                    raise
                conn.sock.close()  # closed by the server while idle: once more, on a fresh connection
                conn = None
        if response._conn is None:  # no body, or all of it came with the head: the connection is free now
            conn.done(response._reusable)
        return response

    def close(self) -> None:
        """Close every idle connection; those in use close when released."""
        for host in self._hosts.values():
            host.closed = True
            while host.idle:
                host.idle.pop().sock.close()
        self._hosts.clear()
        for _, _, conn in self._abandoned:
            conn.sock.close()
        self._abandoned.clear()

    def _abandon(self, conn: _Connection, method: str, url: str) -> None:
        """A request left in flight by a killed greenlet: the server may be handling it still. Shut our sending
        side (the server reads the end of what we sent and finishes) and keep the connection for `settle`."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            conn.done(False)
            return
        self._abandoned.append((method, url, conn))
        conn.host.slots.release()

    def settle(self, timeout: float) -> list[Response]:
        """Wait (at most `timeout` seconds in all) until the server has finished every request left in flight by a
        killed greenlet and closed its connection; returns the answers that came (heads only), oldest first. A
        request sent after this is not handled beside an abandoned one: distribution 2.8 runs the DELETE of an
        upload session beside a PATCH of it still in progress, and answers 500 when the two meet."""
        deadline = time.monotonic() + timeout
        answers = []
        for method, url, conn in self._abandoned:
            try:
                conn.sock.settimeout(max(deadline - time.monotonic(), 1e-3))
                if not isinstance(conn.sock, ssl.SSLSocket):  # (TLS is gone from a socket once it is shut)
                    answer = _read_response(conn, url, method, True)
                    answer._conn, answer._body = None, b""  # the connection is ours to close, not the answer's
                    answers.append(answer)
                while conn.sock.recv(RECEIVE_START):  # then the server's close
                    conn.sock.settimeout(max(deadline - time.monotonic(), 1e-3))
            except (OSError, ProtocolError):  # no (whole) answer, a reset, or the time is up
                pass
            finally:
                conn.sock.close()
        self._abandoned.clear()
        return answers

    def _head(self, method: str, parts: SplitResult, headers: Headers, body: Body) -> tuple[bytes, bool, bool]:
        """The request head as bytes, whether the body goes chunked, and whether we asked to close."""
        target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        authority = parts.netloc.rpartition("@")[2]
        if parts.port == (443 if parts.scheme == "https" else 80):
            authority = authority.rpartition(":")[0]  # a default port stays out of Host
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {authority}\r\n"]
        given = {name.lower(): value for name, value in headers.items()}
        lines += [line for name, line in self._defaults.items() if name not in given]
        for name, value in headers.items():  # a sequence of values: one line each, as Go sends a []string
            lines += [f"{name}: {one}\r\n" for one in value] if isinstance(value, tuple) else [f"{name}: {value}\r\n"]
        chunked = False
        if "content-length" not in given:
            if isinstance(body, BYTES_LIKE):
                lines.append(f"Content-Length: {body_size(body)}\r\n")
            elif body is not None:
                chunked = True
                if "transfer-encoding" not in given:
                    lines.append("Transfer-Encoding: chunked\r\n")
            elif method in ("POST", "PUT", "PATCH"):  # a Content-Length even without a body
                lines.append("Content-Length: 0\r\n")
        closing = not self.config.keep_alive or "close" in str(given.get("connection", "")).lower()
        if not self.config.keep_alive and "connection" not in given:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1"), chunked, closing

    def _connect(self, host: _Host, scheme: str, hostname: str, port: int) -> _Connection:
        """A new TCP (and TLS) connection; a timeout before it is usable is a ConnectTimeout."""
        try:
            sock = open_connection(host.addresses, hostname, port, self.config.connect_timeout)
        except TimeoutError:
            raise ConnectTimeout("connect timed out") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # head and body can be separate writes
            if scheme == "https":  # the context is built once; the handshake runs under the connect timeout
                self._tls = self._tls or tls_context(self.config)
                sock = self._tls.wrap_socket(sock, server_hostname=hostname)
        except BaseException as exc:
            sock.close()
            if isinstance(exc, TimeoutError):
                raise ConnectTimeout("TLS handshake timed out") from None
            raise
        sock.settimeout(self.config.network_timeout)
        self.connections_opened += 1
        return _Connection(sock, host)


def _read_response(conn: _Connection, url: str, method: str, closing: bool) -> Response:
    """Status and headers (after any interim 1xx), and how the body is delimited. The bytes after the head stay
    buffered; a body that came whole with them is kept (`_conn` stays None: the caller frees the connection)."""
    while True:
        while (pos := conn.buf.find(b"\r\n\r\n", conn.start, conn.end)) < 0:
            if conn.end - conn.start >= HEAD_LIMIT:
                raise ProtocolError("response head too large")
            if not conn.fill():
                if conn.end == 0:
                    raise ConnectionResetError("server closed the connection before answering")
                raise ProtocolError("response head cut short")
        lines = conn.buf[conn.start : pos].decode("latin-1").split("\r\n")
        conn.start = pos + 4
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdecimal():
            raise ProtocolError("malformed status line")
        if code[0] != "1":
            break
    headers: list[tuple[str, str]] = []
    index: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name[-1] in " \t" or name[0] in " \t":
            raise ProtocolError("malformed header")
        value = value.strip(" \t")
        headers.append((name, value))
        index[name.lower()] = value
    response = Response(int(code), reason, url, headers, index)
    text = index.get("content-length")
    if text is not None and not text.isdecimal():
        raise ProtocolError("malformed Content-Length")
    length = response._length = None if text is None else int(text)
    reusable = version == "HTTP/1.1" and not closing and "close" not in index.get("connection", "").lower()
    if method == "HEAD" or response.status in (204, 304):
        response._body = b""
    else:
        coding = index.get("transfer-encoding")
        if coding is not None:  # it overrides Content-Length; not ending in chunked: the body runs until close
            response._chunked = coding.lower().rstrip().endswith("chunked")
            length = response._length = None
        reusable = reusable and (response._chunked or length is not None)
        if length is None or conn.end - conn.start < length:
            response._conn = conn
        else:
            response._body = bytes(conn.view[conn.start : conn.start + length])
            conn.start += length
    response._reusable = reusable
    return response
