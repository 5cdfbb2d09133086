"""The HTTP/1.1 transport against real servers on loopback: scripted raw-socket servers, one per test.

The servers run in threads (greenlets when Locust has monkey-patched the stdlib, OS threads when it has not);
the client runs on gevent sockets either way. Every socket has a timeout, so no test can hang.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gevent
import pytest

from registry_tasks.image import ImageError
from registry_tasks.registry.transport import (
    ConnectTimeout,
    ProtocolError,
    Transport,
    TransportConfig,
)

from ..support.auth_servers import LocalCA

TIMEOUT = 5.0


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    chunk_sizes: list[int] = field(default_factory=list)


class Peer:
    """The server's side of one connection: reads requests (Content-Length or chunked bodies), sends bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = bytearray()

    def _more(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError
        self.data += chunk

    def _line(self) -> bytes:
        while (pos := self.data.find(b"\r\n")) < 0:
            self._more()
        line = bytes(self.data[:pos])
        del self.data[: pos + 2]
        return line

    def _exactly(self, count: int) -> bytes:
        while len(self.data) < count:
            self._more()
        out = bytes(self.data[:count])
        del self.data[:count]
        return out

    def request(self) -> Request | None:
        """The next request, or None when the client closed the connection."""
        try:
            first = self._line()
        except (EOFError, OSError):
            return None
        method, target, _ = first.decode().split(" ")
        headers: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        request = Request(method, target, headers, b"")
        if headers.get("transfer-encoding") == "chunked":
            body = bytearray()
            while size := int(self._line().split(b";")[0], 16):
                body += self._exactly(size)
                request.chunk_sizes.append(size)
                assert self._exactly(2) == b"\r\n"
            while self._line():  # trailers
                pass
            request.body = bytes(body)
        else:
            request.body = self._exactly(int(headers.get("content-length", "0")))
        return request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


def answer(status: int = 200, body: bytes = b"", headers: tuple[str, ...] = (), length: bool = True) -> bytes:
    head = [f"HTTP/1.1 {status} X", *headers, *([f"Content-Length: {len(body)}"] if length else [])]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


Handler = Callable[[Peer], None]


class Server:
    """A loopback TCP server running `handler` for each connection, in its own thread; records who connected."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.client_ports: list[int] = []
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self.finished = 0  # connections whose handler has ended
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.active = self.most_active = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(TIMEOUT)
            self.client_ports.append(address[1])
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.handler(Peer(conn))
        except (OSError, EOFError) as exc:  # the client went away (or refused our certificate)
            self.errors.append(exc)
        finally:
            conn.close()
            self.finished += 1

    def serve_forever(self, respond: Callable[[Request], bytes]) -> Handler:
        """A handler answering each request on a connection (recorded) with `respond(request)`."""

        def handler(peer: Peer) -> None:
            while (request := peer.request()) is not None:
                self.requests.append(request)
                peer.send(respond(request))
                if request.headers.get("connection") == "close":
                    return

        return handler

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(TIMEOUT)
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """`serve(handler)` starts a server; `serve(respond=f)` one answering every request with f(request)."""
    servers: list[Server] = []

    def start(handler: Handler | None = None, respond: Callable[[Request], bytes] | None = None,
              tls: ssl.SSLContext | None = None) -> Server:
        server = Server(lambda peer: None, tls)
        server.handler = handler or server.serve_forever(respond or (lambda request: answer(body=b"ok")))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def transport() -> Iterator[Transport]:
    client = Transport(TransportConfig(connect_timeout=TIMEOUT, network_timeout=TIMEOUT))
    yield client
    client.close()


def collect(pieces: Iterator[memoryview]) -> list[bytes]:
    return [bytes(piece) for piece in pieces]


# --- response bodies ---------------------------------------------------------------------------


def test_stream_serves_the_bytes_that_came_with_the_head_first_then_receives_into_the_buffer(serve, transport):
    early, rest = b"e" * 3000, bytes(range(256)) * 400

    def handler(peer: Peer) -> None:
        peer.request()
        peer.send(answer(body=early, headers=(f"Content-Length: {len(early) + len(rest)}",), length=False))
        time.sleep(0.05)
        peer.send(rest)
        peer.request()  # keep the connection open until the client is done

    server = serve(handler)
    response = transport.request("GET", server.url + "/blob")
    assert (response.status, response.content_length) == (200, len(early) + len(rest))
    buffer = bytearray(4096)
    pieces = []
    for piece in response.stream(buffer):
        pieces.append(bytes(piece))
        if len(pieces) > 1:
            assert piece.obj is buffer  # received straight into the caller's buffer
    assert pieces[0] == early
    assert b"".join(pieces) == early + rest


def test_read_returns_the_body_once_and_the_same_bytes_after(serve, transport):
    server = serve(respond=lambda request: answer(body=b'{"x": 1}', headers=("X-Twice: a", "x-twice: b")))
    response = transport.request("GET", server.url + "/v2/")
    assert response.read(1024) == b'{"x": 1}'
    assert response.read(1024) is response.read(1024)
    assert collect(response.stream(bytearray(16))) == [b'{"x": 1}']
    assert response.header("X-TWICE") == "b"
    assert ("X-Twice", "a") in response.headers and response.headers.index(("X-Twice", "a")) == 0
    assert response.header("Missing") is None


def test_a_head_and_chunk_lines_longer_than_the_first_receive_buffer_grow_it(serve, transport):
    """The receive buffer starts at 4 KiB: a 40 KiB head and a chunk line of 10 KiB are read whole, on one
    connection, and what follows them on it is still read right."""
    long_value = "v" * (40 << 10)
    extension = "e" * (10 << 10)
    chunked = f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;{extension}\r\nhello\r\n0\r\n\r\n".encode()
    replies = iter([answer(body=b"after", headers=(f"X-Long: {long_value}",)), chunked, answer(body=b"last")])
    server = serve(respond=lambda request: next(replies))
    first = transport.request("GET", server.url + "/a")
    assert (first.header("X-Long"), first.read(100)) == (long_value, b"after")
    assert transport.request("GET", server.url + "/b").read(100) == b"hello"
    assert transport.request("GET", server.url + "/c").read(100) == b"last"
    assert transport.connections_opened == 1


def test_the_same_bodyless_request_twice_sends_the_same_head(serve, transport):
    """Heads of bodyless requests are kept per (method, URL, headers): a changed header is a new head."""
    server = serve(respond=lambda request: answer(body=b"{}"))
    for accept in ("a/b", "a/b", "c/d"):
        transport.request("GET", server.url + "/v2/r/manifests/t", {"Accept": accept}).read(10)
    transport.request("GET", server.url + "/v2/r/manifests/t", {"Accept": ["x/y"]}).read(10)  # type: ignore[dict-item]
    first, second, third, listed = server.requests
    assert (first.target, first.headers, first.method) == (second.target, second.headers, second.method)
    assert (first.headers["accept"], third.headers["accept"], listed.headers["accept"]) == ("a/b", "c/d", "['x/y']")


def test_read_of_a_body_larger_than_one_receive_buffer(serve, transport):
    body = hashlib.sha256(b"seed").digest() * 10_000  # 320 KB: several receives into the connection's buffer
    server = serve(respond=lambda request: answer(body=body))
    assert transport.request("GET", server.url).read(1 << 20) == body
    assert transport.request("GET", server.url).read(1 << 20) == body
    assert transport.connections_opened == 1


def test_close_closes_idle_connections_and_those_in_use_once_released(serve, transport):
    server = serve(respond=lambda request: answer(body=b"b" * 200_000))  # too large to come with the head
    in_use = transport.request("GET", server.url + "/one")
    transport.request("GET", server.url + "/two").read(1 << 20)
    transport.close()
    assert in_use.read(1 << 20) == b"b" * 200_000
    assert (in_use.url, in_use.status, in_use.reason) == (server.url + "/one", 200, "X")
    deadline = time.monotonic() + TIMEOUT
    while server.finished < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.finished == 2  # the server saw both connections closed
    assert transport.request("GET", server.url).read(1 << 20) == b"b" * 200_000
    assert transport.connections_opened == 3


def test_keep_alive_reuses_one_connection(serve, transport):
    server = serve()
    for _ in range(3):
        assert transport.request("GET", server.url + "/v2/").read(100) == b"ok"
    assert transport.connections_opened == 1
    assert len(server.client_ports) == 1


def test_keep_alive_off_sends_connection_close_and_opens_a_connection_per_request(serve):
    server = serve()
    client = Transport(TransportConfig(network_timeout=TIMEOUT, keep_alive=False))
    for _ in range(3):
        assert client.request("GET", server.url + "/v2/").read(100) == b"ok"
    assert client.connections_opened == 3
    assert len(set(server.client_ports)) == 3
    assert all(request.headers["connection"] == "close" for request in server.requests)


def test_server_connection_close_is_honoured(serve, transport):
    server = serve(respond=lambda request: answer(body=b"ok", headers=("Connection: close",)))
    for _ in range(2):
        assert transport.request("GET", server.url).read(100) == b"ok"
    assert transport.connections_opened == 2


def test_chunked_response_with_extensions_and_trailers(serve, transport):
    def handler(peer: Peer) -> None:
        while peer.request():
            peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n")
            time.sleep(0.02)
            peer.send(b"7\r\n, world\r\n10\r\n" + b"x" * 16 + b"\r\n0\r\nTrailer: yes\r\n\r\n")

    server = serve(handler)
    response = transport.request("GET", server.url)
    assert response.content_length is None
    assert b"".join(collect(response.stream(bytearray(4)))) == b"hello, world" + b"x" * 16
    assert transport.request("GET", server.url).read(100) == b"hello, world" + b"x" * 16
    assert transport.connections_opened == 1  # a chunked body read to its end leaves the connection reusable


def test_body_until_close_and_the_connection_is_not_reused(serve, transport):
    def handler(peer: Peer) -> None:
        peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
        time.sleep(0.02)
        peer.send(b"the end")

    server = serve(handler)
    response = transport.request("GET", server.url)
    assert response.content_length is None
    assert b"".join(collect(response.stream(bytearray(3)))) == b"until the end"
    assert transport.request("GET", server.url).read(100) == b"until the end"
    assert transport.connections_opened == 2


def test_head_and_204_have_no_body_and_keep_the_connection(serve, transport):
    def respond(request: Request) -> bytes:
        if request.method == "HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nDocker-Content-Digest: sha256:x\r\n\r\n"
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    server = serve(respond=respond)
    head = transport.request("HEAD", server.url + "/blobs/x")
    assert (head.status, head.content_length, head.header("docker-content-digest")) == (200, 1234, "sha256:x")
    assert head.read(10) == b""
    deleted = transport.request("DELETE", server.url + "/blobs/x")
    assert deleted.status == 204
    assert collect(deleted.stream(bytearray(10))) == []
    transport.request("HEAD", server.url).release()  # nothing to read: still reusable
    assert transport.request("HEAD", server.url).status == 200
    assert transport.connections_opened == 1


def test_interim_100_continue_is_skipped(serve, transport):
    server = serve(respond=lambda request: b"HTTP/1.1 100 Continue\r\n\r\n" + answer(201, b"made"))
    response = transport.request("PUT", server.url, body=b"data")
    assert (response.status, response.read(100)) == (201, b"made")


# --- request bodies ----------------------------------------------------------------------------


class Source:
    """A BodySource: hands out the given pieces as memoryviews, whatever size is asked for."""

    def __init__(self, *pieces: bytes, seekable: bool = True) -> None:
        self.pieces = [memoryview(piece) for piece in pieces]
        self.position = 0
        self.seekable = seekable
        self.asked: list[int] = []

    def read(self, size: int) -> bytes | memoryview:
        self.asked.append(size)
        if self.position == len(self.pieces):
            return b""
        self.position += 1
        return self.pieces[self.position - 1]

    def seek(self, offset: int) -> int:
        if not self.seekable:
            raise OSError("not seekable")
        self.position = 0
        return 0


def test_body_source_goes_chunked_and_a_piece_longer_than_asked_is_sent_whole(serve, transport):
    server = serve(respond=lambda request: answer(202))
    big = bytes(range(256)) * (3 << 12)  # 3 MiB: longer than what the transport asks for
    source = Source(b"first", big, b"last")
    response = transport.request("PATCH", server.url + "/uploads/1", body=source)
    assert response.status == 202
    (request,) = server.requests
    assert request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in request.headers
    assert request.body == b"first" + big + b"last"
    assert request.chunk_sizes == [5, len(big), 4]
    assert max(source.asked) < len(big)


def test_body_source_with_its_own_content_length_is_sent_as_is(serve, transport):
    server = serve(respond=lambda request: answer(201))
    source = Source(b"abc", b"defg")
    transport.request("PUT", server.url + "/blob", headers={"Content-Length": "7"}, body=source).release()
    (request,) = server.requests
    assert (request.headers["content-length"], request.body, request.chunk_sizes) == ("7", b"abcdefg", [])
    assert "transfer-encoding" not in request.headers


def test_bytes_bodies_get_a_content_length(serve):
    server = serve(respond=lambda request: answer(201))
    client = Transport(TransportConfig(network_timeout=TIMEOUT, default_headers={"User-Agent": "ours/1"}))
    large = bytes(range(256)) * 1000
    client.request("PUT", server.url + "/manifests/a?x=1", body=b'{"m": 1}').release()
    client.request("PUT", server.url + "/blob", body=memoryview(large)).release()
    client.request("POST", server.url + "/uploads/", headers={"user-agent": "theirs/2"}).release()
    client.request("GET", server.url + "/v2/", body=b"").release()
    manifest, blob, post, get = server.requests
    assert (manifest.target, manifest.headers["content-length"]) == ("/manifests/a?x=1", "8")
    assert manifest.body == b'{"m": 1}'
    assert (blob.headers["content-length"], blob.body) == (str(len(large)), large)
    assert post.headers["content-length"] == "0"
    assert "content-length" not in get.headers
    assert manifest.headers["user-agent"] == "ours/1" and post.headers["user-agent"] == "theirs/2"
    assert manifest.headers["host"] == f"127.0.0.1:{server.port}"
    assert all("accept-encoding" not in request.headers for request in server.requests)
    assert client.connections_opened == 1


# --- failures ----------------------------------------------------------------------------------


def test_connect_timeout_when_the_backlog_is_full():
    """A listener that never accepts, its backlog filled: Linux drops further SYNs, so connecting times out
    (a port merely bound, never listening, would refuse instead)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    filling: list[socket.socket] = []
    try:
        for _ in range(16):
            sock = socket.socket()
            sock.settimeout(0.2)
            try:
                sock.connect(address)
            except TimeoutError:
                sock.close()
                break
            filling.append(sock)
        else:
            pytest.skip("the backlog never filled: cannot provoke a connect timeout on this system")
        client = Transport(TransportConfig(connect_timeout=0.2, network_timeout=TIMEOUT))
        started = time.monotonic()
        with pytest.raises(ConnectTimeout):
            client.request("GET", f"http://127.0.0.1:{address[1]}/v2/")
        assert time.monotonic() - started < 2
        assert client.connections_opened == 0
    finally:
        for sock in filling:
            sock.close()
        listener.close()


def test_a_read_stall_is_a_plain_timeout_not_a_connect_timeout(serve):
    release = threading.Event()

    def handler(peer: Peer) -> None:
        request = peer.request()
        if request and request.target == "/body":
            peer.send(answer(body=b"x" * 10, headers=("Content-Length: 100",), length=False))
        release.wait(TIMEOUT)

    server = serve(handler)
    client = Transport(TransportConfig(connect_timeout=TIMEOUT, network_timeout=0.2))
    try:
        with pytest.raises(TimeoutError) as caught:
            client.request("GET", server.url + "/head")
        assert not isinstance(caught.value, ConnectTimeout)
        response = client.request("GET", server.url + "/body")
        with pytest.raises(TimeoutError) as caught:
            collect(response.stream(bytearray(64)))
        assert not isinstance(caught.value, ConnectTimeout)
    finally:
        release.set()


def test_refused_connection_is_an_os_error():
    bound = socket.socket()  # bound, never listening: the kernel refuses
    bound.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(ConnectionRefusedError):
            Transport(TransportConfig()).request("GET", f"http://127.0.0.1:{bound.getsockname()[1]}/")
    finally:
        bound.close()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", "body ended before its Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "malformed chunked body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", "malformed chunked body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", "malformed chunked body"),
    ],
)
def test_bad_bodies_are_protocol_errors(serve, transport, reply, message):
    def handler(peer: Peer) -> None:
        peer.request()
        peer.send(reply)

    server = serve(handler)
    response = transport.request("GET", server.url)
    with pytest.raises(ProtocolError, match=f"^{message}$"):
        response.read(1000)
    with pytest.raises(ProtocolError, match=f"^{message}$"):
        collect(transport.request("GET", server.url).stream(bytearray(4)))


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"garbage\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n", "malformed Content-Length"),  # a digit int() refuses
        (b"HTTP/1.1 2\xb20 OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (70 << 10) + b"\r\n\r\n", "response head too large"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "response head cut short"),
    ],
)
def test_bad_heads_are_protocol_errors(serve, transport, reply, message):
    def handler(peer: Peer) -> None:
        peer.request()
        peer.send(reply)

    server = serve(handler)
    with pytest.raises(ProtocolError, match=f"^{message}$"):
        transport.request("GET", server.url)


def test_an_idle_connection_the_server_closed_is_replaced_transparently(serve, transport):
    closes = threading.Semaphore(0)
    received: list[Request] = []

    def handler(peer: Peer) -> None:  # one request per connection, then close without saying so
        request = peer.request()
        assert request is not None
        received.append(request)
        peer.send(answer(body=b"ok"))
        peer.sock.close()
        closes.release()

    def server_closed() -> None:
        assert closes.acquire(timeout=TIMEOUT)
        time.sleep(0.05)  # let the FIN arrive

    server = serve(handler)
    assert transport.request("GET", server.url).read(10) == b"ok"
    server_closed()
    assert transport.request("GET", server.url).read(10) == b"ok"
    server_closed()
    source = Source(b"chunk one", b"chunk two")
    assert transport.request("PATCH", server.url + "/upload", body=source).read(10) == b"ok"
    assert transport.connections_opened == 3  # each request tried the dead connection, then a fresh one
    assert received[-1].body == b"chunk onechunk two"
    server_closed()
    with pytest.raises(ConnectionError):  # a body that cannot be sent again: no retry
        transport.request("PATCH", server.url + "/upload", body=Source(b"once", seekable=False))
    assert transport.connections_opened == 3


def test_a_fresh_connection_failing_is_not_retried(serve, transport):
    server = serve(lambda peer: None)  # accepts, then closes without answering
    with pytest.raises(ConnectionError):
        transport.request("GET", server.url)
    assert transport.connections_opened == 1


def test_a_request_a_stop_left_in_flight_is_settled_before_the_next_one(serve):
    """A greenlet killed while the server handles its request (a stop in the middle of a PATCH): `settle` waits
    until the server has finished with it and closed, so that a DELETE of the same upload session comes after,
    and gives the answer that came."""
    received, finish = threading.Event(), threading.Event()
    order: list[str] = []

    def handler(peer: Peer) -> None:
        assert peer.request() is not None
        received.set()
        finish.wait(TIMEOUT)  # still handling it
        order.append("handled")
        peer.send(answer(202, headers=("Location: /upload?_state=next",)))
        assert peer.request() is None  # the client shut its side and sent nothing more

    server = serve(handler)
    client = Transport(TransportConfig(connect_timeout=TIMEOUT, network_timeout=TIMEOUT, concurrency=1))
    try:
        sender = gevent.spawn(client.request, "PATCH", server.url + "/upload", {}, b"x" * 1000)
        deadline = time.monotonic() + TIMEOUT
        while not received.is_set() and time.monotonic() < deadline:
            gevent.sleep(0.01)
        sender.kill()  # GreenletExit while it waits for the answer
        assert isinstance(sender.value, gevent.GreenletExit)
        settling = gevent.spawn(client.settle, TIMEOUT)
        gevent.sleep(0.1)
        assert not settling.dead  # the server has not finished
        finish.set()
        settling.join(TIMEOUT)
        order.append("settled")
        assert order == ["handled", "settled"]
        (answered,) = settling.value  # the answer it was not there to read, for the session's next URL
        assert (answered.status, answered.header("Location"), answered.url) == (
            202, "/upload?_state=next", server.url + "/upload"
        )  # fmt: skip
        assert client.settle(TIMEOUT) == []  # nothing left: at once
        assert client.request("GET", server.url).status == 202  # its slot was given back (concurrency 1)
    finally:
        finish.set()
        client.close()


def test_at_most_concurrency_connections_in_use_per_host(serve):
    def respond(request: Request) -> bytes:
        with server.lock:
            server.active += 1
            server.most_active = max(server.most_active, server.active)
        time.sleep(0.2)
        with server.lock:
            server.active -= 1
        return answer(body=b"slow")

    server = serve(respond=respond)
    client = Transport(TransportConfig(network_timeout=TIMEOUT, concurrency=2))
    jobs = [gevent.spawn(lambda: client.request("GET", server.url).read(10)) for _ in range(4)]
    gevent.joinall(jobs, timeout=TIMEOUT, raise_error=True)
    assert [job.value for job in jobs] == [b"slow"] * 4
    assert server.most_active == 2
    assert client.connections_opened == 2


def test_read_refuses_a_body_larger_than_its_limit(serve, transport):
    def respond(request: Request) -> bytes:
        if request.target == "/chunked":
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"64\r\n" + b"x" * 100 + b"\r\n0\r\n\r\n"
        return answer(body=b"x" * (200_000 if request.target == "/large" else 100))

    server = serve(respond=respond)
    too_large = "^200 answer larger than 50 bytes$"
    with pytest.raises(ProtocolError, match=too_large):  # came whole with the head: the connection stays usable
        transport.request("GET", server.url + "/sized").read(50)
    with pytest.raises(ProtocolError, match=too_large):  # refused half-read: the connection is closed
        transport.request("GET", server.url + "/chunked").read(50)
    with pytest.raises(ProtocolError, match=too_large):  # refused on its Content-Length, not drained
        transport.request("GET", server.url + "/large").read(50)
    assert transport.request("GET", server.url + "/sized").read(100) == b"x" * 100
    assert transport.connections_opened == 3


def test_stopping_a_stream_early_or_releasing_unread_closes_the_connection(serve, transport):
    server = serve(respond=lambda request: answer(body=b"z" * (1 << 20)))
    pieces = transport.request("GET", server.url).stream(bytearray(1024))
    assert len(next(pieces)) > 0
    pieces.close()
    transport.request("GET", server.url).release()
    assert len(transport.request("GET", server.url).read(2 << 20)) == 1 << 20
    assert transport.connections_opened == 3
    transport.request("GET", server.url).read(2 << 20)
    assert transport.connections_opened == 3


# --- TLS -----------------------------------------------------------------------------------------


def test_tls_verified_with_the_ca_file_and_refused_without(serve, tmp_path: Path):
    local_ca = LocalCA(tmp_path)  # the suite's one test CA, with its server certificate for 127.0.0.1
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(local_ca.cert_file, local_ca.key_file)
    server = serve(tls=server_context)
    ca_file = local_ca.ca_file

    trusting = Transport(TransportConfig(network_timeout=TIMEOUT, ca_file=str(ca_file)))
    for _ in range(2):
        assert trusting.request("GET", server.url + "/v2/").read(10) == b"ok"
    assert trusting.connections_opened == 1
    with pytest.raises(ssl.SSLCertVerificationError):
        Transport(TransportConfig(network_timeout=TIMEOUT)).request("GET", server.url + "/v2/")
    insecure = Transport(TransportConfig(network_timeout=TIMEOUT, tls_verify=False))
    assert insecure.request("GET", server.url + "/v2/").read(10) == b"ok"


# --- file spans: os.sendfile -----------------------------------------------------------------------------------


class SpanSource(Source):
    """A BodySource that also offers `spans()`: memory pieces and (fd, offset, count) ranges of a file."""

    def __init__(self, path: Path, *spans: bytes | tuple[int, int]) -> None:
        super().__init__()
        self.fd = os.open(path, os.O_RDONLY)
        self.spans_given = spans
        self.spans_taken = 0

    def spans(self) -> Iterator[memoryview | tuple[int, int, int]]:
        self.spans_taken += 1
        for span in self.spans_given:
            yield memoryview(span) if isinstance(span, bytes) else (self.fd, *span)

    def close(self) -> None:
        os.close(self.fd)


def test_file_spans_go_by_sendfile_with_a_length_or_chunked(serve, transport, tmp_path: Path):
    data = os.urandom(3 << 20)
    path = tmp_path / "layer.tar"
    path.write_bytes(b"header" + data)
    server = serve(respond=lambda request: answer(201))
    spans = (b"tar ", (6, 1 << 20), (6 + (1 << 20), len(data) - (1 << 20)), b" end")
    expected = b"tar " + data + b" end"
    plain = SpanSource(path, *spans)
    transport.request("PUT", server.url + "/blob", {"Content-Length": str(len(expected))}, plain).release()
    encoded = SpanSource(path, *spans)
    transport.request("PATCH", server.url + "/uploads/1", body=encoded).release()
    put, patch = server.requests
    assert put.body == expected and put.chunk_sizes == []
    assert patch.body == expected and patch.chunk_sizes == [4, 1 << 20, len(data) - (1 << 20), 4]
    assert (plain.spans_taken, plain.asked, encoded.asked) == (1, [], [])  # nothing went through read()
    plain.close()
    encoded.close()


def test_a_file_shorter_than_its_span_is_an_error_not_a_hang(serve, transport, tmp_path: Path):
    path = tmp_path / "cut.tar"
    path.write_bytes(b"x" * 1000)
    server = serve(respond=lambda request: answer(201))
    source = SpanSource(path, (0, 5000))
    with pytest.raises(ImageError, match="file ended before the bytes to send"):  # our file: not the network's
        transport.request("PUT", server.url + "/blob", {"Content-Length": "5000"}, source)
    source.close()


def test_tls_sends_a_span_source_through_read(serve, tmp_path: Path):
    """No sendfile under TLS (the bytes must be encrypted in user space): the body's read() carries them."""
    local_ca = LocalCA(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(local_ca.cert_file, local_ca.key_file)
    server = serve(tls=server_context, respond=lambda request: answer(201))
    (tmp_path / "unused").write_bytes(b"")
    source = SpanSource(tmp_path / "unused", b"never")  # spans() would send "never"
    source.pieces = [memoryview(b"read "), memoryview(b"bytes")]
    client = Transport(TransportConfig(network_timeout=TIMEOUT, ca_file=str(local_ca.ca_file)))
    client.request("PUT", server.url + "/blob", {"Content-Length": "10"}, source).release()
    (request,) = server.requests
    assert (request.body, source.spans_taken) == (b"read bytes", 0)
    source.close()


def test_a_host_name_is_resolved_once_and_its_addresses_tried_in_turn(serve, transport):
    """`localhost` may list ::1 before 127.0.0.1, where the server listens: the refused address is passed over;
    the resolver runs for the first connection only (an IP literal never needs it)."""
    server = serve(respond=lambda request: answer(body=b"ok"))
    port = server.url.rsplit(":", 1)[1]
    client = Transport(TransportConfig(network_timeout=TIMEOUT, keep_alive=False))
    for _ in range(3):
        assert client.request("GET", f"http://localhost:{port}/v2/").read(10) == b"ok"
    (host,) = client._hosts.values()
    assert any(address[:2] == ("127.0.0.1", int(port)) for *_, address in host.addresses.found)
    assert host.addresses.resolved_at != float("inf") and client.connections_opened == 3
