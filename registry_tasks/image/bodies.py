"""A blob's bytes as a `Body`: segments (bytes in memory, a byte range of a file such as a member inside a
`docker save` tar, or deterministic synthetic bytes), read as memoryviews of reused buffers, so that a 100 MB
layer never sits in memory and is never copied just to be sent or hashed. For sending, file-backed bytes (tar
members, and synthetic bytes whose pool lives in a memfd) come as `FileSpan`s the transport hands to
`os.sendfile`: the kernel moves them, and no Python-level copy is made at all.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from .digests import ImageError, hasher_digest

READ_BUFFER_SIZE = 1 << 20


class FileSpan(NamedTuple):
    """Bytes [offset, offset + length) of an open file descriptor, valid until the next piece is taken."""

    fd: int
    offset: int
    length: int


Piece = memoryview | FileSpan


class Segment(Protocol):
    """A run of bytes that can be read piecewise without holding it all."""

    @property
    def size(self) -> int: ...

    def read(self, start: int, end: int, buf: bytearray) -> Iterator[memoryview]:
        """Yield the bytes in [start, end) as views, valid only until the next one is taken."""
        ...

    def spans(self, start: int, end: int) -> Iterator[Piece]:
        """The same bytes for a sender: file spans where the bytes live in a file, views otherwise."""
        ...


@dataclass(frozen=True)
class MemorySegment:
    """Bytes already in memory: configs, manifests, tar headers, unique tails."""

    data: bytes
    size: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.data))

    def read(self, start: int, end: int, buf: bytearray) -> Iterator[memoryview]:
        if end > start:
            yield memoryview(self.data)[start:end]

    def spans(self, start: int, end: int) -> Iterator[Piece]:
        return self.read(start, end, bytearray())  # in memory already: no buffer is used


@dataclass(frozen=True)
class FileSegment:
    """A byte range of a file on disk, such as a member of a tar read in place."""

    path: str
    offset: int
    size: int

    def read(self, start: int, end: int, buf: bytearray) -> Iterator[memoryview]:
        if end <= start:
            return
        view = memoryview(buf)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            position = self.offset + start
            remaining = end - start
            while remaining > 0:
                want = min(remaining, len(view))
                got = os.preadv(fd, [view[:want]], position)
                if got <= 0:
                    raise ImageError(f"{self.path}: file ends before byte {position} (truncated?)")
                yield view[:got]
                position += got
                remaining -= got
        finally:
            os.close(fd)

    def spans(self, start: int, end: int) -> Iterator[Piece]:
        if end <= start:
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            yield FileSpan(fd, self.offset + start, end - start)
        finally:
            os.close(fd)


SYNTHETIC_POOL = 4 << 20
SYNTHETIC_BLOCK = 1 << 20
_pools: dict[int, bytes] = {}
_pool_files: dict[int, int] = {}


def _synthetic_pool(seed: int) -> bytes:
    """4 MiB of seeded random bytes, shared by every synthetic segment of that seed in a process."""
    pool = _pools.get(seed)
    if pool is None:
        pool = _pools[seed] = random.Random(seed).randbytes(SYNTHETIC_POOL + SYNTHETIC_BLOCK)
    return pool


def _synthetic_pool_file(seed: int) -> int:
    """The pool in a memfd (an anonymous file: a temporary file where there is none), written once per process
    (forked workers share it), so that synthetic bytes are sent with os.sendfile like a fixture's."""
    fd = _pool_files.get(seed)
    if fd is None:
        pool = _synthetic_pool(seed)
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create(f"registry-tasks-synthetic-{seed}", os.MFD_CLOEXEC)
        else:  # pragma: no cover - not Linux
            with tempfile.TemporaryFile() as file:
                fd = os.dup(file.fileno())  # the name is gone already; the copy keeps the file open
        view, written = memoryview(pool), 0
        while written < len(pool):
            written += os.pwrite(fd, view[written:], written)
        fd = _pool_files.setdefault(seed, fd)
    return fd


@dataclass(frozen=True)
class SyntheticSegment:
    """Incompressible bytes, identical in every process for the same seed, served from a small pool.

    Block k (1 MiB) is a window of the pool at an offset drawn from (seed, stream, k): gzip's 32 KiB
    window finds no repeats, different streams differ, and reading costs no generation at all.
    """

    seed: int
    stream: int
    size: int

    def _block_start(self, block: int) -> int:
        mixed = (self.stream * 0x9E3779B1 + block * 0x85EBCA77 + self.seed * 0xC2B2AE3D) & 0xFFFFFFFF
        return (mixed * 4099) % SYNTHETIC_POOL

    def _windows(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """(offset in the pool, length) of each piece of [start, end), block by block."""
        position = start
        while position < end:
            block, within = divmod(position, SYNTHETIC_BLOCK)
            take = min(SYNTHETIC_BLOCK - within, end - position)
            yield self._block_start(block) + within, take
            position += take

    def read(self, start: int, end: int, buf: bytearray) -> Iterator[memoryview]:
        pool = memoryview(_synthetic_pool(self.seed))
        for base, take in self._windows(start, end):
            yield pool[base : base + take]

    def spans(self, start: int, end: int) -> Iterator[Piece]:
        fd = _synthetic_pool_file(self.seed)
        for base, take in self._windows(start, end):
            yield FileSpan(fd, base, take)


@dataclass(frozen=True)
class Body:
    """The bytes of one blob as a sequence of segments."""

    segments: tuple[Segment, ...]

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    def chunks(self, start: int = 0, end: int | None = None, buf: bytearray | None = None) -> Iterator[memoryview]:
        """Yield [start, end) as memoryviews; each view is valid only until the next is taken."""
        buf = buf if buf is not None else bytearray(READ_BUFFER_SIZE)
        for segment, seg_start, seg_end in self._within(start, end):
            yield from segment.read(seg_start, seg_end, buf)

    def spans(self, start: int = 0, end: int | None = None) -> Iterator[Piece]:
        """Yield [start, end) for sending: file spans where the bytes are in a file, views otherwise (no buffer:
        nothing is read)."""
        for segment, seg_start, seg_end in self._within(start, end):
            yield from segment.spans(seg_start, seg_end)

    def _within(self, start: int, end: int | None) -> Iterator[tuple[Segment, int, int]]:
        """The segments overlapping [start, end), each with the overlap in its own offsets."""
        stop = self.size if end is None else end
        offset = 0
        for segment in self.segments:
            seg_start, seg_end = max(start - offset, 0), min(stop - offset, segment.size)
            if seg_start < seg_end:
                yield segment, seg_start, seg_end
            offset += segment.size
            if offset >= stop:
                break

    def read_all(self) -> bytes:
        """The whole body; only for small blobs (configs, manifests)."""
        return b"".join(bytes(chunk) for chunk in self.chunks())

    def hash_into(self, hasher: Any) -> Any:
        for chunk in self.chunks():
            hasher.update(chunk)
        return hasher

    def digest(self) -> str:
        return hasher_digest(self.hash_into(hashlib.sha256()))


def memory_body(data: bytes) -> Body:
    return Body((MemorySegment(data),))


class BodyReader:
    """A read-only, seekable file object over a Body.

    With `views=True`, `read` returns views of a reused buffer, possibly longer than asked (for sending: no
    copy, few calls); otherwise bytes of at most the size asked.
    """

    def __init__(self, body: Body, start: int = 0, end: int | None = None, views: bool = False) -> None:
        self.body = body
        self.views = views
        self.start = start
        self.end = body.size if end is None else end
        self.position = start
        self.mode = "rb"
        self._buf: bytearray | None = None  # allocated at the first read: a sender taking spans needs none
        self._chunks: Iterator[memoryview] | None = None
        self._pending: memoryview | None = None

    def __len__(self) -> int:
        return self.end - self.start

    def spans(self) -> Iterator[Piece]:
        """The rest of the range for a sender that hands file spans to os.sendfile (no copy through Python);
        `seek(0)` and `spans()` again send it once more."""
        start, end = self.position, self.end
        self.position, self._chunks, self._pending = end, None, None
        return self.body.spans(start, end)

    def tell(self) -> int:
        return self.position - self.start

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: self.start, 1: self.position, 2: self.end}[whence]
        self.position = min(max(base + offset, self.start), self.end)
        self._chunks = None
        self._pending = None
        return self.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes | memoryview:
        if size is None or size < 0:
            data = b"".join(bytes(c) for c in self.body.chunks(self.position, self.end))
            self.position = self.end
            return data
        if self.position >= self.end or size == 0:
            return b""
        if self._pending is None or not len(self._pending):
            if self._chunks is None:
                self._buf = self._buf or bytearray(READ_BUFFER_SIZE)
                self._chunks = self.body.chunks(self.position, self.end, self._buf)
            self._pending = next(self._chunks, memoryview(b""))
        # For sending, hand over the whole buffered view: socket.sendfile's fallback asks for 8 KiB at a time
        # but sends whatever read() returns, so one call moves up to a buffer (1 MiB) instead of 8 KiB.
        piece = self._pending if self.views else self._pending[:size]
        self._pending = self._pending[len(piece) :]
        self.position += len(piece)
        return piece if self.views else bytes(piece)
