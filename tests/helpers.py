"""Test helpers: a recorder of request events, and small real HTTP servers for faults a registry cannot produce."""

from __future__ import annotations

import csv
import http.server
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Recorder:
    """Collects what a RegistryClient fires, in Locust's request-event shape."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **event: Any) -> None:
        self.events.append(event)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["name"] == name]

    def failures(self) -> list[str]:
        return [f"{event['name']}: {event['exception']}" for event in self.events if event["exception"]]


ROOT = Path(__file__).resolve().parent.parent


def run_locust(
    tmp_path: Path, *args: str, timeout: float = 90, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--stop-timeout", "5"]
    return subprocess.run(
        [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def stats(csv_prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {(row["Type"], row["Name"]): row for row in rows if row["Name"] != "Aggregated"}


BodyFilter = Callable[[str, bytes], bytes]


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """Forwards to the upstream registry; `alter` may change response bodies (a corrupted byte)."""

    upstream: str
    alter: BodyFilter

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        request = urllib.request.Request(self.upstream + self.path, data=body, method=self.command)
        for name, value in self.headers.items():
            if name.lower() not in ("host", "content-length", "connection"):
                request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback only
                status, headers, data = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, headers, data = error.code, error.headers, error.read()
        data = self.alter(self.path, data) if self.command == "GET" else data
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run a real HTTP server on a free loopback port for the duration of a test; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def proxy(upstream: str, alter: BodyFilter) -> Iterator[str]:
    """A proxy in front of a real registry that passes `GET` bodies through `alter`."""
    handler = type("Proxy", (_ProxyHandler,), {"upstream": upstream, "alter": staticmethod(alter)})
    with serve(handler) as url:
        yield url


def slow_blob_server(body: bytes, pieces: int, pause: float) -> type[http.server.BaseHTTPRequestHandler]:
    """A server that sends headers at once, then dribbles the body in `pieces` with `pause` between."""

    class Slow(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.flush()
            step = -(-len(body) // pieces)
            for start in range(0, len(body), step):
                time.sleep(pause)
                self.wfile.write(body[start : start + step])
                self.wfile.flush()

    return Slow
