"""Descriptors, blobs, images and manifest documents: what a registry stores, with the bytes it is made of."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .bodies import Body, memory_body
from .digests import ImageError, check_digest_syntax, sha256_digest
from .media_types import DOCKER_LAYER_GZIP, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, INDEX_TYPES
from .platforms import Platform


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

