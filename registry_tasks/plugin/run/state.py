"""The state one load-generator process shares between its users: checked settings, loaded images, pull targets.

One `RegistryRun` per Locust environment, built when Locust starts (bad fixtures or options stop the process
there with one clear line) and rebuilt at each test start, when web UI edits to the options take effect. The
environment's `RegistryPlugin` (plugin/registry_plugin.py) holds it; users reach it with `run_of(environment)`.
Seeding it lives in seeding.py.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

import gevent
import gevent.event

from ...config import Settings, SettingsError, check_host, client_config, credentials, settings_from
from ...image import Image, UniqueImageTemplate
from ...image.derived import updated_image
from ...load.popularity import Picker
from ...registry import ClientConfig, PullTarget
from ...registry.profiles import DEFAULT as DEFAULT_PROFILE
from ...registry.profiles import MINIMAL, ClientProfile, profile_named
from ...sources import load_fixtures, synthetic_image
from .progress import Phases

log = logging.getLogger("registry_tasks.plugin.state")


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
    client_configs: dict[tuple[ClientProfile, str], ClientConfig] = field(default_factory=dict)
    picker: tuple[list[PullTarget], Picker] | None = None
    replay_plan: Any = None
    """--replay: the trace's plan (load.replay_plan.ReplayPlan), made once when the run is built."""
    choice: Any = None
    """The user classes, weights and task lists chosen from the options (users/choice.py's UserChoice)."""
    phases: Phases = field(default_factory=Phases)
    """Progress of the long phases before the load (seeding, a replay's warm-up), for the log and the web UI."""
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
        """An image to pull: by --popularity over the repositories (populated ones, or the fixtures), else
        --pull-image targets alike, seeded fixtures in the shares of --image-mix."""
        if self.settings.popularity.name != "uniform" or self.settings.populate is not None:
            return self.targets[self._picker().pick()]
        mix = None if self.settings.pull_image else self.settings.image_mix or None
        return random.choices(self.targets, mix)[0]

    def _picker(self) -> Picker:
        targets = self.targets
        if self.picker is None or self.picker[0] is not targets:
            order = {repository: rank for rank, repository in enumerate(dict.fromkeys(t.repository for t in targets))}
            self.picker = (targets, Picker([order[target.repository] for target in targets], self.settings.popularity))
        return self.picker[1]

    def image_for_push(self, token: str) -> Image:
        """A fixture image, made new bytes per push when --unique-layers asks for it."""
        image = self.pick_image()
        if not self.settings.unique_layers:
            return image
        template = self.uniques.get(image.name)
        if template is None:
            template = self.uniques[image.name] = UniqueImageTemplate.of(image)
        return template.make(token)

    def client_config(self, host: str, profile: ClientProfile = MINIMAL) -> ClientConfig:
        """Built once per host and profile and shared by every user: credentials may come from a docker config."""
        key = (profile, host)  # by the profile itself: a user's file may share a built-in profile's name
        config = self.client_configs.get(key)
        if config is None:
            config = self.client_configs[key] = client_config(self.settings, host, profile)
        return config

    def pick_profile(self, default: str = DEFAULT_PROFILE) -> ClientProfile:
        """The client a new user sends as: --client-profile, or one drawn in the shares of --client-mix, or the
        mode's own (`default`: docker for users and arrivals, containerd for rollout nodes)."""
        mix = self.settings.client_mix
        name = random.choices(list(mix), list(mix.values()))[0] if mix else self.settings.client_profile or default
        return profile_named(name)


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
    if settings.rollout_update:
        if settings.pull_image:
            raise SettingsError("--rollout-update derives the update from a seeded fixture: not with --pull-image")
        images = [*images, updated_image(images[0])]  # seeded as targets[1], beside the image it updates
    if settings.image_mix and settings.popularity.name != "uniform":
        raise SettingsError("--image-mix and --popularity both choose what is pulled: keep one")
    if settings.client_mix and settings.client_profile != Settings.client_profile:
        raise SettingsError("--client-mix and --client-profile both choose the clients: keep one")
    if settings.pull_push_ratio and settings.user_weights:
        raise SettingsError("--pull-push-ratio and the scenario's user-weights both set the pull/push mix: keep one")
    credentials(settings, host or "")  # an unreadable docker config stops us here, not mid-run
    if settings.registry_insecure:
        log.warning("--registry-insecure: the registry's TLS certificate is not verified")
    return RegistryRun(settings, images)


ATTRIBUTE = "registry_tasks"
"""The attribute of a Locust environment that holds its `RegistryPlugin` (set at Locust's `init`)."""


class HoldsRun(Protocol):
    run: RegistryRun | None


def run_of(environment: Any) -> RegistryRun:
    """The run of the process `environment` belongs to; users call it at their start (`self.environment`)."""
    plugin: HoldsRun | None = getattr(environment, ATTRIBUTE, None)
    if plugin is None or plugin.run is None:
        raise RuntimeError("registry_tasks was not initialised (import registry_tasks.plugin from the locustfile)")
    return plugin.run
