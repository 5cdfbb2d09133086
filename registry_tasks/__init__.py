"""Locust load tests for container registries (Docker Registry HTTP API V2 / OCI distribution).

The public API for user-written locustfiles (README, "Write your own locustfile"):

    from registry_tasks import RegistryUser, pull_image
    from locust import task

    class Puller(RegistryUser):
        @task
        def pull(self):
            target = self.shared.pick_target()
            pull_image(self.registry, target.repository, target.reference, self.shared.settings.platform, 3)

Names are loaded on first use, so that `import registry_tasks.image` (or the `audit` command) does not import
Locust; taking a user class imports `registry_tasks.plugin`, which registers the plugin's listeners.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "registry_tasks.plugin": (
        "RegistryArtifactUser", "RegistryBrowseUser", "RegistryChurnUser", "RegistryPullUser", "RegistryPushUser",
        "RegistryRun", "RegistryUser", "registry_task",
    ),
    "registry_tasks.registry": (
        "ClientConfig", "DigestMismatch", "PullTarget", "RegistryClient", "RegistryError", "RequestFailed",
        "image_exists", "mount_image", "names", "pull_image", "push_image", "resolve_target",
    ),
    "registry_tasks.sources": (
        "FixtureError", "load_docker_save", "load_fixtures", "load_oci_layout", "synthetic_image",
    ),
    "registry_tasks.image": ("Blob", "Descriptor", "Image", "ImageError", "Platform", "UniqueImageTemplate"),
    "registry_tasks.config": ("Settings", "SettingsError"),
    "registry_tasks.errors": ("RegistryTasksError",),
}  # fmt: skip
_MODULE_OF = {name: module for module, exported in _EXPORTS.items() for name in exported}
__all__ = [
    "Blob", "ClientConfig", "Descriptor", "DigestMismatch", "FixtureError", "Image", "ImageError", "Platform",
    "PullTarget", "RegistryArtifactUser", "RegistryBrowseUser", "RegistryChurnUser", "RegistryClient",
    "RegistryError", "RegistryPullUser", "RegistryPushUser", "RegistryRun", "RegistryTasksError", "RegistryUser",
    "RequestFailed", "Settings", "SettingsError", "UniqueImageTemplate", "image_exists", "load_docker_save",
    "load_fixtures", "load_oci_layout", "mount_image", "names", "pull_image", "push_image", "registry_task",
    "resolve_target", "synthetic_image"
]  # fmt: skip  # fmt: skip  # fmt: skip
assert sorted(_MODULE_OF) == __all__

if TYPE_CHECKING:
    from .config import Settings, SettingsError
    from .errors import RegistryTasksError
    from .image import Blob, Descriptor, Image, ImageError, Platform, UniqueImageTemplate
    from .plugin import (
        RegistryBrowseUser,
        RegistryPullUser,
        RegistryPushUser,
        RegistryRun,
        RegistryUser,
        registry_task,
    )
    from .registry import (
        ClientConfig,
        DigestMismatch,
        PullTarget,
        RegistryClient,
        RegistryError,
        RequestFailed,
        image_exists,
        mount_image,
        names,
        pull_image,
        push_image,
        resolve_target,
    )
    from .sources import FixtureError, load_docker_save, load_fixtures, load_oci_layout, synthetic_image


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'registry_tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted((*globals(), *__all__))
