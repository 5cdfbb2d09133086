"""The bare side of `python -m bench.connections`: a client that does nothing but connect, send a fixed request
head, read until EOF and close, on stdlib or gevent sockets (the floor our client is measured against), and the
capture of the exact head our client sends (so that both send the same bytes)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import gevent.socket

HOST = "127.0.0.1"
RECV_BUFFER = 64 << 10


class Bare:
    """socket.create_connection, (TLS,) sendall of the head, recv_into one buffer until EOF, close: nothing else."""

    def __init__(
        self,
        connect: Callable[[tuple[str, int]], socket.socket],
        address: tuple[str, int],
        head: bytes,
        context: ssl.SSLContext | None = None,
        resume: bool = False,
    ) -> None:
        self.connect, self.address, self.head, self.context, self.resume = connect, address, head, context, resume
        self.buffer = bytearray(RECV_BUFFER)
        self.view = memoryview(self.buffer)
        self.session: ssl.SSLSession | None = None
        self.requests = self.reused = 0
        self.version: str | None = None

    def __call__(self) -> None:
        sock = self.connect(self.address)
        filled = 0
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as ours and Go: a TLS Finished and the
            # request are two writes, and Nagle would hold the second for the server's delayed ACK (40 ms)
            if self.context is not None:
                sock = self.context.wrap_socket(sock, server_hostname=HOST, session=self.session)
            sock.sendall(self.head)
            while count := sock.recv_into(self.view[filled:]):
                filled += count
                if filled == len(self.buffer):
                    raise RuntimeError("answer larger than the bare client's buffer")
            if isinstance(sock, ssl.SSLSocket):
                self.requests += 1
                self.reused += bool(sock.session_reused)
                self.version = sock.version()
                if self.resume:
                    self.session = sock.session
        finally:
            sock.close()
        if not self.buffer.startswith(b"HTTP/1.1 200 ", 0, filled):
            raise RuntimeError(f"bare request answered {bytes(self.buffer[:40])!r}")

    def facts(self) -> dict[str, Any]:
        if self.context is None:
            return {}
        return {"tls_version": self.version, "handshakes": self.requests, "resumed": self.reused}


def stdlib_connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address)


def gevent_connect(address: tuple[str, int]) -> socket.socket:
    """What our Transport calls: gevent's create_connection, which resolves even a numeric host in its resolver."""
    sock: socket.socket = gevent.socket.create_connection(address)
    return sock


def gevent_connect_direct(address: tuple[str, int]) -> socket.socket:
    """A gevent socket connected to the address as given: the floor without getaddrinfo."""
    sock: socket.socket = gevent.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def captured_head(send: Callable[[str], object]) -> tuple[bytes, str]:
    """The request head a client sends, caught by a one-shot listener that then hangs up; with its Host value."""
    listener = socket.create_server((HOST, 0))
    authority = f"{HOST}:{listener.getsockname()[1]}"
    caught: list[bytes] = []

    def accept() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                data += chunk
            caught.append(data)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    with contextlib.suppress(Exception):  # the listener answers nothing: the client fails, as it should
        send(f"http://{authority}")
    thread.join(timeout=5)
    listener.close()
    if not caught:
        raise RuntimeError("the client sent no request to the capturing listener")
    return caught[0], authority
