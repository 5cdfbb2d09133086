"""The text of registry traces: times, Go durations, logrus `key=value` lines and one huge JSON array read in chunks.

`traces.py` turns what these return into records; here is only the syntax, standard library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from ..errors import RegistryTasksError

CHUNK_SIZE = 1 << 20
"""Characters an IBM trace is read by: memory holds about two chunks and one record, whatever the file's size."""
MAX_RECORD = 4 << 20
"""A record still open after this many characters is invalid JSON: refuse it rather than read the file whole."""

_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})?", re.ASCII)
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PAIR = re.compile(r'\s*([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)', re.DOTALL)
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_BLANK = re.compile(r"[ \t\n\r]*")
_BETWEEN = re.compile(r"[ \t\n\r,]*")
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|"|[{}\[\]]', re.DOTALL)


class TraceError(RegistryTasksError, ValueError):
    """One line naming the file and the record (line N or index N) and what is wrong."""


def show(value: object, limit: int = 60) -> str:
    """A value quoted for a one-line message: line breaks written out, long values cut."""
    text = str(value).replace("\r", "\\r").replace("\n", "\\n")
    return f"'{text if len(text) <= limit else text[: limit - 3] + '...'}'"


def parse_time(text: str) -> float:
    """RFC 3339 / ISO 8601 time -> epoch seconds. Go writes 9 fractional digits and Python 3.10's fromisoformat
    takes 6, so the fraction is added apart (at full precision); no offset means UTC."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError("not an ISO 8601 time")
    date, clock, fraction, offset = match.groups()
    if offset is None or offset in ("Z", "z"):
        offset = "+00:00"
    elif ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        moment = datetime.fromisoformat(f"{date}T{clock}{offset}")
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


def parse_go_duration(text: str) -> float:
    """A Go duration as time.Duration.String() writes it (`2.345ms`, `350µs`, `1m2.5s`) -> seconds."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body[1:] if body[:1] in ("+", "-") else body
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        part = _DURATION_PART.match(body, pos)
        if part is None:
            raise ValueError("not a Go duration such as 2.345ms")
        total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        pos = part.end()
    if pos == 0:
        raise ValueError("not a Go duration such as 2.345ms")
    return sign * total


def _unescape(escape: re.Match[str]) -> str:
    hex_byte, hex4, hex8, char = escape.groups()
    if hex_byte is not None:
        return chr(int(hex_byte, 16))
    if hex4 is not None or hex8 is not None:
        code = int(hex4 or hex8, 16)
        return chr(code) if code <= 0x10FFFF else "\ufffd"
    return _SIMPLE_ESCAPES.get(char, char)


def logrus_fields(line: str) -> dict[str, str]:
    """The `key=value` pairs of one logrus text line; quoted values (Go's %q: `\\"`, `\\\\`, `\\n`...) unquoted."""
    fields: dict[str, str] = {}
    text = line.rstrip()
    pos = 0
    while pos < len(text):
        pair = _PAIR.match(text, pos)
        if pair is None:
            raise ValueError(f"not logrus key=value pairs from {show(text[pos:].lstrip(), 30)}")
        key, value = pair.groups()
        fields[key] = _ESCAPE.sub(_unescape, value[1:-1]) if value.startswith('"') else value
        pos = pair.end()
    return fields


def cut_short(text: str, start: int = 0) -> bool:
    """Whether the JSON value at `start` runs past the end of `text` (more may come) rather than being invalid."""
    depth = 0
    for token in _STRUCTURE.finditer(text, start):
        mark = token.group()
        if mark == '"':
            return True  # a string not closed yet
        if mark in ("{", "["):
            depth += 1
        elif mark in ("}", "]"):
            depth -= 1
            if depth == 0:
                return False
    return True


class _Chunks:
    """A text stream read a chunk at a time; `text[pos:]` is what is not consumed yet."""

    def __init__(self, stream: TextIO, size: int) -> None:
        self.stream, self.size = stream, max(size, 1)
        self.text, self.pos, self.eof = "", 0, False

    def refill(self) -> bool:
        """Append the next chunk, dropping what is consumed; False at the end of the file."""
        if self.eof:
            return False
        chunk = self.stream.read(self.size)
        self.text, self.pos, self.eof = self.text[self.pos :] + chunk, 0, not chunk
        return bool(chunk)

    def peek(self, skip: re.Pattern[str]) -> str:
        """The next character after what `skip` matches; "" at the end of the file."""
        while True:
            skipped = skip.match(self.text, self.pos)
            self.pos = skipped.end() if skipped else self.pos
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.refill():
                return ""


def json_array_objects(
    stream: TextIO, name: str, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, object) of the one JSON array of objects a file holds, decoded a chunk at a time (files of many GB:
    memory stays flat). Whitespace and commas between elements are skipped alike."""
    chunks = _Chunks(stream, chunk_size)
    decoder = json.JSONDecoder()
    if chunks.peek(_BLANK) != "[":
        raise TraceError(f"trace {name}: not a JSON array (an IBM trace is one array of records)")
    chunks.pos += 1
    index = 0
    while True:
        char = chunks.peek(_BETWEEN)
        if char == "]":
            break
        if char == "":
            raise TraceError(f"trace {name}: record {index}: JSON cut short (the array is not closed)")
        if char != "{":
            raise TraceError(f"trace {name}: record {index}: not a JSON object")
        yield index, _decode(chunks, decoder, f"trace {name}: record {index}")
        index += 1
    chunks.pos += 1
    if chunks.peek(_BLANK):
        raise TraceError(f"trace {name}: text after the array's closing ']' (after {index} records)")


def _decode(chunks: _Chunks, decoder: json.JSONDecoder, where: str) -> dict[str, Any]:
    """The object at `chunks.pos`, reading more chunks while it is cut short at the end of the text."""
    while True:
        try:
            value, end = decoder.raw_decode(chunks.text, chunks.pos)
        except json.JSONDecodeError as error:
            if not cut_short(chunks.text, chunks.pos):
                raise TraceError(f"{where}: invalid JSON: {error.msg}") from None
            if len(chunks.text) - chunks.pos > MAX_RECORD:
                raise TraceError(f"{where}: invalid JSON: no end after {MAX_RECORD} characters") from None
            if chunks.refill():
                continue
            raise TraceError(f"{where}: JSON cut short") from None
        chunks.pos = end
        return value  # an object: the text at pos starts with '{'
