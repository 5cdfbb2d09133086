"""Locust user classes: thin, they choose an image and a repository and run one client call or workflow.

Process-wide state (settings, loaded fixtures, seeding) lives in one `RegistryRun`, built when Locust
starts (bad fixtures or options stop the process there with one clear line) and refreshed at each
test start, when web UI edits to the options take effect.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
from locust import LoadTestShape, User, events, tag, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from . import checks, distributed, final_csv, reporting, web_secrets  # noqa: F401 - listeners: gates, reports...
from .auth import AuthError, Credentials, docker_config_credentials
from .cleanup import PushLedger, count_only_deletes, delete_pushed
from .client import ClientConfig, RegistryClient, RequestFailed, log_request
from .images import Blob, Image, ImageError, UniqueImageTemplate
from .options import Settings, SettingsError, add_arguments, check_host, settings_from
from .pushed_log import PushedLog
from .shapes import Shape
from .sources import load_fixtures, synthetic_image
from .workflows import PullTarget, image_exists, mount_image, pull_image, push_image, resolve_target

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
        return client_config(self.settings, host)


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


_run: RegistryRun | None = None
_pushed = PushLedger()  # this process's image pushes, for --cleanup
_pushed_log = PushedLog()  # this process's one --pushed-log writer


def load_run(environment: Environment) -> RegistryRun:
    """Settings and images from the current options; raises SettingsError or ImageError."""
    if environment.host:
        check_host(environment.host)
    settings = settings_from(environment.parsed_options)
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
    credentials(settings, environment.host or "")  # an unreadable docker config stops us here, not mid-run
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


def registry_task(call: Callable[[Any], None]) -> Callable[[Any], None]:
    """A task whose failures were already reported as request failures: stop it quietly."""

    def run_task(user: Any) -> None:
        with contextlib.suppress(RequestFailed):
            call(user)

    run_task.__name__ = call.__name__
    run_task.__doc__ = call.__doc__
    return run_task


class RegistryUser(User):
    """Common start and stop: one RegistryClient per user, waiting for seeding before the first task."""

    abstract = True

    def on_start(self) -> None:
        if _run is None:
            raise RuntimeError("registry_tasks was not initialised (import it from the locustfile)")
        self.shared = _run
        self.index = self.shared.next_user()
        self.pushes = itertools.count()
        fire = self.environment.events.request.fire
        self.registry = RegistryClient(self.host or "", fire, self.shared.client_config(self.host or ""))
        self.shared.seeded.wait()

    def on_stop(self) -> None:
        self.registry.close()

    def push_name(self) -> str:
        """Unique per push across workers, users and runs: run id, worker, user, counter."""
        worker = getattr(self.environment.runner, "worker_index", 0)
        return f"{self.shared.run_id}-w{worker}-u{self.index}-{next(self.pushes)}"


class RegistryPullUser(RegistryUser):
    """Pulls the seeded fixtures (or the --pull-image targets): manifest and blob GETs, whole images."""

    weight = 3

    def target(self) -> PullTarget:
        if not self.shared.targets:
            raise StopUser()  # nothing can be pulled: preparing said why, once, in the log
        return self.shared.pick_target()

    @tag("manifest-get")
    @task(3)
    @registry_task
    def manifest_get(self) -> None:
        target = self.target()
        self.registry.get_manifest(target.repository, target.reference)

    @tag("blob-get")
    @task(2)
    @registry_task
    def blob_get(self) -> None:
        target = self.target()
        blob = random.choice(target.blobs)
        self.registry.get_blob(target.repository, blob.digest, blob.size)

    @tag("image-pull")
    @task(1)
    @registry_task
    def image_pull(self) -> None:
        target = self.target()
        settings = self.shared.settings
        pull_image(self.registry, target.repository, target.reference, settings.platform, settings.pull_parallel)


class RegistryPushUser(RegistryUser):
    """Pushes to a repository and tag of its own per push, so that no two pushes overwrite each other."""

    weight = 1

    @tag("chunked-upload")
    @task(1)
    @registry_task
    def chunked_upload(self) -> None:
        name = self.push_name()
        image = self.shared.image_for_push(name)
        blob: Blob = max(image.layers, key=lambda layer: layer.size, default=image.config)
        repository = f"{self.shared.settings.repository_prefix}/upload-{name}"
        self.registry.upload_blob(repository, blob, "chunked", self.shared.settings.chunk_size)

    @tag("manifest-put")
    @task(2)
    @registry_task
    def manifest_put(self) -> None:
        image = self.shared.pick_image()
        self.registry.put_manifest(self.shared.tag_repository(image), f"put-{self.push_name()}", image.manifest)

    @tag("image-push")
    @task(1)
    @registry_task
    def image_push(self) -> None:
        name = self.push_name()
        image = self.shared.image_for_push(name)
        settings = self.shared.settings
        repository = self.shared.push_repository(name)
        mode, chunk, parallel = settings.upload_mode, settings.chunk_size, settings.push_parallel
        push_image(self.registry, repository, image.tag, image, mode, chunk, parallel)


USER_CLASSES: dict[str, type[RegistryUser]] = {"pull": RegistryPullUser, "push": RegistryPushUser}
TASKS = {
    "manifest-get": (RegistryPullUser, RegistryPullUser.manifest_get),
    "blob-get": (RegistryPullUser, RegistryPullUser.blob_get),
    "image-pull": (RegistryPullUser, RegistryPullUser.image_pull),
    "chunked-upload": (RegistryPushUser, RegistryPushUser.chunked_upload),
    "manifest-put": (RegistryPushUser, RegistryPushUser.manifest_put),
    "image-push": (RegistryPushUser, RegistryPushUser.image_push),
}


def apply_weights(settings: Settings) -> None:
    """Task and user weights (scenario, --pull-push-ratio); tasks weighted 0 are dropped from their class."""
    if settings.weights:
        for user_class in USER_CLASSES.values():
            user_class.tasks = []
        for name, (user_class, function) in TASKS.items():
            user_class.tasks += [function] * settings.weights.get(name, 0)
    ratio = settings.pull_push_ratio
    user_weights = {"pull": ratio[0], "push": ratio[1]} if ratio else settings.user_weights
    for name, weight in user_weights.items():
        USER_CLASSES[name].weight = weight


class OptionShape(LoadTestShape):
    """--load-shape: a Shape driven by Locust's common options (-u, -r, -t), read at every tick, so the
    web UI's fields steer it too."""

    abstract = True  # built from options at init, never found and instantiated from a locustfile
    use_common_options = True

    def __init__(self, shape: Shape, options: Any) -> None:
        super().__init__()
        self.shape = shape
        self.options = options

    def tick(self) -> tuple[int, float] | None:
        peak, duration = int(self.options.num_users or 1), float(self.options.run_time or 0)
        users = self.shape.users(self.get_run_time(), duration, peak)
        if users is None:
            return None
        return users, self.shape.spawn_rate(duration, peak, float(self.options.spawn_rate or 1))


def install_shape(environment: Environment, shape: Shape) -> None:
    """The master (or a local runner) runs the shape; it spans -t, so -t is required."""
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    if not getattr(options, "run_time", None):
        _fail("--load-shape needs -t/--run-time: the shape spans the run")
    environment.shape_class = OptionShape(shape, options)
    environment.shape_class.runner = environment.runner


def _fail(message: str) -> None:
    """One clear line and a non-zero exit: a bad fixture or option must not start a load test."""
    log.error("%s", message)
    sys.exit(1)


@events.init_command_line_parser.add_listener
def _register_options(parser: Any) -> None:
    add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    global _run
    try:
        _run = load_run(environment)
    except (SettingsError, ImageError, AuthError) as exc:
        _fail(str(exc))
        return
    apply_weights(_run.settings)
    if _run.settings.load_shape:
        install_shape(environment, _run.settings.load_shape)
    distributed.share_images(environment, lambda: _run.images if _run else [])


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    """Pick up web UI edits, drop classes that --tags left without tasks, then seed (not on a master)."""
    global _run
    try:
        fresh = load_run(environment)
    except (SettingsError, ImageError, AuthError) as exc:
        log.error("%s", exc)
        if environment.runner is not None:
            environment.runner.quit()
        return
    if _run is None or fresh.settings != _run.settings:
        _run = fresh
    environment.user_classes = [cls for cls in environment.user_classes if cls.tasks and cls.weight > 0]
    distributed.report_images(environment, _run.images)
    if isinstance(environment.runner, MasterRunner) or not environment.host:
        _run.seeded.set()
        return
    if not _run.seeded.is_set() and _run.preparing is None:  # a greenlet: a worker's message loop must not wait
        seeder = getattr(environment.runner, "worker_index", 0) == 0
        writes = RegistryPushUser in environment.user_classes
        _run.preparing = gevent.spawn(prepare, _run, environment.host, writes, seeder)
    if _run.settings.cleanup:
        _pushed.watch(environment.events.request, _run.push_repository(""))
    _pushed_log.watch(environment.events.request, _run.settings.pushed_log)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    """--cleanup: each process deletes what its own users pushed (a master pushed nothing)."""
    pushed = _pushed.take()
    if _run is None or not _run.settings.cleanup or not pushed or not environment.host:
        return
    fire = count_only_deletes(environment.events.request.fire)
    client = RegistryClient(environment.host, fire, _run.client_config(environment.host))
    try:
        delete_pushed(client, pushed, _run.settings.push_parallel)
    finally:
        client.close()
