"""Locust user classes: thin, they choose an image and a repository and run one client call or workflow.

`RegistryUser` is the base class for user-written locustfiles too: each user gets its own `RegistryClient`
(`self.registry`) reporting into Locust's stats, and the process's shared run (`self.shared`: settings,
seeded images, pull targets), and waits for seeding before its first task.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import gevent
from locust import User, constant, tag, task
from locust.exception import StopUser

from ...image import Blob, Image
from ...load import tasks
from ...registry import PullTarget, RegistryClient, RequestFailed, names, pull_image, push_image
from ...registry.artifacts import ARTIFACT_KINDS, get_referrers, push_artifact
from ...registry.listings import walk_catalog, walk_tags
from ...registry.populate import tag_images
from ...registry.profiles import DEFAULT as DEFAULT_PROFILE
from ...sources import synthetic_image
from ..run.state import run_of


def registry_task(call: Callable[[Any], None]) -> Callable[[Any], None]:
    """A task whose failures were already reported as request failures: stop it quietly. When the registry gave
    no usable answer (refused, reset, timeout, a cut or corrupt body), the user waits as its client profile
    waits before trying again, so that a dead registry is not hammered (the minimal profile does not wait)."""

    def run_task(user: Any) -> None:
        try:
            call(user)
        except RequestFailed as failure:
            registry = getattr(user, "registry", None)
            if failure.status is None and registry is not None and registry.profile.retry.first_wait:
                gevent.sleep(registry.profile.retry.first_wait)

    run_task.__name__ = call.__name__
    run_task.__doc__ = call.__doc__
    return run_task


def declared_task(name: str, weight: int, headline: tuple[str, str]) -> Callable[[Callable[[Any], None]], Any]:
    """A task of ours, declared once: its name (the --tags tag, the scenario's and --arrival-rate's key), its
    default weight, and its headline entry; `TASKS` and `HEADLINES` are read off these."""

    def declare(call: Callable[[Any], None]) -> Any:
        wrapped: Any = tag(name)(task(weight)(registry_task(call)))
        wrapped.registry_task_name, wrapped.headline = name, headline
        return wrapped

    return declare


class RegistryUser(User):
    """Common start and stop: one RegistryClient per user, waiting for seeding before the first task."""

    abstract = True
    reporter: Callable[..., None] | None = None
    """Where this user's requests are reported; None: Locust's request event (the open model sets its own)."""
    default_profile = DEFAULT_PROFILE
    """The client profile when neither --client-profile nor --client-mix names one (rollout nodes: containerd)."""

    def on_start(self) -> None:
        self.shared = run_of(self.environment)
        self.index = self.shared.next_user()
        self.pushes = itertools.count()
        fire = self.with_user_context(self.reporter or self.environment.events.request.fire)
        self.profile = self.shared.pick_profile(self.default_profile)
        self.registry = RegistryClient(self.host or "", fire, self.shared.client_config(self.host or "", self.profile))
        self.shared.seeded.wait()

    def on_stop(self) -> None:
        self.registry.close()

    def with_user_context(self, fire: Callable[..., None]) -> Callable[..., None]:
        """Requests carry the user's `context()` under their own, as Locust's clients merge it (a subclass that
        defines `context()` tags its requests; the base class's adds nothing, so no wrapper is made)."""
        if type(self).context is User.context:
            return fire

        def fire_with_context(**event: Any) -> None:
            event["context"] = {**self.context(), **(event.get("context") or {})}
            fire(**event)

        return fire_with_context

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

    @declared_task(tasks.MANIFEST_GET, 3, ("GET", names.MANIFEST_GET))
    def manifest_get(self) -> None:
        target = self.target()
        self.registry.get_manifest(target.repository, target.reference)

    @declared_task(tasks.BLOB_GET, 2, ("GET", names.BLOB_GET))
    def blob_get(self) -> None:
        target = self.target()
        blob = random.choice(target.blobs)
        self.registry.get_blob(target.repository, blob.digest, blob.size)

    @declared_task(tasks.IMAGE_PULL, 1, (names.OPERATION_METHODS[names.IMAGE_PULL], names.IMAGE_PULL))
    def image_pull(self) -> None:
        target = self.target()
        settings = self.shared.settings
        pull_image(self.registry, target.repository, target.reference, settings.platform, settings.pull_parallel)


class RegistryPushUser(RegistryUser):
    """Pushes to a repository and tag of its own per push, so that no two pushes overwrite each other."""

    weight = 1

    @declared_task(tasks.CHUNKED_UPLOAD, 1, ("PUT", names.UPLOAD_FINISH))
    def chunked_upload(self) -> None:
        name = self.push_name()
        image = self.shared.image_for_push(name)
        blob: Blob = max(image.layers, key=lambda layer: layer.size, default=image.config)
        settings = self.shared.settings
        repository = f"{settings.repository_prefix}/upload-{name}"
        # --upload-mode given: that shape; else Content-Range chunks, whatever the profile
        self.registry.upload_blob(repository, blob, settings.upload_mode or "chunked", settings.chunk_size)

    @declared_task(tasks.MANIFEST_PUT, 2, ("PUT", names.MANIFEST_PUT))
    def manifest_put(self) -> None:
        image = self.shared.pick_image()
        self.registry.put_manifest(self.shared.tag_repository(image), f"put-{self.push_name()}", image.manifest)

    @declared_task(tasks.IMAGE_PUSH, 1, (names.OPERATION_METHODS[names.IMAGE_PUSH], names.IMAGE_PUSH))
    def image_push(self) -> None:
        name = self.push_name()
        image = self.shared.image_for_push(name)
        settings = self.shared.settings
        repository = self.shared.push_repository(name)
        mode, chunk, parallel = settings.upload_mode, settings.chunk_size, settings.push_parallel
        push_image(self.registry, repository, image.tag, image, mode, chunk, parallel)


class RegistryBrowseUser(RegistryUser):
    """Walks listings as UIs, scanners and CI clean-up jobs do: a repository's tags, the catalog, page by page.
    None run unless the scenario weighs them (user-weights browse:), --tags picks their tasks or the class is named
    (users/choice.py); the weight is 1 here so that Locust, which drops weight-0 classes as it starts, keeps it."""

    weight = 1

    @declared_task(tasks.TAGS_LIST, 3, (names.OPERATION_METHODS[names.TAGS_WALK], names.TAGS_WALK))
    def tags_list(self) -> None:
        if not self.shared.targets:
            raise StopUser()
        walk_tags(self.registry, self.shared.pick_target().repository, self.shared.settings.page_size)

    @declared_task(tasks.CATALOG, 1, (names.OPERATION_METHODS[names.CATALOG_WALK], names.CATALOG_WALK))
    def catalog(self) -> None:
        walk_catalog(self.registry, self.shared.settings.page_size)


class RegistryChurnUser(RegistryUser):
    """Tags that move and manifests deleted under load, as CI pipelines and clean-up jobs do (Quay's soak found
    manifest PUTs failing with "blob unknown" within a second of such cycles). Runs only when asked, as browse."""

    weight = 1

    def on_start(self) -> None:
        super().on_start()
        image = self.shared.pick_image()
        self.churn_repository = self.shared.tag_repository(image)  # holds the image's blobs (seeding mounts them)
        # Bytes of this user's own (its seed, its labels): two users uploading the same blob at once make
        # distribution re-link it under the other's manifest PUT, which then answers MANIFEST_BLOB_UNKNOWN (seen
        # with 2.8.2 under a busy core); what churns apart in real fleets is apart here too.
        worker = getattr(self.environment.runner, "worker_index", 0)
        own = 1 + worker * 100_000 + self.index
        self.churn_base = synthetic_image("1x4KiB", self.shared.settings.synthetic_seed + own, "churn")
        self.variants = tag_images(self.churn_base, 2, label=f"w{worker}-u{self.index}-")
        self.moves = itertools.count()

    def store(self, image: Image) -> None:
        for blob in image.blobs:
            if not self.registry.blob_exists(self.churn_repository, blob.digest):
                self.registry.upload_blob(self.churn_repository, blob, "monolithic", blob.size or 1)

    @declared_task(tasks.TAG_CHURN, 3, ("PUT", names.MANIFEST_PUT))
    def tag_churn(self) -> None:
        """Move this user's tag to the other of two manifests."""
        image = self.variants[next(self.moves) % 2]
        self.store(image)
        self.registry.put_manifest(self.churn_repository, f"churn-{self.shared.run_id}-{self.index}", image.manifest)

    @declared_task(tasks.MANIFEST_DELETE, 1, ("DELETE", names.MANIFEST_DELETE))
    def manifest_delete(self) -> None:
        """A manifest of its own (a config naming it), tagged, then deleted by digest."""
        name = self.push_name()
        (image,) = tag_images(self.churn_base, 1, label=name)
        self.store(image)
        self.registry.put_manifest(self.churn_repository, f"del-{name}", image.manifest)
        self.registry.delete_manifest(self.churn_repository, image.manifest.digest)


class RegistryArtifactUser(RegistryUser):
    """OCI 1.1 artifacts as signing and SBOM tools attach them: a signature, an SBOM or an attestation whose
    subject is a seeded image, and the referrers of an image read back (the API, or its fallback tag). Runs
    only when asked, as browse."""

    weight = 1

    @declared_task(tasks.ARTIFACT_PUSH, 1, (names.OPERATION_METHODS[names.ARTIFACT_PUSH], names.ARTIFACT_PUSH))
    def artifact_push(self) -> None:
        image = self.shared.pick_image()
        kind = random.choice(list(ARTIFACT_KINDS))
        subject = image.manifest.descriptor
        push_artifact(self.registry, self.shared.seed_repository(image), subject, kind, self.push_name())

    @declared_task(tasks.REFERRERS_GET, 3, ("GET", names.REFERRERS_GET))
    def referrers_get(self) -> None:
        image = self.shared.pick_image()
        wanted = random.choice([None, *(kind.artifact_type for kind in ARTIFACT_KINDS.values())])
        get_referrers(self.registry, self.shared.seed_repository(image), image.manifest.digest, wanted)


class OpenModelUser(User):
    """Holds Locust's place in an open-model run: Locust's runner needs a user class, but arrivals run on the
    open model's own greenlets and clients (open_model/arrival_pool.py), so the -u users of this class only wait."""

    wait_time = constant(3600)

    @task
    def hold(self) -> None:
        """Nothing: waiting is where Locust stops a user at once, so a stop is never held up here."""


USER_CLASSES: Mapping[str, type[RegistryUser]] = MappingProxyType({
    "pull": RegistryPullUser, "push": RegistryPushUser, "browse": RegistryBrowseUser, "churn": RegistryChurnUser,
    "artifact": RegistryArtifactUser,
})  # fmt: skip
"""Our user classes by the name weights give them (`tasks.USER_NAMES`)."""


def declared_tasks() -> dict[str, tuple[type[RegistryUser], Callable[[Any], None], tuple[str, str]]]:
    """Each task's class, function and headline entry, read off the `declared_task` decorators, in the order of
    `tasks.TASK_NAMES`; each task must sit on the class of its kind (`tasks.TASKS_OF`)."""
    found = {
        function.registry_task_name: (user_class, function, function.headline)
        for user_class in USER_CLASSES.values()
        for function in vars(user_class).values()
        if hasattr(function, "registry_task_name")
    }
    assert tuple(USER_CLASSES) == tasks.USER_NAMES and set(found) == set(tasks.TASK_NAMES), sorted(found)
    for user, names_of_kind in tasks.TASKS_OF.items():
        assert all(found[name][0] is USER_CLASSES[user] for name in names_of_kind), user
    return {name: found[name] for name in tasks.TASK_NAMES}


DECLARED = MappingProxyType(declared_tasks())
TASKS = MappingProxyType({name: (user_class, function) for name, (user_class, function, _) in DECLARED.items()})
"""Each task's class and function (the open model runs one per arrival)."""
HEADLINES = MappingProxyType({name: headline for name, (_, _, headline) in DECLARED.items()})
"""Each task's headline entry (request type, name): what an open-model arrival of it is timed and dropped as."""
