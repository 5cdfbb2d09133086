"""What a trace replay needs before its clock starts, and how its names map onto the registry under test.

A first pass over the trace (streamed) checks every record, counts it by kind, and notes every repository, tag
and blob the replay will read, with the size recorded: the warm-up creates exactly those (synthetic bytes of
the recorded size; a manifest per tag listing the blobs read in its repository), so that a replay against an
empty registry reads what the trace read. Recorded names (hashed in the IBM traces, real in a registry's
log) map deterministically to `<prefix>/replay/<hash>`; a recorded 404 maps to a name nobody creates, so it
stays a probe of something missing. No HTTP and no Locust here.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .traces import TraceRecord

REPLAYED_KINDS = ("manifest-get", "manifest-head", "manifest-put", "blob-get", "blob-head", "upload", "ping")
"""Kinds the replay sends (an upload is the trace's upload-start; its chunks and finish are part of it)."""
UPLOAD_PARTS = ("upload-chunk", "upload-finish", "upload-status")
DEFAULT_BLOB_BYTES = 1024
"""Size of a blob the trace only HEADs or uploads without ever reading it."""
MAX_MANIFEST_LAYERS = 64
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def short_hash(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def mapped_repository(prefix: str, repository: str) -> str:
    return f"{prefix}/replay/{short_hash(repository)}"


def mapped_tag(reference: str) -> str:
    """A tag as it was when it is a valid tag, else a hash of it (a digest reference maps to a tag too)."""
    return reference if _TAG.match(reference) else f"r-{short_hash(reference)}"


def missing(reference: str) -> str:
    """The name a recorded 404 maps to: derived from the original, never created."""
    return f"missing-{short_hash(reference)}"


def kind_of(record: TraceRecord) -> str:
    """The replay's kind of a record: upload-start stands for the whole upload."""
    return "upload" if record.kind == "upload-start" else record.kind


def skip_reason(record: TraceRecord) -> str | None:
    """Why a record is not replayed, or None."""
    kind = kind_of(record)
    if kind in UPLOAD_PARTS:
        return "upload part (replayed as part of its upload)"
    if kind not in REPLAYED_KINDS:
        return f"{record.kind} is not replayed"
    if kind != "ping" and not record.repository:
        return "no repository"
    return None


@dataclass
class ReplayPlan:
    """Everything a replay's warm-up creates, and what the trace holds by kind."""

    prefix: str
    blobs: dict[str, int] = field(default_factory=dict)
    """Recorded blob reference -> bytes to create (the largest recorded answer to a successful read)."""
    manifests: dict[tuple[str, str], None] = field(default_factory=dict)
    """(recorded repository, recorded tag) read or written with success."""
    links: dict[tuple[str, str], None] = field(default_factory=dict)
    """(recorded repository, recorded blob reference) read with success: each must exist in that repository."""
    pushed: dict[str, None] = field(default_factory=dict)
    """Recorded repositories whose manifests the trace PUTs: their blobs and config must be there first."""
    layers: dict[str, list[str]] = field(default_factory=dict)
    """Recorded repository -> the first blobs read in it: the layers of its manifests."""
    read: int = 0
    planned: int = 0
    recorded: Counter[str] = field(default_factory=Counter)
    recorded_bytes: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    first_start: float | None = None
    last_start: float | None = None

    def add(self, record: TraceRecord) -> bool:
        """Count a record and note what it reads; False when it is skipped."""
        self.read += 1
        kind = kind_of(record)
        if (reason := skip_reason(record)) is not None:
            self.skipped[reason] += 1
            return False
        self.planned += 1
        self.recorded[kind] += 1
        self.recorded_bytes[kind] += record.written
        self.first_start = record.start if self.first_start is None else min(self.first_start, record.start)
        self.last_start = record.start if self.last_start is None else max(self.last_start, record.start)
        found = record.status < 400
        if kind in ("blob-get", "blob-head") and found:
            size = record.written if kind == "blob-get" else 0
            self.blobs[record.reference] = max(self.blobs.get(record.reference, 0), size)
            self.links[(record.repository, record.reference)] = None
            listed = self.layers.setdefault(record.repository, [])
            if record.reference not in listed and len(listed) < MAX_MANIFEST_LAYERS:
                listed.append(record.reference)
        elif kind in ("manifest-get", "manifest-head") and found:
            self.manifests[(record.repository, record.reference)] = None
        elif kind == "manifest-put":
            self.pushed[record.repository] = None
        return True

    def manifest_layers(self, repository: str) -> list[str]:
        """The blobs a repository's manifests list: those read in it, or one of its own when none was."""
        return self.layers.get(repository) or [f"layer-of-{short_hash(repository)}"]

    def blob_size(self, reference: str) -> int:
        return self.blobs.get(reference) or DEFAULT_BLOB_BYTES

    @property
    def span_s(self) -> float:
        if self.first_start is None or self.last_start is None:
            return 0.0
        return self.last_start - self.first_start


def plan(records: Iterable[TraceRecord], prefix: str) -> ReplayPlan:
    """One pass over a trace's records (raising the reader's TraceError at the first bad one)."""
    replay = ReplayPlan(prefix)
    for record in records:
        replay.add(record)
    return replay


def in_window(records: Iterable[TraceRecord], first: float, start: float, end: float | None) -> Iterator[TraceRecord]:
    """The records whose offset from `first` lies in [start, end)."""
    for record in records:
        offset = record.start - first
        if offset >= start and (end is None or offset < end):
            yield record
