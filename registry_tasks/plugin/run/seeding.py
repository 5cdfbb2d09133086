"""Getting the registry ready before the load: seed the fixtures once, or resolve the --pull-image targets.

Requests made here are logged, not counted in the load statistics. Only the seeder (worker 0, or a local
runner) uploads; other workers poll until its images are there, so N workers do not upload the same bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent

from ...image import Image
from ...registry import (
    PullTarget,
    RegistryClient,
    RegistryError,
    RequestFailed,
    image_exists,
    log_request,
    mount_image,
    push_image,
    resolve_target,
)
from ...registry.populate import populate, tag_images, targets
from ...sources import synthetic_image
from .state import RegistryRun

log = logging.getLogger("registry_tasks.plugin.seeding")


def prepare(
    run: RegistryRun,
    host: str,
    writes: bool,
    seeder: bool = True,
    seeding: bool = True,
    same_images_as_master: Callable[[], bool] = lambda: True,
) -> bool:
    """First GET /v2/ (a host that is no Registry API V2 stops the run here, with one line); then find what pull
    users pull: the --pull-image targets as they are, else the fixtures, seeded once. With --pull-image,
    nothing is written unless push users run (manifest-put needs its seeded repository). Only the seeder
    (worker 0, or a local runner) uploads; other workers wait for its images to appear. False: stop the run
    (the reason was logged once). A worker waits for `same_images_as_master` (distributed.py) before writing.

    Requests made here are logged, not counted in the load statistics.
    """
    client = RegistryClient(host, log_request, run.client_config(host))
    try:
        if (problem := client.api_problem()) is not None:
            log.error("%s", problem)
            return False
        if not same_images_as_master() or not seeding:
            return True  # a worker told to stop is stopping; a replay makes what it reads itself
        if run.settings.pull_image:
            targets = resolve_targets(client, run)
            if targets is None:
                return False
            run.targets = targets
        if (writes or not run.settings.pull_image) and not (seed if seeder else await_seed)(client, run):
            return False
        if not run.settings.pull_image:
            run.targets = [seeded_target(run, image) for image in run.images]
        if run.settings.populate is not None:
            return fill(client, run, seeder)
        return True
    finally:
        client.close()
        run.seeded.set()


def resolve_targets(client: RegistryClient, run: RegistryRun) -> list[PullTarget] | None:
    """Every --pull-image target, or None (after one line naming those that cannot be pulled): a run asked to
    pull an image that is not there would measure only the others, and pass."""
    targets, missing = [], []
    for reference in run.settings.pull_image:
        try:
            targets.append(resolve_target(client, reference, run.settings.platform))
        except (RequestFailed, RegistryError) as exc:  # not there, or not an image we can pull (no such platform)
            missing.append(f"{reference} ({exc})")
    if missing:
        count = f"{len(missing)} of {len(run.settings.pull_image)}"
        log.error("--pull-image: %s targets cannot be pulled, no load sent: %s", count, "; ".join(missing))
        return None
    return targets


def seeded_target(run: RegistryRun, image: Image) -> PullTarget:
    return PullTarget(run.seed_repository(image), image.tag, tuple(blob.descriptor for blob in image.blobs))


def seed(client: RegistryClient, run: RegistryRun) -> bool:
    """Push every fixture once (skipping what exists), so pulls find them on an empty registry. False (after
    one line saying which and why) when one could not be seeded: the load would only fail on it."""
    run.phases.begin("seeding", len(run.images), sum(image.size for image in run.images), "images")
    for image in run.images:
        repository = run.seed_repository(image)
        try:
            if not image_exists(client, repository, image):
                push_image(client, repository, image.tag, image, "monolithic", run.settings.chunk_size, 5)
                log.info("seeded %s:%s (%d bytes)", repository, image.tag, image.size)
            if not image_exists(client, run.tag_repository(image), image):
                mount_image(client, repository, run.tag_repository(image), image)
        except RequestFailed as exc:
            log.error("seeding %s:%s at %s failed: %s", repository, image.tag, client.base_url, exc)
            return False
        run.phases.advance(1, image.size)
    run.phases.end()
    return True


POPULATE_PARALLEL = 8
POPULATE_BASE = "1x4KiB,1x16KiB"
"""The small image every populated tag is a variant of (its layers shared by all)."""


def fill(client: RegistryClient, run: RegistryRun, seeder: bool) -> bool:
    """--populate: the seeder fills the repositories; every process pulls from them (other workers wait for the
    last tag). False (after one line) when the registry refused."""
    assert run.settings.populate is not None
    repositories, tags = run.settings.populate
    prefix = run.settings.repository_prefix
    images = tag_images(synthetic_image(POPULATE_BASE, run.settings.synthetic_seed, "populated"), tags)
    run.targets = targets(prefix, repositories, images)
    if not seeder:
        last = run.targets[-1]
        deadline = time.monotonic() + run.settings.request_timeout * 4
        while client.head_manifest(last.repository, last.reference) is None and time.monotonic() < deadline:
            gevent.sleep(SEED_POLL_SECONDS)
        return True
    run.phases.begin("populate", repositories * tags, None, "tags")  # bytes: only what is missing moves
    started = time.monotonic()
    try:
        written = populate(client, prefix, repositories, images, POPULATE_PARALLEL, run.phases.advance)
    except RequestFailed as exc:
        log.error("--populate %dx%d at %s failed: %s", repositories, tags, client.base_url, exc)
        return False
    run.phases.end()
    log.info("populated %d repositories x %d tags under %s/pop-* (%d tags written) in %.1f s",
             repositories, tags, prefix, written, time.monotonic() - started)  # fmt: skip
    return True


SEED_POLL_SECONDS = 0.5


def await_seed(client: RegistryClient, run: RegistryRun) -> bool:
    """Poll (HEAD) until worker 0 has seeded every image, so N workers do not upload the same bytes N times.
    Bounded: after --request-timeout seconds per image we go on, and pulls of what is missing fail visibly."""
    deadline = time.monotonic() + run.settings.request_timeout * len(run.images)
    for image in run.images:
        for repository in (run.seed_repository(image), run.tag_repository(image)):
            while not _exists(client, repository, image):
                if time.monotonic() > deadline:
                    log.error("%s:%s was not seeded by worker 0 in time; going on without it", repository, image.tag)
                    break
                gevent.sleep(SEED_POLL_SECONDS)
    return True


def _exists(client: RegistryClient, repository: str, image: Image) -> bool:
    try:
        return image_exists(client, repository, image)
    except RequestFailed:  # logged by log_request; the seeder may still be starting
        return False
