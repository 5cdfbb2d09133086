"""Registry request traces as a stream of records, for replays: what real clients asked a registry, and when.

Three formats: IBM's Docker registry traces (Anwar et al., FAST'18: one JSON array per file, hashed names) and
distribution's (registry:2) own log, logrus text or JSON lines, of which only `response completed` lines are
requests. Files can be many GB, so every reader streams one record at a time. No HTTP and no Locust here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar
from urllib.parse import urlsplit

from .trace_formats import (
    CHUNK_SIZE,
    TraceError,
    cut_short,
    json_array_objects,
    logrus_fields,
    parse_go_duration,
    parse_time,
    show,
)

__all__ = ["FORMATS", "TraceError", "TraceRecord", "classify", "detect_format", "read_trace"]

FORMATS = ("ibm", "distribution-text", "distribution-json")
REQUEST_MESSAGES = ("response completed", "response completed with error")
"""distribution logs one of these per request it answered; every other line is not a request."""
_TEXT_REQUEST = 'msg="response completed'
"""A text line without this is skipped before it is parsed: most lines of a busy registry's log are not requests."""
_DETECT_CHUNK = 4096
_T = TypeVar("_T")

_ROUTES = {
    ("manifests", "GET"): "manifest-get", ("manifests", "HEAD"): "manifest-head",
    ("manifests", "PUT"): "manifest-put", ("manifests", "DELETE"): "manifest-delete",
    ("blobs", "GET"): "blob-get", ("blobs", "HEAD"): "blob-head", ("blobs", "DELETE"): "blob-delete",
    ("referrers", "GET"): "referrers-get",
}  # fmt: skip
_UPLOADS = {"PATCH": "upload-chunk", "PUT": "upload-finish", "GET": "upload-status", "DELETE": "upload-cancel"}
_OTHER = ("other", "", "")


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One request of a trace, whatever the format it came from."""

    index: int  # IBM: 0-based position in the array; distribution logs: 1-based line number
    start: float  # epoch seconds when the request started
    method: str  # upper case
    path: str  # always with a leading "/", without the query
    query: str  # raw query string without "?" ("" when none)
    client: str  # remote address without port (IBM hashes as they are)
    user_agent: str
    status: int  # 0 when absent
    written: int  # response body bytes, 0 when absent
    duration: float  # seconds, 0.0 when absent
    kind: str  # see classify()
    repository: str  # "" for ping, catalog and other
    reference: str  # tag, digest, blob hash or upload id; "" when none


def classify(method: str, path: str) -> tuple[str, str, str]:
    """(kind, repository, reference) of a Registry API V2 request path, matched from its end as distribution's
    router does, so names of several components (and IBM's hashed ones, without a leading "/") classify."""
    method = method.upper()
    path = path.partition("?")[0]
    path = path if path.startswith("/") else f"/{path}"
    if path in ("/v2", "/v2/"):
        return ("ping", "", "") if method in ("GET", "HEAD") else _OTHER
    if path == "/v2/_catalog":
        return ("catalog", "", "") if method == "GET" else _OTHER
    if not path.startswith("/v2/"):
        return _OTHER
    parts = path[4:].split("/")
    kind: str | None
    name, reference = parts[:-2], parts[-1]
    if parts[-3:-1] == ["blobs", "uploads"]:  # .../blobs/uploads/<id>, or .../blobs/uploads/ to start one
        name = parts[:-3]
        kind = _UPLOADS.get(method) if reference else ("upload-start" if method == "POST" else None)
    elif parts[-2:] == ["blobs", "uploads"]:
        kind, reference = ("upload-start" if method == "POST" else None), ""
    elif parts[-2:] == ["tags", "list"]:
        kind, reference = ("tags-list" if method == "GET" else None), ""
    else:
        kind = _ROUTES.get((parts[-2], method)) if len(parts) >= 2 and reference else None
    if kind is None or not name or "" in name:
        return _OTHER
    return kind, "/".join(name), reference


def split_uri(uri: str) -> tuple[str, str]:
    """(path with a leading "/", raw query) of a request URI as logged: IBM's lack the "/", proxies' are absolute."""
    if uri.startswith(("http://", "https://")):
        parts = urlsplit(uri)
        path, query = parts.path or "/", parts.query
    else:
        path, _, query = uri.partition("?")
    return (path if path.startswith("/") else f"/{path}"), query


def client_address(remote: str) -> str:
    """A remote address without its port: `10.0.0.1:43210` and `[::1]:43210` lose it; a bare IPv6 address or
    an IBM hash stays as it is."""
    if remote.startswith("["):
        end = remote.find("]")
        return remote[1:end] if end > 0 else remote
    host, colon, port = remote.rpartition(":")
    return host if colon and host and ":" not in host and port.isdigit() else remote


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of a trace from its first non-blank characters: '[' an IBM trace, '{' a distribution JSON log,
    `time=`, `level=` or `msg=` a distribution text log."""
    name = os.fspath(path)
    head = ""
    try:
        with open(name, "rb") as file:
            while not head and (chunk := file.read(_DETECT_CHUNK)):
                head = chunk.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    except OSError as error:
        raise TraceError(f"trace {name}: cannot read: {error.strerror or error}") from None
    if not head:
        raise TraceError(f"trace {name}: empty, neither an IBM trace nor a distribution log")
    if head.startswith("["):
        return "ibm"
    if head.startswith("{"):
        return "distribution-json"
    if head.startswith(("time=", "level=", "msg=")):
        return "distribution-text"
    line = head.splitlines()[0]
    raise TraceError(f"trace {name}: neither an IBM trace nor a distribution log (it starts {show(line, 40)})")


def read_trace(path: str | os.PathLike[str], format: str | None = None) -> Iterator[TraceRecord]:
    """The records of one file in file order (its format detected when None). The format and the file are checked
    at once; a bad record raises TraceError when the iteration reaches it. Non-request log lines are skipped."""
    name = os.fspath(path)
    if format is None:
        format = detect_format(name)
    elif format not in FORMATS:
        raise TraceError(f"trace {name}: unknown format '{format}' (one of {', '.join(FORMATS)})")
    else:
        with _opened(name):
            pass
    return _READERS[format](name)


def read_ibm(path: str, *, chunk_size: int = CHUNK_SIZE) -> Iterator[TraceRecord]:
    """An IBM trace's records, the array read `chunk_size` characters at a time."""
    with _opened(path) as stream:
        for index, fields in json_array_objects(stream, path, chunk_size=chunk_size):
            yield _record(path, f"record {index}", index, fields, _IBM)


def read_distribution_text(path: str) -> Iterator[TraceRecord]:
    """A distribution logrus text log's requests."""
    with _opened(path) as lines:
        for number, line in enumerate(lines, 1):
            if _TEXT_REQUEST not in line:
                continue
            try:
                fields = logrus_fields(line)
            except ValueError as error:
                raise TraceError(f"trace {path}: line {number}: {error}") from None
            if fields.get("msg") in REQUEST_MESSAGES:
                yield _record(path, f"line {number}", number, fields, _DISTRIBUTION)


def read_distribution_json(path: str) -> Iterator[TraceRecord]:
    """A distribution JSON log's requests. Lines not starting with '{' (blank ones, and what other programs wrote
    beside the registry's own lines) are skipped; one that starts so but is no JSON is an error."""
    with _opened(path) as lines:
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text.startswith("{"):
                continue
            try:
                fields = json.loads(text)
            except json.JSONDecodeError as error:
                problem = "JSON cut short" if cut_short(text) else f"invalid JSON: {error.msg}"
                raise TraceError(f"trace {path}: line {number}: {problem}") from None
            if fields.get("msg") in REQUEST_MESSAGES:
                yield _record(path, f"line {number}", number, fields, _DISTRIBUTION)


_READERS: dict[str, Callable[[str], Iterator[TraceRecord]]] = {
    "ibm": read_ibm,
    "distribution-text": read_distribution_text,
    "distribution-json": read_distribution_json,
}


@contextmanager
def _opened(name: str) -> Iterator[TextIO]:
    """The file as text; failing to open or read it is a TraceError naming it."""
    try:
        with open(name, encoding="utf-8-sig", errors="replace") as stream:
            yield stream
    except OSError as error:
        raise TraceError(f"trace {name}: cannot read: {error.strerror or error}") from None


@dataclass(frozen=True)
class _Keys:
    """Where a format keeps what differs: the time's and duration's keys, and whether the time is the start."""

    time: str
    duration: str
    time_is_start: bool


_IBM = _Keys("timestamp", "http.request.duration", time_is_start=True)
_DISTRIBUTION = _Keys("time", "http.response.duration", time_is_start=False)  # logged at completion


def _record(name: str, where: str, index: int, fields: Mapping[str, Any], keys: _Keys) -> TraceRecord:
    try:
        method = _field(fields, "http.request.method", _text, None).upper()
        path, query = split_uri(_field(fields, "http.request.uri", _text, None))
        time = _field(fields, keys.time, _time, None)
        duration = _field(fields, keys.duration, _seconds, 0.0)
        remote = _field(fields, "http.request.remoteaddr", _text, "")
        user_agent = _field(fields, "http.request.useragent", _text, "")
        status = _field(fields, "http.response.status", _count, 0)
        written = _field(fields, "http.response.written", _count, 0)
    except ValueError as error:
        raise TraceError(f"trace {name}: {where}: {error}") from None
    kind, repository, reference = classify(method, path)
    start = time if keys.time_is_start else time - duration
    return TraceRecord(index, start, method, path, query, client_address(remote), user_agent, status, written,
                       duration, kind, repository, reference)  # fmt: skip


def _field(fields: Mapping[str, Any], key: str, convert: Callable[[object], _T], default: _T | None) -> _T:
    """fields[key] converted; absent (or empty) gives the default, and without one is an error."""
    value = fields.get(key)
    if value is None or value == "":
        if default is None:
            raise ValueError(f"no {key}")
        return default
    try:
        return convert(value)
    except ValueError as error:
        raise ValueError(f"bad {key} {show(value)}: {error}") from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


def _time(value: object) -> float:
    if not isinstance(value, str):
        raise ValueError("not an ISO 8601 time")
    return parse_time(value)


def _count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError("not a whole number")


def _seconds(value: object) -> float:
    """A duration: IBM's are numbers of seconds, distribution's Go durations."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_go_duration(value)
    else:
        raise ValueError("not a duration")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("not a duration of 0 or more")
    return seconds
