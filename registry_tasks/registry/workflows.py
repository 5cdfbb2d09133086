"""Whole-image request sequences, built only from RegistryClient calls and shaped by the client's profile.

`pull_image`: a ping where the client pings, the manifest (HEAD tag + GET digest, or GET tag; an index's
platform child), then config and layers, N at once, each blob tried as often as the client tries it.
`push_image`: a ping, per blob the HEADs, mounts and upload style of the client, then each manifest (a HEAD
first where the client looks). Each is also reported as one `image-pull` / `image-push` entry timing the
whole image. The profile is data (profiles.py): nothing here branches on a client's name.
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
from .client import BlobProgress, RegistryClient
from .errors import RegistryError, RequestFailed
from .profiles import CHUNKED, HEAD_ALL, HEAD_CONFIG, MONOLITHIC

T = TypeVar("T")
DEFAULT_DOWNLOADS = 3  # a profile that leaves parallelism to the options, and no option given
DEFAULT_UPLOADS = 5
DEFAULT_CHUNK = 5 << 20


def run_parallel(work: Callable[[T], int], items: Iterable[T], limit: int) -> int:
    """Run `work` over items, at most `limit` at once; wait for all, then raise the first failure.

    A failure is handed back as a value: a greenlet dying of it would print a traceback per failure (a bug of
    ours, raised again here with its traceback, is then logged once, by Locust). When the waiting greenlet is
    killed (Locust stopping a user at the end of a run), its workers die with it: left running, they reported
    requests after Locust's final tables were printed (a push-heavy run's registry table counted 15 more
    requests than Locust's own).
    """

    def attempt(item: T) -> int | Exception:
        try:
            return work(item)
        except Exception as exc:  # (not GreenletExit: a kill goes through)
            return exc

    pool = Pool(max(1, limit))
    try:
        jobs = [pool.spawn(attempt, item) for item in items]
        gevent.joinall(jobs)
    except BaseException:
        pool.kill(block=True, timeout=5)
        raise
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
    try:
        return media_type, parse_manifest(data, f"manifest {repository}:{reference}"), len(data)
    except ImageError as exc:  # the registry's answer, not our bug: a failure, as a bad listing is
        raise RegistryError.bad_response(exc, 200) from None


def references(media_type: str, document: dict[str, Any], where: str) -> list[Descriptor]:
    """The descriptors of a manifest the registry served; one it cannot have stored is a bad response."""
    try:
        return manifest_references(media_type, document, where)
    except ImageError as exc:
        raise RegistryError.bad_response(exc, 200) from None


def index_children(media_type: str, document: dict[str, Any], where: str) -> list[Descriptor] | None:
    """The entries of an index (or manifest list); None for an image manifest."""
    return references(media_type, document, where) if media_type in INDEX_TYPES else None


def platform_document(
    client: RegistryClient,
    repository: str,
    reference: str,
    platform: Platform,
    media_type: str,
    document: dict[str, Any],
) -> tuple[dict[str, Any], list[Descriptor], int]:
    """The image manifest for `platform` from a fetched manifest or index (an index's child is fetched by digest):
    its document, its blobs (config first) and the bytes of any child fetched."""
    where = f"manifest {repository}:{reference}"
    children = index_children(media_type, document, where)
    size = 0
    if children is not None:
        try:
            child = image_platform_child(children, platform, "index")
        except ImageError as exc:
            raise RegistryError(str(exc)) from None
        media_type, document, size = manifest_document(client, repository, child.digest)
    return document, references(media_type, document, where), size


def platform_manifest(
    client: RegistryClient, repository: str, reference: str, platform: Platform
) -> tuple[dict[str, Any], list[Descriptor], int]:
    """Resolve and GET the manifest (and, for an index, the platform's child): its document, blobs and bytes."""
    media_type, document, total = fetch_top_manifest(client, repository, reference)
    document, blobs, size = platform_document(client, repository, reference, platform, media_type, document)
    return document, blobs, total + size


def resolve_target(client: RegistryClient, reference: str, platform: Platform) -> PullTarget:
    """`repo:tag` or `repo@sha256:...` of an image already in the registry, as a PullTarget."""
    repository, separator, ref = reference.partition("@")
    if not separator:
        repository, _, ref = reference.rpartition(":")
    _, blobs, _ = platform_manifest(client, repository, ref, platform)
    return PullTarget(repository, ref, tuple(blobs))


def fetch_top_manifest(client: RegistryClient, repository: str, reference: str) -> tuple[str, dict[str, Any], int]:
    """The manifest a pull starts from, resolved as the client's profile does: HEAD the tag and GET the digest it
    answers (docker, containerd; a registry sending no digest gets a GET by tag), or GET the tag (skopeo)."""
    if client.profile.resolve_by_head and not reference.startswith("sha256:"):
        reference = client.head_manifest(repository, reference, required=True) or reference
    return manifest_document(client, repository, reference)


def retryable(failure: RequestFailed) -> bool:
    """What real clients retry: no answer (refused, reset, timeout, a cut or corrupt body), 408, 429 and 5xx."""
    return failure.temporary


def with_retries(client: RegistryClient, transfer: Callable[[], int], progress: BlobProgress | None = None) -> int:
    """A blob transfer tried as often as the profile's client tries it, waiting as it waits between tries, so
    that a dead registry is not hammered by instant retries. A download that holds part of its blob (`progress`)
    resumes after the profile's resume wait instead. Each try is reported (the registry sees each)."""
    profile = client.profile
    retry = profile.retry
    for attempt in range(1, retry.attempts + 1):
        try:
            return transfer()
        except RequestFailed as failure:
            if attempt == retry.attempts or not retryable(failure):
                raise
            resuming = progress is not None and progress.received > 0
            gevent.sleep(profile.resume_wait if resuming else retry.wait(attempt + 1))
    raise AssertionError("unreachable")


def pull_image(
    client: RegistryClient,
    repository: str,
    reference: str,
    platform: Platform,
    parallel: int = 0,
    held: set[str] | None = None,
) -> int:
    """Pull one image as the client's profile does; returns the bytes downloaded. `parallel` (0: the profile's)
    bounds the layers downloaded at once. `held`: the digests a node's content store already has, skipped as
    docker and containerd skip them (and those fetched are added), so an update pulls only what is new."""
    profile = client.profile
    method = names.OPERATION_METHODS[names.IMAGE_PULL]
    with client.measure(method, names.IMAGE_PULL, repository=repository, reference=reference) as outcome:
        client.begin_operation()
        if profile.ping:
            client.ping()
        document, blobs, total = platform_manifest(client, repository, reference, platform)
        config, layers = (blobs[0], blobs[1:]) if "config" in document else (None, blobs)
        if held is not None:
            config = None if config is not None and config.digest in held else config
            layers = [layer for layer in layers if layer.digest not in held]
        limit = parallel or profile.download_parallel or DEFAULT_DOWNLOADS

        def fetch(blob: Descriptor) -> int:
            progress = BlobProgress() if profile.range_resume else None
            got = with_retries(client, lambda: client.get_blob(repository, blob.digest, blob.size, progress), progress)
            if held is not None:
                held.add(blob.digest)
            return got

        if config is not None and profile.config_first:
            total += fetch(config)
        elif config is not None:  # alongside the layers, outside their limit (docker fetches it in its own goroutine)
            layers, limit = [config, *layers], limit + 1
        total += run_parallel(fetch, layers, limit)
        outcome.length = total
        return total


def push_image(
    client: RegistryClient,
    repository: str,
    tag: str,
    image: Image,
    upload_mode: str = "",
    chunk_size: int = DEFAULT_CHUNK,
    parallel: int = 0,
) -> int:
    """Push one image as the client's profile does; returns the bytes uploaded (blobs the registry lacked +
    manifests). `upload_mode` and `parallel` override the profile's upload style and parallelism when given.

    A multi-platform image is pushed whole, as `docker buildx` / `skopeo copy --all` do: each platform's
    blobs and manifest (by digest) first, then the index under the tag.
    """
    profile = client.profile
    mode = upload_mode or profile.upload_style or CHUNKED
    limit = parallel or profile.upload_parallel or DEFAULT_UPLOADS

    def upload(blob: Blob) -> int:
        client.upload_blob(repository, blob, mode, chunk_size)
        return blob.size

    def push_blob(blob: Blob, config: Blob) -> int:
        looks = profile.head_before_upload == HEAD_ALL or (profile.head_before_upload == HEAD_CONFIG and blob is config)
        if looks and client.blob_exists(repository, blob.digest):
            return 0
        source = client.known_blobs.get(blob.digest) if profile.mounts else None
        if source and source != repository and client.mount_blob(repository, blob.digest, source):
            return 0
        with_retries(client, lambda: upload(blob))
        if profile.head_after_upload:
            client.blob_exists(repository, blob.digest)
        return blob.size

    def push_blobs(platform_image: Image) -> int:
        return run_parallel(lambda blob: push_blob(blob, platform_image.config), platform_image.blobs, limit)

    pushed = {"repository": repository, "reference": tag, "digest": image.tagged.digest}  # --pushed-log reads it
    with client.measure(names.OPERATION_METHODS[names.IMAGE_PUSH], names.IMAGE_PUSH, **pushed) as outcome:
        client.begin_operation()
        if profile.ping:
            client.ping()
        outcome.length = store_image(client, repository, tag, image, push_blobs)
        return outcome.length


def mount_image(client: RegistryClient, source: str, target: str, image: Image) -> None:
    """Give `target` the image of `source` by cross-repository mounts, uploading only what will not mount."""

    def mount_blobs(platform_image: Image) -> int:
        for blob in platform_image.blobs:
            if not client.mount_blob(target, blob.digest, source):
                client.upload_blob(target, blob, MONOLITHIC, blob.size or 1)
        return 0

    store_image(client, target, image.tag, image, mount_blobs)


def store_image(
    client: RegistryClient, repository: str, tag: str, image: Image, store_blobs: Callable[[Image], int]
) -> int:
    """Blobs (however `store_blobs` gets them there) before each manifest; a multi-platform image's platform
    manifests by digest, then its index under the tag. Returns the bytes stored plus the manifests' sizes."""
    total = 0
    for platform_image in image.platform_images:
        total += store_blobs(platform_image)
        reference = tag if image.index is None else platform_image.manifest.digest
        total += put_manifest(client, repository, reference, platform_image.manifest)
    if image.index is not None:
        total += put_manifest(client, repository, tag, image.index)
    return total


def put_manifest(client: RegistryClient, repository: str, reference: str, manifest: Blob) -> int:
    """PUT one manifest, after a HEAD of it where the profile's client looks first (containerd)."""
    if client.profile.manifest_head_before_put:
        client.head_manifest(repository, reference)
    client.put_manifest(repository, reference, manifest)
    return manifest.size


def image_exists(client: RegistryClient, repository: str, image: Image) -> bool:
    """Whether `repository:tag` already holds exactly this image (seeding skips it then)."""
    return client.head_manifest(repository, image.tag) == image.tagged.digest
