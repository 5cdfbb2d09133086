"""The image model: descriptors, blob bodies, manifests and digests; it knows no HTTP and no Locust.

A blob's bytes are a `Body`: a list of segments (bytes in memory, a byte range of a file such as a
member inside a `docker save` tar, or deterministic synthetic bytes), read as memoryviews of reused
buffers so that a 100 MB layer never sits in memory and is never copied just to be sent or hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tarfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any, Protocol, cast

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

IMAGE_MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
#: Every manifest type we can read, in the order containerd sends them (Accept header).
ACCEPTED_MANIFEST_TYPES = (*IMAGE_MANIFEST_TYPES, *INDEX_TYPES, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1)
TAR_LAYER_TYPES = (DOCKER_LAYER_TAR, OCI_LAYER_TAR)
GZIP_LAYER_TYPES = (DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER_GZIP, OCI_LAYER_GZIP)

READ_BUFFER_SIZE = 1 << 20
TAR_BLOCK = 512


class ImageError(ValueError):
    """A fixture or manifest that cannot be used; the message names the file or field."""


def sha256_digest(data: bytes | bytearray | memoryview) -> str:
    """The OCI digest string of some bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest_syntax(digest: str, where: str) -> str:
    """Refuse anything but `sha256:<64 hex>`, so that a digest can never smuggle a path."""
    algorithm, _, encoded = digest.partition(":")
    if algorithm != "sha256" or len(encoded) != 64 or any(c not in "0123456789abcdef" for c in encoded):
        raise ImageError(f"{where}: {digest!r} is not a sha256 digest")
    return digest


# --- bytes -------------------------------------------------------------------------------------


class Segment(Protocol):
    """A run of bytes that can be read piecewise without holding it all."""

    @property
    def size(self) -> int: ...

    def read(self, start: int, end: int, buf: bytearray) -> Iterator[memoryview]:
        """Yield the bytes in [start, end) as views, valid only until the next one is taken."""
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


SYNTHETIC_POOL = 4 << 20
SYNTHETIC_BLOCK = 1 << 20
_pools: dict[int, bytes] = {}


def _synthetic_pool(seed: int) -> bytes:
    """4 MiB of seeded random bytes, shared by every synthetic segment of that seed in a process."""
    pool = _pools.get(seed)
    if pool is None:
        pool = _pools[seed] = random.Random(seed).randbytes(SYNTHETIC_POOL + SYNTHETIC_BLOCK)
    return pool


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

    def read(self, start: int, end: int, buf: bytearray) -> Iterator[memoryview]:
        pool = memoryview(_synthetic_pool(self.seed))
        position = start
        while position < end:
            block, within = divmod(position, SYNTHETIC_BLOCK)
            take = min(SYNTHETIC_BLOCK - within, end - position)
            base = self._block_start(block) + within
            yield pool[base : base + take]
            position += take


@dataclass(frozen=True)
class Body:
    """The bytes of one blob as a sequence of segments."""

    segments: tuple[Segment, ...]

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    def chunks(self, start: int = 0, end: int | None = None, buf: bytearray | None = None) -> Iterator[memoryview]:
        """Yield [start, end) as memoryviews; each view is valid only until the next is taken."""
        stop = self.size if end is None else end
        buf = buf if buf is not None else bytearray(READ_BUFFER_SIZE)
        offset = 0
        for segment in self.segments:
            seg_start, seg_end = max(start - offset, 0), min(stop - offset, segment.size)
            if seg_start < seg_end:
                yield from segment.read(seg_start, seg_end, buf)
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
        return "sha256:" + self.hash_into(hashlib.sha256()).hexdigest()


def memory_body(data: bytes) -> Body:
    return Body((MemorySegment(data),))


# --- descriptors, blobs, images ---------------------------------------------------------------


KNOWN_OS = frozenset(("linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix"))
KNOWN_ARCHITECTURES = frozenset(
    ("amd64", "386", "arm64", "arm", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64", "loong64", "wasm")
)
ARCHITECTURE_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "i386": "386", "aarch64": "arm64", "armhf": "arm"}
#: What a platform also runs, best first (containerd's platforms.Only): arm/v7 runs v6 and v5, amd64 runs 386.
COMPATIBLE = {("arm", "v7"): ("v6", "v5"), ("arm", "v6"): ("v5",), ("arm64", "v8"): ()}


@dataclass(frozen=True)
class Platform:
    """An OCI platform; `parse("linux/arm64/v8")`."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """A platform the user asked for: known os and architecture (aliases such as x86_64 accepted)."""
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ImageError(f"platform {text!r}: expected os/architecture[/variant], e.g. linux/amd64")
        platform = cls(*parts).normalized()
        if platform.os not in KNOWN_OS or platform.architecture not in KNOWN_ARCHITECTURES:
            raise ImageError(f"platform {text!r}: unknown os or architecture (e.g. linux/amd64, linux/arm64/v8)")
        return platform

    def normalized(self) -> Platform:
        """containerd's normalization: x86_64 -> amd64, aarch64 -> arm64 (v8 by default), arm -> v7."""
        architecture = ARCHITECTURE_ALIASES.get(self.architecture, self.architecture)
        variant = self.variant or {"arm64": "v8", "arm": "v7"}.get(architecture, "")
        if architecture == "arm64" and variant == "8":
            variant = "v8"
        return Platform(self.os, architecture, variant)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Platform:
        return cls(str(data.get("os", "")), str(data.get("architecture", "")), str(data.get("variant", "")))

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    """What a manifest says of a blob: its type, digest and exact size."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform is not None:
            out["platform"] = {
                k: v
                for k, v in (
                    ("architecture", self.platform.architecture),
                    ("os", self.platform.os),
                    ("variant", self.platform.variant),
                )
                if v
            }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> Descriptor:
        """Read a descriptor, naming `where` in the error if a field is missing or wrong."""
        if not isinstance(data, Mapping):
            raise ImageError(f"{where}: descriptor is not an object")
        media_type, digest, size = data.get("mediaType"), data.get("digest"), data.get("size")
        if not isinstance(media_type, str) or not media_type:
            raise ImageError(f"{where}: mediaType missing")
        if not isinstance(digest, str):
            raise ImageError(f"{where}: digest missing")
        check_digest_syntax(digest, where)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ImageError(f"{where}: size missing or negative")
        platform = data.get("platform")
        annotations = data.get("annotations")
        return cls(
            media_type,
            digest,
            size,
            Platform.from_json(platform) if isinstance(platform, Mapping) else None,
            dict(annotations) if isinstance(annotations, Mapping) else None,
        )


@dataclass(frozen=True)
class Blob:
    """A descriptor together with the bytes it describes."""

    descriptor: Descriptor
    body: Body

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def size(self) -> int:
        return self.descriptor.size


def blob_from_bytes(media_type: str, data: bytes) -> Blob:
    return Blob(Descriptor(media_type, sha256_digest(data), len(data)), memory_body(data))


def blob_from_body(media_type: str, body: Body) -> Blob:
    """Hash a body once to describe it (fixture layers whose digest nobody told us)."""
    return Blob(Descriptor(media_type, body.digest(), body.size), body)


def serialize_manifest(media_type: str, config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """Manifest bytes serialized once: these exact bytes are hashed and PUT."""
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    return json.dumps(document, indent=3).encode()


@dataclass(frozen=True)
class Image:
    """One pushable image: manifest bytes, config and layers, all with their bodies."""

    name: str
    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]
    tag: str = "latest"
    #: For a multi-platform fixture: the index (manifest list) pushed under the tag, and the other
    #: platforms' images, pushed by digest before it. `manifest` is then the platform child pulls pick.
    index: Blob | None = None
    siblings: tuple[Image, ...] = ()

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """Layers then config, as docker pushes them; order is free for the registry."""
        return (*self.layers, self.config)

    @property
    def tagged(self) -> Blob:
        """What the tag points at: the index of a multi-platform image, else the image manifest."""
        return self.index if self.index is not None else self.manifest

    @property
    def platform_images(self) -> tuple[Image, ...]:
        """Every platform's image of a multi-platform fixture (just this one otherwise)."""
        return (*self.siblings, self)

    @property
    def size(self) -> int:
        own = self.manifest.size + sum(blob.size for blob in self.blobs)
        return own + sum(sibling.size for sibling in self.siblings) + (self.index.size if self.index else 0)


def build_image(name: str, manifest_type: str, config: Blob, layers: Sequence[Blob], tag: str = "latest") -> Image:
    data = serialize_manifest(manifest_type, config.descriptor, [layer.descriptor for layer in layers])
    return Image(name, blob_from_bytes(manifest_type, data), config, tuple(layers), tag)


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    """Parse manifest or index JSON, with a clear error for anything that is not a JSON object."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImageError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ImageError(f"{where}: not a JSON object")
    return document


def manifest_references(media_type: str, document: Mapping[str, Any], where: str) -> list[Descriptor]:
    """The blobs an image manifest points at (config first), or the children of an index."""
    if media_type in INDEX_TYPES:
        children = document.get("manifests")
        if not isinstance(children, list):
            raise ImageError(f"{where}: index has no manifests list")
        return [Descriptor.from_json(c, f"{where} manifests[{i}]") for i, c in enumerate(children)]
    if media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED):
        layers = document.get("fsLayers")
        if not isinstance(layers, list):
            raise ImageError(f"{where}: schema1 manifest has no fsLayers")
        out = []
        for i, layer in enumerate(layers):
            digest = layer.get("blobSum") if isinstance(layer, Mapping) else None
            if not isinstance(digest, str):
                raise ImageError(f"{where}: fsLayers[{i}] has no blobSum")
            out.append(Descriptor(DOCKER_LAYER_GZIP, check_digest_syntax(digest, f"{where} fsLayers[{i}]"), -1))
        return list({d.digest: d for d in out}.values())
    config = document.get("config")
    layers = document.get("layers")
    if not isinstance(layers, list):
        raise ImageError(f"{where}: manifest has no layers list")
    refs = [Descriptor.from_json(config, f"{where} config")]
    refs += [Descriptor.from_json(layer, f"{where} layers[{i}]") for i, layer in enumerate(layers)]
    return refs


def is_attestation(descriptor: Descriptor) -> bool:
    platform = descriptor.platform
    annotations = descriptor.annotations or {}
    return annotations.get("vnd.docker.reference.type") == "attestation-manifest" or (
        platform is not None and platform.os == "unknown" and platform.architecture == "unknown"
    )


def platform_rank(got: Platform, wanted: Platform) -> int | None:
    """How well an image for `got` suits `wanted` (0 is exact), or None when it cannot run there."""
    got, wanted = got.normalized(), wanted.normalized()
    if got.os != wanted.os:
        return None
    if got.architecture == wanted.architecture:
        if got.variant == wanted.variant:
            return 0
        fallbacks = COMPATIBLE.get((wanted.architecture, wanted.variant), ())
        return 1 + fallbacks.index(got.variant) if got.variant in fallbacks else None
    if (got.architecture, wanted.architecture) == ("386", "amd64"):
        return 10
    return None


def choose_platform(children: Sequence[Descriptor], wanted: Platform) -> Descriptor | None:
    """The best child for `wanted`, by docker's rules; the first of equals wins (image-index.md), attestations
    never, and a child without a platform only when nothing names one that fits."""
    best: tuple[int, Descriptor] | None = None
    for child in children:
        if is_attestation(child):
            continue
        rank = 100 if child.platform is None else platform_rank(child.platform, wanted)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, child)
    return best[1] if best else None


# --- unique layers -----------------------------------------------------------------------------


def tar_entry(name: str, data: bytes) -> bytes:
    """One deterministic ustar entry (header + padded data) for `name`."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    padding = -len(data) % TAR_BLOCK
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + b"\0" * padding


TAR_END = b"\0" * (2 * TAR_BLOCK)


def empty_gzip_member(comment: str) -> bytes:
    """A gzip member that decompresses to nothing but carries `comment`: a unique tail for gzip."""
    header = bytes([0x1F, 0x8B, 8, 0x10, 0, 0, 0, 0, 0, 255]) + comment.encode() + b"\0"
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    return header + deflate.compress(b"") + deflate.flush() + (0).to_bytes(4, "little") * 2


@dataclass
class UniqueLayerTemplate:
    """A layer made unique per push by a small tail after a shared body whose hash is kept.

    For tar layers the shared body is the archive without its end blocks, the tail one extra file
    plus the end blocks; for gzip layers the tail is an empty gzip member carrying the token, so the
    uncompressed content (and the config's diff_id) stays the same. The sha256 state after the shared
    body is computed once and `.copy()`-ed, so a unique push never hashes the shared bytes again.
    """

    media_type: str
    shared: Body
    _state: Any = None

    def _shared_state(self) -> Any:
        if self._state is None:
            self._state = self.shared.hash_into(hashlib.sha256())
        return self._state

    def tail(self, token: str) -> bytes:
        if self.media_type in GZIP_LAYER_TYPES:
            return empty_gzip_member(f"registry-tasks {token}")
        return tar_entry(f".registry-tasks/{token}", token.encode()) + TAR_END

    def make(self, token: str) -> Blob:
        tail = self.tail(token)
        hasher = self._shared_state().copy()
        hasher.update(tail)
        body = Body((*self.shared.segments, MemorySegment(tail)))
        return Blob(Descriptor(self.media_type, "sha256:" + hasher.hexdigest(), body.size), body)


def tar_content_end(body: Body, where: str) -> int:
    """Where the last member's data ends in a tar body: everything after it is end-of-archive padding."""
    end = 0
    try:
        with tarfile.open(fileobj=cast(IO[bytes], BodyReader(body)), mode="r:") as archive:
            for member in archive:
                end = member.offset_data + (member.size + TAR_BLOCK - 1) // TAR_BLOCK * TAR_BLOCK
    except tarfile.TarError as exc:
        raise ImageError(f"{where}: layer is not a readable tar ({exc})") from None
    return end


def unique_template(layer: Blob, where: str) -> UniqueLayerTemplate:
    """The template that makes `layer` unique per push."""
    media_type = layer.descriptor.media_type
    if media_type in GZIP_LAYER_TYPES:
        return UniqueLayerTemplate(media_type, layer.body)
    if media_type in TAR_LAYER_TYPES:
        end = tar_content_end(layer.body, where)
        segments: list[Segment] = []
        offset = 0
        for segment in layer.body.segments:
            if offset >= end:
                break
            segments.append(_cut(segment, min(segment.size, end - offset)))
            offset += segment.size
        return UniqueLayerTemplate(media_type, Body(tuple(segments)))
    raise ImageError(f"{where}: --unique-layers cannot rewrite a layer of type {media_type}")


def _cut(segment: Segment, size: int) -> Segment:
    """The first `size` bytes of a segment."""
    if size == segment.size:
        return segment
    if isinstance(segment, MemorySegment):
        return MemorySegment(segment.data[:size])
    if isinstance(segment, (FileSegment, SyntheticSegment)):
        return replace(segment, size=size)
    raise ImageError(f"cannot cut a segment of type {type(segment).__name__}")


@dataclass
class UniqueImageTemplate:
    """Makes a new, never-seen image from a fixture per push: unique layers, config and manifest."""

    image: Image
    layers: list[UniqueLayerTemplate]
    config: dict[str, Any]

    @classmethod
    def of(cls, image: Image) -> UniqueImageTemplate:
        config = parse_manifest(image.config.body.read_all(), f"{image.name} config")
        layers = [unique_template(layer, f"{image.name} layer {i}") for i, layer in enumerate(image.layers)]
        return cls(image, layers, config)

    def make(self, token: str) -> Image:
        layers = [template.make(f"{token}-{i}") for i, template in enumerate(self.layers)]
        config = dict(self.config)
        rootfs = config.get("rootfs")
        if isinstance(rootfs, dict) and isinstance(rootfs.get("diff_ids"), list):
            diff_ids = list(rootfs["diff_ids"])
            for i, layer in enumerate(layers):
                if layer.descriptor.media_type in TAR_LAYER_TYPES and i < len(diff_ids):
                    diff_ids[i] = layer.digest
            config["rootfs"] = {**rootfs, "diff_ids": diff_ids}
        config_blob = blob_from_bytes(self.image.config.descriptor.media_type, json.dumps(config).encode())
        return build_image(self.image.name, self.image.manifest.descriptor.media_type, config_blob, layers, token)


# --- file-like view of a body (tarfile parsing, upload bodies) -----------------------------------


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
        self._buf = bytearray(READ_BUFFER_SIZE)
        self._chunks: Iterator[memoryview] | None = None
        self._pending: memoryview | None = None

    def __len__(self) -> int:
        return self.end - self.start

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
                self._chunks = self.body.chunks(self.position, self.end, self._buf)
            self._pending = next(self._chunks, memoryview(b""))
        # For sending, hand over the whole buffered view: socket.sendfile's fallback asks for 8 KiB at a time
        # but sends whatever read() returns, so one call moves up to a buffer (1 MiB) instead of 8 KiB.
        piece = self._pending if self.views else self._pending[:size]
        self._pending = self._pending[len(piece) :]
        self.position += len(piece)
        return piece if self.views else bytes(piece)
