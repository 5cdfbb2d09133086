"""Test helpers: a recorder of request events, parsed options as Locust hands them over, `locust` runs and their
stats CSV, and small real HTTP servers for faults a registry cannot produce."""

from __future__ import annotations

import argparse
import csv
import http.server
import os
import re
import socket
import struct
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
from typing import Any, NoReturn

import pytest

from registry_tasks.config import OPTIONS


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


ROOT = Path(__file__).resolve().parents[2]
"""The repository's root (tests/support/helpers.py is two levels below it)."""

RunSkopeo = Callable[..., subprocess.CompletedProcess[str]]
"""The `run_skopeo` fixture's type."""


def options(**given: object) -> argparse.Namespace:
    """Locust's parsed options as our plugin gets them with nothing given (every option at its default), then
    `given` (option keys, e.g. chunk_size="1MiB")."""
    values = {option.key: option.default for option in OPTIONS if option.cli}
    values.update(given)
    return argparse.Namespace(**values)


def snapshot(root: Path) -> list[tuple[str, int, int, int]]:
    """Every path under root with its mode, size and mtime: proof that a load (or a run) wrote nothing."""
    out = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            info = os.lstat(os.path.join(directory, name))
            out.append((os.path.join(directory, name), info.st_mode, info.st_size, info.st_mtime_ns))
    return sorted(out)


ALL_ENTRIES = {
    ("GET", "manifest-get"),
    ("GET", "blob-get"),
    ("PULL", "image-pull"),
    ("POST", "upload-start"),
    ("PATCH", "upload-chunk"),
    ("PUT", "upload-finish"),
    ("PUT", "manifest-put"),
    ("HEAD", "blob-head"),
    ("PUSH", "image-push"),
}
"""(Type, Name) of every stats entry a run of all tasks reports, whatever its timing."""


def locust_command(*args: str, headless: bool = True) -> list[str]:
    """A `locust` run of our locustfile (headless unless asked), as a user would type it."""
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--stop-timeout", "5"]
    return [*command, *(["--headless"] if headless else []), *args]


def run_locust(
    tmp_path: Path, *args: str, timeout: float = 90, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        locust_command(*args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def seeded_run(command: list[str], tmp_path: Path, seconds: float = 30) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A locust run (its stderr in tmp_path/locust.log) handed over once its log says it seeded (at most
    `seconds`), for a test to break something under it; killed at the end if it has not ended."""
    log = tmp_path / "locust.log"
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=output, text=True)
    try:
        deadline = time.monotonic() + seconds
        while "seeded " not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def stats(csv_prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Locust's `<prefix>_stats.csv` by (Type, Name), without the Aggregated row."""
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {(row["Type"], row["Name"]): row for row in rows if row["Name"] != "Aggregated"}


BodyFilter = Callable[[str, bytes], bytes]


@dataclass
class Fault:
    """A fault the proxy injects into requests whose method and path (a regex) match: the `times` matches
    after the first `skip` ones get it. Actions: `status` (answer `status`/`headers`/`body` without asking
    the registry), `delay` (wait `seconds`, then forward), `stall` (send half the body, wait `seconds`, send
    the rest), `reset` (half the body, then a TCP reset), `truncate` (half the body, then a clean close),
    `flip` (one byte of the body changed), `expire` (DELETE the upload session at the registry first, so
    that the registry itself answers 404 BLOB_UPLOAD_UNKNOWN), `add-headers` (forward, then add `headers` to
    the registry's answer)."""

    method: str
    path: str
    action: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    times: int = 1
    skip: int = 0
    matched: int = 0


@dataclass
class FaultPlan:
    """The faults of one proxy and the requests it saw (method, path, monotonic time), shared by its threads."""

    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            self.seen.append((method, path, time.monotonic()))
            for fault in self.faults:
                if fault.method == method and re.search(fault.path, path):
                    fault.matched += 1
                    if fault.skip < fault.matched <= fault.skip + fault.times:
                        return fault
            return None

    def hits(self, fault: Fault) -> int:
        return max(0, min(fault.matched - fault.skip, fault.times))


HOP_HEADERS = ("content-length", "connection", "transfer-encoding", "date", "server", "keep-alive")


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """Forwards to the upstream registry (keeping the Host header, so upload Locations point back here),
    passes `GET` bodies through `alter`, and injects the faults of its plan."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: Nagle + delayed ACK would add 40 ms
    upstream: str
    alter: BodyFilter
    plan: FaultPlan

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _upstream(self, method: str, body: bytes | None) -> tuple[int, Any, bytes]:
        request = urllib.request.Request(self.upstream + self.path, data=body, method=method)
        for name in dict.fromkeys(self.headers.keys()):
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                # repeated lines (docker's one Accept line per type) joined, as HTTP allows for list values
                request.add_header(name, ", ".join(self.headers.get_all(name) or []))
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback only
                return answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def _body(self) -> bytes | None:
        """The request body: by Content-Length, or decoded from chunked transfer encoding (docker's PATCH)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return bytes(data)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _forward(self) -> None:
        body = self._body()
        fault = self.plan.take(self.command, self.path)
        action = fault.action if fault else ""
        if fault is not None and action == "status":
            status, headers, data = fault.status, fault.headers, fault.body
        else:
            if fault is not None and action == "delay":
                time.sleep(fault.seconds)
            if action == "expire":
                self._upstream("DELETE", None)
            status, headers, data = self._upstream(self.command, body)
        data = self.alter(self.path, data) if self.command == "GET" else data
        if action == "flip" and data:
            data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1 :]
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        if fault is not None and action == "add-headers":
            for name, value in fault.headers.items():
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self._send_body(data, fault)
            except ConnectionError:  # the client gave up (a timeout under test): nothing to tell it
                self.close_connection = True

    def _send_body(self, data: bytes, fault: Fault | None) -> None:
        if fault is None or fault.action not in ("stall", "reset", "truncate"):
            self.wfile.write(data)
            return
        half = len(data) // 2
        self.wfile.write(data[:half])
        self.wfile.flush()
        if fault.action == "stall":
            time.sleep(fault.seconds)
            self.wfile.write(data[half:])
            return
        self.close_connection = True
        if fault.action == "reset":  # linger 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # socketserver's 5 drops SYNs of a burst, and the client's retry costs it a second


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run a real HTTP server on a free loopback port for the duration of a test; yields its URL."""
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fault_proxy(upstream: str, *faults: Fault, alter: BodyFilter | None = None) -> Iterator[tuple[str, FaultPlan]]:
    """A proxy in front of a real registry injecting `faults`; yields its URL and the plan (to count hits)."""
    plan = FaultPlan(list(faults))
    body_filter = alter or (lambda path, data: data)
    handler = type("Proxy", (_ProxyHandler,), {"upstream": upstream, "alter": staticmethod(body_filter), "plan": plan})
    with serve(handler) as url:
        yield url, plan


@contextmanager
def proxy(upstream: str, alter: BodyFilter) -> Iterator[str]:
    """A proxy in front of a real registry that passes `GET` bodies through `alter`."""
    with fault_proxy(upstream, alter=alter) as (url, _):
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


def in_ci() -> bool:
    """`CI` set (and not false): what cannot run is an error, not a skip."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def missing(what: str) -> NoReturn:
    """Skip locally, fail under CI, so that a green CI run always means the real tests ran."""
    if in_ci():
        pytest.fail(f"{what} (CI is set, so this is an error, not a skip)")
    pytest.skip(what)
