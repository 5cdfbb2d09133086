"""The state one load-generator process shares between its users, and getting the registry ready for them.

A `RegistryRun` holds the checked settings, the loaded images and what pull users pull; `prepare` seeds the
fixtures once (or resolves --pull-image targets) with requests that are logged, not counted. No Locust users
here: users.py builds one RegistryRun per process and hands it to its users.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event

from . import distributed
from .auth import Credentials, docker_config_credentials
from .client import ClientConfig, RegistryClient, RequestFailed, log_request
from .images import Image, UniqueImageTemplate
from .options import Settings, SettingsError, check_host, settings_from
from .sources import load_fixtures, synthetic_image
from .workflows import PullTarget, image_exists, mount_image, push_image, resolve_target

log = logging.getLogger(__name__)


@dataclass
class RegistryRun:
    """What every user of this process shares: settings, images, and whether seeding is done."""

    settings: Settings
    images: list[Image]
    targets: list[PullTarget] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    uniques: dict[str, UniqueImageTemplate] = field(default_factory=dict)
    seeded: gevent.event.Event = field(default_factory=gevent.event.Event)
    preparing: gevent.Greenlet | None = None
    client_configs: dict[str, ClientConfig] = field(default_factory=dict)
    _users: itertools.count = field(default_factory=itertools.count)

    def seed_repository(self, image: Image) -> str:
        return f"{self.settings.repository_prefix}/{image.name}"

    def push_repository(self, name: str) -> str:
        """Where image-push stores one image: a repository of its own (--cleanup deletes it again)."""
        return f"{self.settings.repository_prefix}/push-{name}"

    def tag_repository(self, image: Image) -> str:
        """Where manifest-put adds tags: apart from the pulled repository, because distribution's filesystem
        driver rewrites a manifest's revision link on every PUT, and a GET racing that rewrite fails with
        500 "invalid checksum digest format" (seen with 2.8.2) - a registry bug, not the load we mean."""
        return f"{self.seed_repository(image)}-tags"

    def next_user(self) -> int:
        return next(self._users)

    def pick_image(self) -> Image:
        """A fixture image, in the shares of --image-mix when given."""
        return random.choices(self.images, self.settings.image_mix or None)[0]

    def pick_target(self) -> PullTarget:
        """An image to pull: --pull-image targets alike, seeded fixtures in the shares of --image-mix."""
        mix = None if self.settings.pull_image else self.settings.image_mix or None
        return random.choices(self.targets, mix)[0]

    def image_for_push(self, token: str) -> Image:
        """A fixture image, made new bytes per push when --unique-layers asks for it."""
        image = self.pick_image()
        if not self.settings.unique_layers:
            return image
        template = self.uniques.get(image.name)
        if template is None:
            template = self.uniques[image.name] = UniqueImageTemplate.of(image)
        return template.make(token)

    def client_config(self, host: str) -> ClientConfig:
        """Built once per host and shared by every user: credentials may come from reading a docker config."""
        config = self.client_configs.get(host)
        if config is None:
            config = self.client_configs[host] = client_config(self.settings, host)
        return config


def client_config(settings: Settings, host: str) -> ClientConfig:
    """How a client talks to `host` under these settings (also used by the `audit` command)."""
    timeout = float(settings.request_timeout)
    return ClientConfig(
        verify_digests=settings.verify_digests,
        connect_timeout=min(timeout, 10.0),
        network_timeout=timeout,
        concurrency=max(settings.pull_parallel, settings.push_parallel),
        tls_verify=not settings.registry_insecure,
        ca_file=settings.registry_ca_file or None,
        credentials=credentials(settings, host),
        honor_retry_after=settings.honor_retry_after,
    )


def credentials(settings: Settings, host: str) -> Credentials | None:
    """--registry-username/--registry-password, else the docker config's entry for the host."""
    if settings.registry_username or settings.registry_password:
        return Credentials(settings.registry_username, settings.registry_password)
    return docker_config_credentials(settings.docker_config, host)


def load_run(host: str | None, parsed_options: Any) -> RegistryRun:
    """Settings and images from the current options; raises SettingsError, ImageError or AuthError."""
    if host:
        check_host(host)
    settings = settings_from(parsed_options)
    if settings.synthetic_images:
        images = [synthetic_image(spec, settings.synthetic_seed) for spec in settings.synthetic_images.split()]
    else:
        directory: str | None = settings.fixtures_dir
        if directory == Settings.fixtures_dir and not os.path.isdir(settings.fixtures_dir):
            directory = None  # no fixtures/ where locust runs: the built-in image, as with an empty one
        images = load_fixtures(directory, settings.platform, settings.synthetic_seed)
    if settings.image_mix and len(settings.image_mix) != len(images):
        names = ", ".join(image.name for image in images)
        raise SettingsError(f"--image-mix: {len(settings.image_mix)} shares for {len(images)} images ({names})")
    if settings.pull_push_ratio and settings.user_weights:
        raise SettingsError("--pull-push-ratio and the scenario's user-weights both set the pull/push mix: keep one")
    credentials(settings, host or "")  # an unreadable docker config stops us here, not mid-run
    if settings.registry_insecure:
        log.warning("--registry-insecure: the registry's TLS certificate is not verified")
    return RegistryRun(settings, images)


def prepare(run: RegistryRun, host: str, writes: bool, seeder: bool = True) -> None:
    """Find what pull users pull: the --pull-image targets as they are, else the fixtures, seeded once.
    With --pull-image, nothing is written unless push users run (manifest-put needs its seeded repository).
    Only the seeder (worker 0, or a local runner) uploads; other workers wait for its images to appear.

    Requests made here are logged, not counted in the load statistics.
    """
    client = RegistryClient(host, log_request, run.client_config(host))
    try:
        if not distributed.same_images_as_master():
            return  # this worker is stopping
        if run.settings.pull_image:
            run.targets = resolve_targets(client, run)
        if writes or not run.settings.pull_image:
            (seed if seeder else await_seed)(client, run)
        if not run.settings.pull_image:
            run.targets = [seeded_target(run, image) for image in run.images]
    finally:
        client.close()
        run.seeded.set()


def resolve_targets(client: RegistryClient, run: RegistryRun) -> list[PullTarget]:
    targets = []
    for reference in run.settings.pull_image:
        try:
            targets.append(resolve_target(client, reference, run.settings.platform))
        except RequestFailed as exc:
            log.error("--pull-image %s cannot be pulled: %s", reference, exc)
    return targets


def seeded_target(run: RegistryRun, image: Image) -> PullTarget:
    return PullTarget(run.seed_repository(image), image.tag, tuple(blob.descriptor for blob in image.blobs))


def seed(client: RegistryClient, run: RegistryRun) -> None:
    """Push every fixture once (skipping what exists), so pulls find them on an empty registry."""
    for image in run.images:
        repository = run.seed_repository(image)
        try:
            if not image_exists(client, repository, image):
                push_image(client, repository, image.tag, image, "monolithic", run.settings.chunk_size, 5)
                log.info("seeded %s:%s (%d bytes)", repository, image.tag, image.size)
            if not image_exists(client, run.tag_repository(image), image):
                mount_image(client, repository, run.tag_repository(image), image)
        except RequestFailed as exc:
            log.error("seeding %s:%s failed: %s", repository, image.tag, exc)


SEED_POLL_SECONDS = 0.5


def await_seed(client: RegistryClient, run: RegistryRun) -> None:
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


def _exists(client: RegistryClient, repository: str, image: Image) -> bool:
    try:
        return image_exists(client, repository, image)
    except RequestFailed:  # logged by log_request; the seeder may still be starting
        return False
