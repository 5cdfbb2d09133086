"""Locust user classes: thin, they choose an image and a repository and run one client call or workflow.

Process-wide state (settings, loaded fixtures, seeding) lives in one `RegistryRun`, built when Locust
starts (bad fixtures or options stop the process there with one clear line) and refreshed at each
test start, when web UI edits to the options take effect.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import sys
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
from locust import LoadTestShape, User, events, tag, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from . import checks, distributed, final_csv, reporting, web_secrets  # noqa: F401 - listeners: gates, reports...
from .auth import AuthError
from .cleanup import PushLedger, count_only_deletes, delete_pushed
from .client import RegistryClient, RequestFailed
from .images import Blob, ImageError
from .options import Settings, SettingsError, add_arguments
from .pushed_log import PushedLog
from .run import RegistryRun, load_run, prepare
from .shapes import Shape
from .workflows import PullTarget, pull_image, push_image

log = logging.getLogger(__name__)


_run: RegistryRun | None = None
_pushed = PushLedger()  # this process's image pushes, for --cleanup
_pushed_log = PushedLog()  # this process's one --pushed-log writer


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
        _run = load_run(environment.host, environment.parsed_options)
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
        fresh = load_run(environment.host, environment.parsed_options)
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
