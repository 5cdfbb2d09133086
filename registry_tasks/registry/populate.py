"""`--populate REPOSxTAGS`: a registry that holds many repositories and tags before the load, as production
registries do (Harbor's perf scripts fill 200 projects x 200 repos x 20 artifacts first).

Small images sharing their layers: the first repository gets the blobs uploaded, every other one mounts them
(a cross-repository mount moves no bytes). Each tag gets a manifest of its own (a config naming its tag), so
tags are distinct digests. Idempotent: a tag that already holds its manifest is left as it is (one HEAD).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from ..image import Image, blob_from_bytes, build_image
from .client import RegistryClient
from .profiles import MONOLITHIC
from .workflows import PullTarget, run_parallel

Progress = Callable[[int, int], None]
"""Told (tags done, bytes moved) as tags are made."""


def repository_names(prefix: str, repositories: int) -> list[str]:
    return [f"{prefix}/pop-{index}" for index in range(repositories)]


def tag_images(base: Image, tags: int, label: str = "") -> list[Image]:
    """`tags` images sharing `base`'s layers, each with a config of its own (so a manifest of its own); `label`
    makes them differ from another call's."""
    config = json.loads(base.config.body.read_all())
    images = []
    for number in range(tags):
        labels = {"populate.tag": f"{label}{number}"}
        labelled = {**config, "config": {**config.get("config", {}), "Labels": labels}}
        blob = blob_from_bytes(base.config.descriptor.media_type, json.dumps(labelled, sort_keys=True).encode())
        image = build_image(base.name, base.manifest.descriptor.media_type, blob, base.layers, f"t{number}")
        images.append(replace(image, index=None, siblings=()))
    return images


def targets(prefix: str, repositories: int, images: list[Image]) -> list[PullTarget]:
    """What pulls draw from, repository by repository (the first is the hottest under a Zipf popularity)."""
    return [
        PullTarget(repository, image.tag, tuple(blob.descriptor for blob in image.blobs))
        for repository in repository_names(prefix, repositories)
        for image in images
    ]


def populate(
    client: RegistryClient, prefix: str, repositories: int, images: list[Image], parallel: int, told: Progress
) -> int:
    """Make every repository hold every tag; returns the tags written (0 when all were there)."""
    names = repository_names(prefix, repositories)
    first = names[0]
    written = 0

    def fill(repository: str) -> int:
        nonlocal written
        for image in images:
            if client.head_manifest(repository, image.tag) == image.manifest.digest:
                told(1, 0)
                continue
            moved = 0
            for blob in image.blobs:
                mounted = repository != first and client.mount_blob(repository, blob.digest, first)
                if not mounted and not client.blob_exists(repository, blob.digest):
                    client.upload_blob(repository, blob, MONOLITHIC, blob.size or 1)
                    moved += blob.size
            client.put_manifest(repository, image.tag, image.manifest)
            written += 1
            told(1, moved)
        return 0

    fill(first)  # the blobs land here first; every other repository mounts them
    run_parallel(fill, names[1:], parallel)
    return written
