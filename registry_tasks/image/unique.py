"""Unique layers per push without rehashing: a shared body whose sha256 state is kept, plus a small unique tail."""

from __future__ import annotations

import hashlib
import json
import tarfile
import zlib
from dataclasses import dataclass, replace
from typing import IO, Any, cast

from .bodies import Body, BodyReader, FileSegment, MemorySegment, Segment, SyntheticSegment
from .digests import ImageError, hasher_digest
from .media_types import GZIP_LAYER_TYPES, TAR_LAYER_TYPES
from .model import Blob, Descriptor, Image, blob_from_bytes, build_image, parse_manifest

TAR_BLOCK = 512


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
        return Blob(Descriptor(self.media_type, hasher_digest(hasher), body.size), body)


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

