"""Locust user classes: thin, they choose an image and a repository and run one client call or workflow.

`RegistryUser` is the base class for user-written locustfiles too: each user gets its own `RegistryClient`
(`self.registry`) reporting into Locust's stats, and the process's shared run (`self.shared`: settings,
seeded images, pull targets), and waits for seeding before its first task.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import gevent
from locust import User, constant, tag, task
from locust.exception import StopUser

from ..image import Blob, Image
from ..load import tasks
from ..registry import PullTarget, RegistryClient, RequestFailed, names, pull_image, push_image
from ..registry.artifacts import ARTIFACT_KINDS, get_referrers, push_artifact
from ..registry.listings import walk_catalog, walk_tags
from ..registry.populate import tag_images
from ..registry.profiles import DEFAULT as DEFAULT_PROFILE
from ..sources import synthetic_image
from . import state


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


class RegistryUser(User):
    """Common start and stop: one RegistryClient per user, waiting for seeding before the first task."""

    abstract = True
    reporter: Callable[..., None] | None = None
    """Where this user's requests are reported; None: Locust's request event (the open model sets its own)."""
    default_profile = DEFAULT_PROFILE
    """The client profile when neither --client-profile nor --client-mix names one (rollout nodes: containerd)."""

    def on_start(self) -> None:
        self.shared = state.current()
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

    @tag(tasks.MANIFEST_GET)
    @task(3)
    @registry_task
    def manifest_get(self) -> None:
        target = self.target()
        self.registry.get_manifest(target.repository, target.reference)

    @tag(tasks.BLOB_GET)
    @task(2)
    @registry_task
    def blob_get(self) -> None:
        target = self.target()
        blob = random.choice(target.blobs)
        self.registry.get_blob(target.repository, blob.digest, blob.size)

    @tag(tasks.IMAGE_PULL)
    @task(1)
    @registry_task
    def image_pull(self) -> None:
        target = self.target()
        settings = self.shared.settings
        pull_image(self.registry, target.repository, target.reference, settings.platform, settings.pull_parallel)


class RegistryPushUser(RegistryUser):
    """Pushes to a repository and tag of its own per push, so that no two pushes overwrite each other."""

    weight = 1

    @tag(tasks.CHUNKED_UPLOAD)
    @task(1)
    @registry_task
    def chunked_upload(self) -> None:
        name = self.push_name()
        image = self.shared.image_for_push(name)
        blob: Blob = max(image.layers, key=lambda layer: layer.size, default=image.config)
        settings = self.shared.settings
        repository = f"{settings.repository_prefix}/upload-{name}"
        # --upload-mode given: that shape; else Content-Range chunks, whatever the profile
        self.registry.upload_blob(repository, blob, settings.upload_mode or "chunked", settings.chunk_size)

    @tag(tasks.MANIFEST_PUT)
    @task(2)
    @registry_task
    def manifest_put(self) -> None:
        image = self.shared.pick_image()
        self.registry.put_manifest(self.shared.tag_repository(image), f"put-{self.push_name()}", image.manifest)

    @tag(tasks.IMAGE_PUSH)
    @task(1)
    @registry_task
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
    (user_choice.py); the weight is 1 here so that Locust, which drops weight-0 classes as it starts, keeps it."""

    weight = 1

    @tag(tasks.TAGS_LIST)
    @task(3)
    @registry_task
    def tags_list(self) -> None:
        if not self.shared.targets:
            raise StopUser()
        walk_tags(self.registry, self.shared.pick_target().repository, self.shared.settings.page_size)

    @tag(tasks.CATALOG)
    @task(1)
    @registry_task
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
        self.churn_base = synthetic_image("1x4KiB", self.shared.settings.synthetic_seed, "churn")
        self.variants = tag_images(self.churn_base, 2)
        self.moves = itertools.count()

    def store(self, image: Image) -> None:
        for blob in image.blobs:
            if not self.registry.blob_exists(self.churn_repository, blob.digest):
                self.registry.upload_blob(self.churn_repository, blob, "monolithic", blob.size or 1)

    @tag(tasks.TAG_CHURN)
    @task(3)
    @registry_task
    def tag_churn(self) -> None:
        """Move this user's tag to the other of two manifests."""
        image = self.variants[next(self.moves) % 2]
        self.store(image)
        self.registry.put_manifest(self.churn_repository, f"churn-{self.shared.run_id}-{self.index}", image.manifest)

    @tag(tasks.MANIFEST_DELETE)
    @task(1)
    @registry_task
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

    @tag(tasks.ARTIFACT_PUSH)
    @task(1)
    @registry_task
    def artifact_push(self) -> None:
        image = self.shared.pick_image()
        kind = random.choice(list(ARTIFACT_KINDS))
        subject = image.manifest.descriptor
        push_artifact(self.registry, self.shared.seed_repository(image), subject, kind, self.push_name())

    @tag(tasks.REFERRERS_GET)
    @task(3)
    @registry_task
    def referrers_get(self) -> None:
        image = self.shared.pick_image()
        wanted = random.choice([None, *(kind.artifact_type for kind in ARTIFACT_KINDS.values())])
        get_referrers(self.registry, self.shared.seed_repository(image), image.manifest.digest, wanted)


USER_CLASSES: dict[str, type[RegistryUser]] = {
    "pull": RegistryPullUser, "push": RegistryPushUser, "browse": RegistryBrowseUser, "churn": RegistryChurnUser,
    "artifact": RegistryArtifactUser,
}  # fmt: skip
TASKS = {
    tasks.MANIFEST_GET: (RegistryPullUser, RegistryPullUser.manifest_get),
    tasks.BLOB_GET: (RegistryPullUser, RegistryPullUser.blob_get),
    tasks.IMAGE_PULL: (RegistryPullUser, RegistryPullUser.image_pull),
    tasks.CHUNKED_UPLOAD: (RegistryPushUser, RegistryPushUser.chunked_upload),
    tasks.MANIFEST_PUT: (RegistryPushUser, RegistryPushUser.manifest_put),
    tasks.IMAGE_PUSH: (RegistryPushUser, RegistryPushUser.image_push),
    tasks.TAGS_LIST: (RegistryBrowseUser, RegistryBrowseUser.tags_list),
    tasks.CATALOG: (RegistryBrowseUser, RegistryBrowseUser.catalog),
    tasks.TAG_CHURN: (RegistryChurnUser, RegistryChurnUser.tag_churn),
    tasks.MANIFEST_DELETE: (RegistryChurnUser, RegistryChurnUser.manifest_delete),
    tasks.ARTIFACT_PUSH: (RegistryArtifactUser, RegistryArtifactUser.artifact_push),
    tasks.REFERRERS_GET: (RegistryArtifactUser, RegistryArtifactUser.referrers_get),
}

HEADLINES = {
    tasks.MANIFEST_GET: ("GET", names.MANIFEST_GET),
    tasks.BLOB_GET: ("GET", names.BLOB_GET),
    tasks.IMAGE_PULL: (names.OPERATION_METHODS[names.IMAGE_PULL], names.IMAGE_PULL),
    tasks.CHUNKED_UPLOAD: ("PUT", names.UPLOAD_FINISH),
    tasks.MANIFEST_PUT: ("PUT", names.MANIFEST_PUT),
    tasks.IMAGE_PUSH: (names.OPERATION_METHODS[names.IMAGE_PUSH], names.IMAGE_PUSH),
    tasks.TAGS_LIST: (names.OPERATION_METHODS[names.TAGS_WALK], names.TAGS_WALK),
    tasks.CATALOG: (names.OPERATION_METHODS[names.CATALOG_WALK], names.CATALOG_WALK),
    tasks.TAG_CHURN: ("PUT", names.MANIFEST_PUT),
    tasks.MANIFEST_DELETE: ("DELETE", names.MANIFEST_DELETE),
    tasks.ARTIFACT_PUSH: (names.OPERATION_METHODS[names.ARTIFACT_PUSH], names.ARTIFACT_PUSH),
    tasks.REFERRERS_GET: ("GET", names.REFERRERS_GET),
}
"""Each task's headline entry (request type, name): what an open-model arrival of it is timed and dropped as."""


class OpenModelUser(User):
    """Holds Locust's place in an open-model run: Locust's runner needs a user class, but arrivals run on the
    open model's own greenlets and clients (open_model.py), so the -u users of this class only wait."""

    wait_time = constant(3600)

    @task
    def hold(self) -> None:
        """Nothing: waiting is where Locust stops a user at once, so a stop is never held up here."""


assert tuple(TASKS) == tasks.TASK_NAMES == tuple(HEADLINES) and tuple(USER_CLASSES) == tasks.USER_NAMES

