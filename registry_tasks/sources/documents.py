"""Small helpers shared by the fixture formats: JSON metadata read safely, and image names from references."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ..image import Body, FileSegment
from .members import FixtureError, Members

MAX_JSON_SIZE = 16 << 20
TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
SEPARATOR_PATTERN = re.compile(r"\.|_|__|-+")


def head_bytes(body: Body, size: int = 4) -> bytes:
    """The first bytes of a blob: enough to tell gzip and zstd from raw tar."""
    return b"".join(bytes(chunk) for chunk in body.chunks(0, min(size, body.size)))


def small_bytes(body: Body, where: str) -> bytes:
    """A JSON document's bytes, refusing huge ones before they are read into memory."""
    if body.size > MAX_JSON_SIZE:
        raise FixtureError(f"{where}: {body.size} bytes is too large for JSON metadata (limit {MAX_JSON_SIZE})")
    return body.read_all()


def read_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise FixtureError(f"{where}: not valid JSON ({exc})") from None


def read_object(data: bytes, where: str) -> dict[str, Any]:
    document = read_json(data, where)
    if not isinstance(document, dict):
        raise FixtureError(f"{where}: not a JSON object")
    return document


def member_bytes(members: Members, name: str) -> tuple[FileSegment, bytes]:
    """A small member (JSON metadata) in memory."""
    segment = members.segment(name)
    return segment, small_bytes(Body((segment,)), members.where(name))


def sanitize_repository(text: str) -> str:
    """A valid repository path: lowercase components of [a-z0-9] joined by `.`, `_`, `__` or dashes."""
    components = []
    for part in text.lower().split("/"):
        part = re.sub(r"[^a-z0-9._-]+", "-", part)
        part = re.sub(r"[._-]+", lambda m: m[0] if SEPARATOR_PATTERN.fullmatch(m[0]) else "-", part)
        if part := part.strip("._-"):
            components.append(part)
    return "/".join(components)


def _split_reference(reference: str) -> tuple[str | None, str | None]:
    """(repository without registry host, tag) of `host/repo:tag@digest`; a bare word is a tag."""
    reference = reference.split("@", 1)[0]
    if "/" not in reference and ":" not in reference:
        return None, reference
    repository, tag = reference, None
    if reference.rfind(":") > reference.rfind("/"):
        repository, _, tag = reference.rpartition(":")
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        repository = rest.removeprefix("library/") if first in ("docker.io", "index.docker.io") else rest
    return repository, tag


def name_and_tag(reference: str | None, path: str) -> tuple[str, str]:
    """The image's repository and tag from its reference, else from the file name and `latest`."""
    repository, tag = _split_reference(reference) if reference else (None, None)
    name = sanitize_repository(repository or "")
    if not name:
        stem = os.path.basename(os.path.normpath(path))
        name = sanitize_repository(stem[:-4] if stem.lower().endswith(".tar") else stem) or "image"
    return name, tag if tag and TAG_PATTERN.fullmatch(tag) else "latest"
