"""`python -m bench.holder UPSTREAM HOLD LIFETIME`: a loopback proxy that keeps many requests in flight at once.

bench/memory.py needs every simulated user to have a request open and waiting, 10,000 at a time; a threaded
http.server (bench/arrivals.py's `_Holder`) cannot hold that many, so this one is asyncio in a process of its
own (its CPU and memory stay out of the measured locust process). A manifest GET is answered after HOLD
seconds from a copy fetched once per (path, Accept) from UPSTREAM, so the registry sees almost none of the
load; anything else is forwarded on a fresh upstream connection (`Connection: close`) and the client's
connection closed after it. `GET /_holder` answers at once with JSON counts (held now, most held, answered,
connections). The port goes to stdout; the process stops by itself after LIFETIME seconds, or on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from urllib.parse import urlsplit

STATS_PATH = "/_holder"
BACKLOG = 4096  # net.core.somaxconn here; a spawn of 1,000 users/s connects in bursts
HEAD_LIMIT = 64 << 10
DROPPED = ("connection", "content-length", "transfer-encoding", "date", "keep-alive")


def parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """Method, target and headers of a request head (latin-1, as HTTP/1.1 defines it)."""
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return method, target, headers


def header(headers: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in reversed(headers) if key.lower() == name), "")


async def read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    """The request body by Content-Length, or de-chunked (our client sends streamed bodies chunked)."""
    if "chunked" in header(headers, "transfer-encoding").lower():
        body = bytearray()
        while size := int((await reader.readline()).split(b";")[0].strip() or b"0", 16):
            body += await reader.readexactly(size)
            await reader.readline()
        while (await reader.readline()).strip():  # trailers, up to the empty line
            pass
        return bytes(body)
    length = int(header(headers, "content-length") or 0)
    return await reader.readexactly(length) if length else b""


def canned(raw: bytes) -> bytes | None:
    """A keep-alive copy of an upstream 200 answer that came with a Content-Length, or None."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if lines[0].split(" ")[1:2] != ["200"]:
        return None
    kept = [line for line in lines[1:] if line.partition(":")[0].strip().lower() not in DROPPED]
    length = next((line.partition(":")[2].strip() for line in lines if line.lower().startswith("content-length:")), "")
    if not length.isdigit() or int(length) != len(body):
        return None
    return "\r\n".join([lines[0], *kept, f"Content-Length: {len(body)}", "", ""]).encode("latin-1") + body


class Holder:
    """Counts what is held and open; one canned answer per manifest (path, Accept), fetched once."""

    def __init__(self, upstream: str, hold: float) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.hold = hold
        self.held = self.max_held = self.answered = self.connections = self.max_connections = 0
        self.copies: dict[tuple[str, str], asyncio.Future[bytes | None]] = {}

    def stats(self) -> dict[str, int | float]:
        return {"held": self.held, "max_held": self.max_held, "answered": self.answered, "hold_s": self.hold,
                "connections": self.connections, "max_connections": self.max_connections}  # fmt: skip

    async def forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        """One exchange with the registry on a connection of its own; the whole answer, as sent."""
        reader, writer = await asyncio.open_connection(*self.upstream)
        kept = [f"{name}: {value}\r\n" for name, value in headers if name.lower() not in DROPPED]
        if body or method in ("POST", "PUT", "PATCH"):
            kept.append(f"Content-Length: {len(body)}\r\n")
        writer.write(f"{method} {target} HTTP/1.1\r\n{''.join(kept)}Connection: close\r\n\r\n".encode("latin-1"))
        writer.write(body)
        try:
            return await reader.read()  # Connection: close: the answer ends where the registry closes
        finally:
            writer.close()

    async def copy(self, target: str, headers: list[tuple[str, str]]) -> bytes | None:
        """The canned answer for this manifest and Accept; the first asker fetches it, the others wait for it."""
        key = (target, header(headers, "accept"))
        future = self.copies.get(key)
        if future is None:
            future = self.copies[key] = asyncio.get_running_loop().create_future()
            try:
                future.set_result(canned(await self.forward("GET", target, headers, b"")))
            except (OSError, ValueError):
                future.set_result(None)
            if future.result() is None:
                del self.copies[key]  # the next one tries again
        return await asyncio.shield(future)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Requests on one client connection, held manifest GETs kept alive, anything forwarded closed after."""
        self.connections += 1
        self.max_connections = max(self.max_connections, self.connections)
        try:
            while True:
                try:
                    method, target, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
                    body = await read_body(reader, headers)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
                    return
                if target == STATS_PATH:
                    data = json.dumps(self.stats()).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(data), data))  # fmt: skip
                    await writer.drain()
                    return
                answer = await self.copy(target, headers) if method == "GET" and "/manifests/" in target else None
                if answer is None:
                    writer.write(await self.forward(method, target, headers, body))
                    await writer.drain()
                    return
                self.held += 1
                self.max_held = max(self.max_held, self.held)
                try:
                    await asyncio.sleep(self.hold)
                finally:
                    self.held -= 1
                writer.write(answer)
                await writer.drain()
                self.answered += 1
        except (ConnectionError, asyncio.CancelledError):  # the peer went, or we stop: nothing to tell
            return
        finally:
            self.connections -= 1
            writer.close()


async def main(upstream: str, hold: float, lifetime: float) -> None:
    holder = Holder(upstream, hold)
    server = await asyncio.start_server(holder.serve, "127.0.0.1", 0, backlog=BACKLOG, limit=HEAD_LIMIT)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with contextlib.suppress(asyncio.TimeoutError):  # TimeoutError itself only from 3.11
        await asyncio.wait_for(stop.wait(), lifetime)
    server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))
