"""Whole-image request sequences shaped like docker's, built only from RegistryClient calls.

`pull_image`: manifest (index -> platform child), config, then layers, up to N at once (docker: 3).
`push_image`: HEAD each blob, upload the missing ones up to N at once (docker: 5), then the manifest.
Each is also reported as one `image-pull` / `image-push` entry timing the whole image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import gevent
from gevent.pool import Pool

from ..image import INDEX_TYPES, Blob, Descriptor, Image, ImageError, Platform, manifest_references, parse_manifest
from ..image import platform_child as image_platform_child
from . import names
from .client import RegistryClient
from .errors import RegistryError, RequestFailed

T = TypeVar("T")


def run_parallel(work: Callable[[T], int], items: Iterable[T], limit: int) -> int:
    """Run `work` over items, at most `limit` at once; wait for all, then raise the first failure.

    A RequestFailed is handed back as a value: a greenlet dying of it would print a traceback per failure.
    """

    def attempt(item: T) -> int | RequestFailed:
        try:
            return work(item)
        except RequestFailed as exc:
            return exc

    pool = Pool(max(1, limit))
    jobs = [pool.spawn(attempt, item) for item in items]
    gevent.joinall(jobs)
    for job in jobs:
        failure = job.exception or job.value
        if isinstance(failure, BaseException):
            raise failure
    return sum(job.value for job in jobs)


@dataclass(frozen=True)
class PullTarget:
    """An image to pull: where it is, and the blobs of its platform manifest (for blob-get)."""

    repository: str
    reference: str
    blobs: tuple[Descriptor, ...]


def manifest_document(client: RegistryClient, repository: str, reference: str) -> tuple[str, dict[str, Any], int]:
    """GET one manifest or index: its media type, its parsed document and its size."""
    media_type, data, _ = client.get_manifest(repository, reference)
    return media_type, parse_manifest(data, f"manifest {repository}:{reference}"), len(data)


def index_children(media_type: str, document: dict[str, Any], where: str) -> list[Descriptor] | None:
    """The entries of an index (or manifest list); None for an image manifest."""
    return manifest_references(media_type, document, where) if media_type in INDEX_TYPES else None


def platform_manifest(
    client: RegistryClient, repository: str, reference: str, platform: Platform
) -> tuple[dict[str, Any], list[Descriptor], int]:
    """GET the manifest (and, for an index, the platform's child): its document, blobs and bytes read."""
    where = f"manifest {repository}:{reference}"
    media_type, document, total = manifest_document(client, repository, reference)
    children = index_children(media_type, document, where)
    if children is not None:
        try:
            child = image_platform_child(children, platform, "index")
        except ImageError as exc:
            raise RegistryError(str(exc)) from None
        media_type, document, size = manifest_document(client, repository, child.digest)
        total += size
    return document, manifest_references(media_type, document, where), total


def resolve_target(client: RegistryClient, reference: str, platform: Platform) -> PullTarget:
    """`repo:tag` or `repo@sha256:...` of an image already in the registry, as a PullTarget."""
    repository, separator, ref = reference.partition("@")
    if not separator:
        repository, _, ref = reference.rpartition(":")
    _, blobs, _ = platform_manifest(client, repository, ref, platform)
    return PullTarget(repository, ref, tuple(blobs))


def pull_image(client: RegistryClient, repository: str, reference: str, platform: Platform, parallel: int) -> int:
    """Pull one image as docker does; returns the bytes downloaded."""
    method = names.OPERATION_METHODS[names.IMAGE_PULL]
    with client.measure(method, names.IMAGE_PULL, repository=repository, reference=reference) as outcome:
        document, blobs, total = platform_manifest(client, repository, reference, platform)
        config, layers = (blobs[0], blobs[1:]) if "config" in document else (None, blobs)
        if config is not None:
            total += client.get_blob(repository, config.digest, config.size)
        total += run_parallel(lambda layer: client.get_blob(repository, layer.digest, layer.size), layers, parallel)
        outcome.length = total
        return total


def push_image(
    client: RegistryClient,
    repository: str,
    tag: str,
    image: Image,
    upload_mode: str,
    chunk_size: int,
    parallel: int,
) -> int:
    """Push one image as docker does; returns the bytes uploaded (blobs the registry lacked + manifests).

    A multi-platform image is pushed whole, as `docker buildx` / `skopeo copy --all` do: each platform's
    blobs and manifest (by digest) first, then the index under the tag.
    """

    def push_blob(blob: Blob) -> int:
        if client.blob_exists(repository, blob.digest):
            return 0
        client.upload_blob(repository, blob, upload_mode, chunk_size)
        return blob.size

    def push_blobs(blobs: tuple[Blob, ...]) -> int:
        return run_parallel(push_blob, blobs, parallel)

    pushed = {"repository": repository, "reference": tag, "digest": image.tagged.digest}  # --pushed-log reads it
    with client.measure(names.OPERATION_METHODS[names.IMAGE_PUSH], names.IMAGE_PUSH, **pushed) as outcome:
        outcome.length = store_image(client, repository, tag, image, push_blobs)
        return outcome.length


def mount_image(client: RegistryClient, source: str, target: str, image: Image) -> None:
    """Give `target` the image of `source` by cross-repository mounts, uploading only what will not mount."""

    def mount_blobs(blobs: tuple[Blob, ...]) -> int:
        for blob in blobs:
            if not client.mount_blob(target, blob.digest, source):
                client.upload_blob(target, blob, "monolithic", blob.size or 1)
        return 0

    store_image(client, target, image.tag, image, mount_blobs)


def store_image(
    client: RegistryClient, repository: str, tag: str, image: Image, store_blobs: Callable[[tuple[Blob, ...]], int]
) -> int:
    """Blobs (however `store_blobs` gets them there) before each manifest; a multi-platform image's platform
    manifests by digest, then its index under the tag. Returns the bytes stored plus the manifests' sizes."""
    total = 0
    for platform_image in image.platform_images:
        total += store_blobs(platform_image.blobs)
        reference = tag if image.index is None else platform_image.manifest.digest
        client.put_manifest(repository, reference, platform_image.manifest)
        total += platform_image.manifest.size
    if image.index is not None:
        client.put_manifest(repository, tag, image.index)
        total += image.index.size
    return total


def image_exists(client: RegistryClient, repository: str, image: Image) -> bool:
    """Whether `repository:tag` already holds exactly this image (seeding skips it then)."""
    return client.head_manifest(repository, image.tag) == image.tagged.digest
