"""Digests and the one error of the image layer: an image or manifest that cannot be used."""

from __future__ import annotations

import hashlib
from typing import Any

from ..errors import RegistryTasksError


class ImageError(RegistryTasksError, ValueError):
    """A fixture or manifest that cannot be used; the message names the file or field."""


def sha256_digest(data: bytes | bytearray | memoryview) -> str:
    """The OCI digest string of some bytes."""
    return hasher_digest(hashlib.sha256(data))


def hasher_digest(hasher: Any) -> str:
    """The OCI digest string of a sha256 hasher fed piecewise (streamed blobs, unique-layer tails)."""
    return "sha256:" + hasher.hexdigest()


def check_digest_syntax(digest: str, where: str) -> str:
    """Refuse anything but `sha256:<64 hex>`, so that a digest can never smuggle a path."""
    algorithm, _, encoded = digest.partition(":")
    if algorithm != "sha256" or len(encoded) != 64 or any(c not in "0123456789abcdef" for c in encoded):
        raise ImageError(f"{where}: {digest!r} is not a sha256 digest")
    return digest
