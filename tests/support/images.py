"""Loading a fixture the way its form asks, and checking the loaded `Image` against the bytes it would send (what
every fixture-loading test asserts)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from registry_tasks.image import GZIP_LAYER_TYPES, Blob, Image, Platform
from registry_tasks.sources import load_docker_save, load_oci_layout


def load_fixture(path: Path, platform: Platform) -> Image:
    """An OCI layout directory or a `docker save` tar, for `platform`."""
    return load_oci_layout(str(path), platform) if path.is_dir() else load_docker_save(str(path), platform)


def blob_bytes(blob: Blob) -> bytes:
    return b"".join(bytes(chunk) for chunk in blob.body.chunks())


def assert_truthful(image: Image) -> None:
    """Every descriptor matches the bytes we would send, and no raw tar is typed gzip (or vice versa)."""
    for sibling in image.siblings:
        assert_truthful(sibling)
    for blob in (image.manifest, image.config, *image.layers, *([image.index] if image.index else [])):
        data = blob_bytes(blob)
        assert "sha256:" + hashlib.sha256(data).hexdigest() == blob.digest
        assert len(data) == blob.size
    for layer in image.layers:
        assert (layer.descriptor.media_type in GZIP_LAYER_TYPES) == blob_bytes(layer).startswith(b"\x1f\x8b")
    manifest = json.loads(blob_bytes(image.manifest))
    assert manifest["config"]["digest"] == image.config.digest
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in image.layers]
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        layer.descriptor.media_type for layer in image.layers
    ]
