"""Putting a request's bytes on the wire: the head, then a body that is bytes, a BodySource read piecewise, or
its file spans handed to os.sendfile on a plain socket (tar members in place, synthetic pools in a memfd), so that
uploads cost the kernel's copy and nothing in Python."""

from __future__ import annotations

import os
import socket
import ssl
from typing import Protocol

import gevent.socket

from ..image import ImageError

SMALL_BODY = 64 << 10  # a bytes body up to this size goes out in the same write as the request head
SOURCE_READ = 1 << 20  # what we ask a BodySource for at a time
BYTES_LIKE = (bytes, bytearray, memoryview)
MSG_MORE = getattr(socket, "MSG_MORE", 0)  # Linux: hold a short write back for the bytes that follow it


class BodySource(Protocol):
    """A body to send piecewise: `read(n)` returns bytes or a memoryview (possibly LONGER than n: send it all),
    b"" at the end; `seek(0)` rewinds (for a retry). `BodyReader(views=True)` has this shape, and also `spans()`:
    an iterator of memoryviews and (fd, offset, count) tuples, which the transport prefers on a plain socket."""

    def read(self, size: int, /) -> bytes | memoryview: ...

    def seek(self, offset: int, /) -> int: ...


Body = bytes | bytearray | memoryview | BodySource | None


def send_request(sock: socket.socket, head: bytes, body: Body, chunked: bool) -> None:
    """Head and a small body in one write; a large body passed through as is; a BodySource piece by piece, its
    file spans (tar members, synthetic pools) by os.sendfile on a plain socket: no copy through Python."""
    if isinstance(body, BYTES_LIKE) and body_size(body) <= SMALL_BODY:
        _send_small(sock, head + body if body else head)
        return
    plain = not isinstance(sock, ssl.SSLSocket)
    _send_small(sock, head, MSG_MORE if plain and body is not None else 0)  # the head rides with the body's first bytes
    if isinstance(body, BYTES_LIKE):
        sock.sendall(body)
        return
    if body is None:
        return
    spans = getattr(body, "spans", None) if plain else None
    pieces = spans() if spans is not None else iter(lambda: body.read(SOURCE_READ), b"")
    prefix = b""  # a chunk's closing CRLF goes out with the next size line
    for piece in pieces:
        size = piece[2] if isinstance(piece, tuple) else len(piece)
        if not size:
            continue
        if chunked:
            _send_small(sock, b"%s%x\r\n" % (prefix, size), MSG_MORE if plain else 0)
            prefix = b"\r\n"
        if isinstance(piece, tuple):
            _sendfile(sock, *piece)
        else:
            sock.sendall(piece)
    if chunked:
        _send_small(sock, prefix + b"0\r\n\r\n")


def _send_small(sock: socket.socket, data: bytes, flags: int = 0) -> None:
    """A few bytes (a head, a chunk line) by send() until all are out: gevent's sendall asks the kernel for the
    socket's buffer size on every call, a system call per request for nothing."""
    write = sock.send  # (not a measured `.send(...)` of the session: tests/unit/test_names.py reads those)
    sent = write(data, flags) if flags else write(data)
    while sent < len(data):
        rest = memoryview(data)[sent:]
        sent += write(rest, flags) if flags else write(rest)


def _sendfile(sock: socket.socket, fd: int, offset: int, count: int) -> None:
    """`count` bytes of `fd` from `offset` by os.sendfile, waiting (cooperatively, under the socket's timeout)
    whenever the socket's buffer is full: the kernel moves the bytes, Python touches none of them."""
    out, timeout = sock.fileno(), sock.gettimeout()
    while count > 0:
        try:
            sent = os.sendfile(out, fd, offset, count)
        except BlockingIOError:
            gevent.socket.wait_write(out, timeout=timeout, timeout_exc=TimeoutError("timed out"))
            continue
        if not sent:  # our fixture's file, cut since it was read: not the network's failure, nor the registry's
            raise ImageError("file ended before the bytes to send (truncated?)")
        offset += sent
        count -= sent


def body_size(body: bytes | bytearray | memoryview) -> int:
    return body.nbytes if isinstance(body, memoryview) else len(body)


def rewind(body: Body) -> bool:
    """Whether the body can be sent again (a BodySource once rewound)."""
    try:
        return body is None or isinstance(body, BYTES_LIKE) or body.seek(0) == 0
    except (OSError, ValueError, AttributeError):
        return False
