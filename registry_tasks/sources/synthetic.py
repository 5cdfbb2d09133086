"""Synthetic images from specs such as `3x10MiB`: valid tar layers of incompressible seeded bytes, identical in
every process for the same spec and seed, never held in memory."""

from __future__ import annotations

import json
import re
import tarfile

from ..image import (
    OCI_CONFIG,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    TAR_BLOCK,
    TAR_END,
    Blob,
    Body,
    Image,
    MemorySegment,
    SyntheticSegment,
    blob_from_body,
    blob_from_bytes,
    build_image,
    parse_size,
)
from .documents import sanitize_repository
from .members import FixtureError

BUILTIN_SPEC = "2x1MiB,1x256KiB"
SPEC_PART = re.compile(r"(?:(\d+)\s*[xX]\s*)?(\d+\s*[A-Za-z]*)")


def _parse_spec(spec: str) -> list[tuple[int, int, str]]:
    """(count, size, normalized text) per comma-separated `[N x]SIZE` part of a synthetic spec."""
    parts = []
    for text in spec.split(","):
        match = SPEC_PART.fullmatch(text.strip())
        if match is None:
            raise FixtureError(f"synthetic spec {spec!r}: part {text.strip()!r} is not [N x]SIZE, e.g. 3x10MiB")
        count_text, size_text = match.groups()
        try:
            size, label = parse_size(size_text, unit_required=True)
        except ValueError as exc:
            raise FixtureError(f"synthetic spec {spec!r}: part {text.strip()!r}: {exc}") from None
        count = int(count_text) if count_text else 1
        if count < 1 or size < 1:
            raise FixtureError(f"synthetic spec {spec!r}: part {text.strip()!r} needs a count and size of at least 1")
        parts.append((count, size, f"{count}x{label}"))
    return parts


def _synthetic_layer(seed: int, index: int, size: int, spec: str) -> Blob:
    """A valid uncompressed tar holding one file of synthetic bytes, its header and padding in memory."""
    info = tarfile.TarInfo(f"layer-{index}/data")
    info.size, info.mtime, info.mode = size, 0, 0o644
    try:
        header = info.tobuf(format=tarfile.USTAR_FORMAT)
    except ValueError as exc:
        raise FixtureError(
            f"synthetic spec {spec!r}: layer {index} of {size} bytes cannot be a ustar entry ({exc})"
        ) from None
    tail = b"\0" * (-size % TAR_BLOCK) + TAR_END
    body = Body((MemorySegment(header), SyntheticSegment(seed, index, size), MemorySegment(tail)))
    return blob_from_body(OCI_LAYER_TAR, body)


def synthetic_image(spec: str, seed: int = 0, name: str = "synthetic") -> Image:
    """An OCI image of incompressible layers, byte-identical in every process for the same (spec, seed)."""
    parts = _parse_spec(spec)
    sizes = [size for count, size, _ in parts for _ in range(count)]
    layers = [_synthetic_layer(seed, index, size, spec) for index, size in enumerate(sizes)]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "config": {},
    }
    config_blob = blob_from_bytes(OCI_CONFIG, json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    normalized = ",".join(text for _, _, text in parts)
    repository = sanitize_repository(f"{name}-{normalized.lower()}") or "synthetic"
    return build_image(repository, OCI_MANIFEST, config_blob, layers, "latest")
