"""The requests a distribution registry served, read back from its own JSON log.

Start the registry with `start_registry(extra_config=REQUEST_LOG_CONFIG)`: at level info with the JSON formatter
every request ends in one record whose `msg` starts with "response completed" (also "response completed with
error" for 4xx/5xx), carrying `http.request.method`, `http.request.uri`, `http.request.remoteaddr` (ip:port),
`http.request.useragent`, `http.response.status`, `http.response.written` and `time`.

A test takes "the requests since X" by log offset (bytes), never by guessing which requests were its own:

    start = settled_offset(registry.log_path)       # after start_registry: the readiness probe is before this
    run_the_client()
    requests = read_requests(registry.log_path, start, settled_offset(registry.log_path))

or, the same, `with capture(registry.log_path) as captured: run_the_client()` then `captured.requests`.

The registry writes a request's record when its handler returns, which can be a moment after the client has
read the whole answer (and exited); `settled_offset` therefore waits until the log has been quiet for a short
while before it takes the size.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

REQUEST_LOG_CONFIG: dict[str, Any] = {"log": {"level": "info", "formatter": "json"}}
"""`start_registry(extra_config=...)` for a log with one JSON record per request."""

COMPLETED = "response completed"


@dataclass(frozen=True)
class Request:
    """One request the registry answered, as its log recorded it."""

    method: str
    uri: str
    """Path and query as the client sent them (not decoded)."""
    path: str
    query: Mapping[str, str] = field(hash=False)
    """The query's parameters (the first value of each name), decoded."""
    remote: str
    """The client's IP address."""
    port: int
    """The client's TCP port: one port, one connection."""
    user_agent: str
    status: int
    written: int
    """Bytes of body the registry wrote (for HEAD: what it would have written)."""
    time: str
    """The record's RFC 3339 time stamp, as logged: when the answer was complete."""
    duration: float = 0.0
    """Seconds the registry spent on the request (`http.response.duration`)."""

    @property
    def connection(self) -> tuple[str, int]:
        return self.remote, self.port

    @property
    def started(self) -> float:
        """When the registry began the request (seconds since the epoch): `time` less `duration`. The log is in
        the order requests completed; this gives the order concurrent ones began."""
        return epoch_seconds(self.time) - self.duration

    def __str__(self) -> str:
        return f"{self.method} {self.uri} {self.status} ({self.remote}:{self.port})"


def split_address(address: str) -> tuple[str, int]:
    """'127.0.0.1:5000' -> ('127.0.0.1', 5000); '[::1]:5000' -> ('::1', 5000); no port -> port 0."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        return address, 0
    return host.removeprefix("[").removesuffix("]"), int(port)


def parse_record(record: Mapping[str, Any]) -> Request | None:
    """The request of one log record, or None when the record is not a "response completed" one."""
    if not str(record.get("msg", "")).startswith(COMPLETED) or "http.request.method" not in record:
        return None
    uri = str(record.get("http.request.uri", ""))
    parts = urlsplit(uri)
    remote, port = split_address(str(record.get("http.request.remoteaddr", "")))
    return Request(
        method=str(record["http.request.method"]),
        uri=uri,
        path=parts.path,
        query=dict(reversed(parse_qsl(parts.query, keep_blank_values=True))),
        remote=remote,
        port=port,
        user_agent=str(record.get("http.request.useragent", "")),
        status=int(record.get("http.response.status", 0)),
        written=int(record.get("http.response.written", 0)),
        time=str(record.get("time", "")),
        duration=go_duration(str(record.get("http.response.duration", "0s"))),
    )


_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float:
    """A Go duration string ("6.2ms", "1m0.5s", "512µs") in seconds; 0 when it is not one."""
    return sum(float(number) * _UNITS[unit] for number, unit in _DURATION.findall(text))


def epoch_seconds(text: str) -> float:
    """An RFC 3339 time stamp with up to nanoseconds ("2026-12-01T07:49:08.640926771Z") in seconds since the
    epoch; 0 when it is not one."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        return 0.0
    zone = "+00:00" if match[3] == "Z" else match[3]
    whole = datetime.fromisoformat(match[1] + zone).timestamp()
    return whole + (float("0." + match[2]) if match[2] else 0.0)


def log_offset(log_path: Path | str) -> int:
    """The log's size now (0 when it does not exist yet): where "the requests since now" begin."""
    try:
        return Path(log_path).stat().st_size
    except FileNotFoundError:
        return 0


def settled_offset(log_path: Path | str, quiet: float = 0.3, timeout: float = 10.0) -> int:
    """The log's size once it has not grown for `quiet` seconds (at most `timeout` seconds of waiting): an offset
    that every request answered before the call is behind."""
    deadline = time.monotonic() + timeout
    size = log_offset(log_path)
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(min(0.05, quiet))
        now = log_offset(log_path)
        if now != size:
            size, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= quiet:
            break
    return size


def read_requests(log_path: Path | str, start_offset: int = 0, end_offset: int | None = None) -> list[Request]:
    """The requests recorded between two offsets (default: from `start_offset` to the end), in log order.

    Only whole lines count: a record being written at the end is left for a later read. Lines that are not JSON
    (a panic, Go's own server messages) and records of other kinds are skipped.
    """
    with open(log_path, "rb") as handle:
        handle.seek(start_offset)
        data = handle.read() if end_offset is None else handle.read(max(0, end_offset - start_offset))
    data = data[: data.rfind(b"\n") + 1]
    requests = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and (request := parse_record(record)) is not None:
            requests.append(request)
    return requests


@dataclass
class Captured:
    """The log window of a `capture` block; `requests` is filled when the block ends."""

    log_path: Path
    start: int
    end: int | None = None
    requests: list[Request] = field(default_factory=list)


@contextmanager
def capture(log_path: Path | str, quiet: float = 0.3) -> Iterator[Captured]:
    """The requests the registry answered during the block (settled at both ends), in `captured.requests`."""
    path = Path(log_path)
    captured = Captured(path, settled_offset(path, quiet))
    yield captured
    captured.end = settled_offset(path, quiet)
    captured.requests = read_requests(path, captured.start, captured.end)
