"""A fixtures directory: every docker save tarball and OCI layout directly inside it, or the built-in image."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from ..image import Image, Platform
from .docker_save import load_docker_save
from .members import FixtureError, refusing
from .oci_layout import load_oci_layout
from .synthetic import BUILTIN_SPEC, synthetic_image


def _dedupe_names(images: Sequence[Image]) -> list[Image]:
    """Give images whose names collide a numeric suffix, so that each pushes to its own repository."""
    seen: set[str] = set()
    out = []
    for image in images:
        name, number = image.name, 2
        while name in seen:
            name, number = f"{image.name}-{number}", number + 1
        seen.add(name)
        siblings = tuple(replace(sibling, name=name) for sibling in image.siblings)
        out.append(image if name == image.name else replace(image, name=name, siblings=siblings))
    return out



def _load_entry(path: str, platform: Platform) -> Image | None:
    """The image in one directory entry, or None for files that are not fixtures (README.md, ...)."""
    name = os.path.basename(path).lower()
    if name.startswith("."):
        return None
    if os.path.isdir(path):
        return load_oci_layout(path, platform) if os.path.lexists(os.path.join(path, "oci-layout")) else None
    if name.endswith((".tar.gz", ".tgz")):
        raise FixtureError(f"{path}: compressed tarball; decompress it first (gunzip): tars are read in place")
    return load_docker_save(path, platform) if name.endswith(".tar") else None


def load_fixtures(directory: str | None, platform: Platform, seed: int = 0) -> list[Image]:
    """Every fixture directly inside `directory`, sorted by name; the built-in synthetic image if none."""
    images: list[Image] = []
    if directory is not None:
        if not os.path.isdir(directory):
            raise FixtureError(f"{directory}: fixtures directory does not exist")
        with refusing(directory):
            names = sorted(os.listdir(directory))
        entries = (_load_entry(os.path.join(directory, name), platform) for name in names)
        images = [image for image in entries if image is not None]
    return _dedupe_names(images) or [synthetic_image(BUILTIN_SPEC, seed, name="builtin")]
