"""Everything that imports Locust: user classes, per-process state and seeding, listeners (gates, reports, CSV,
web UI tab, distributed coordination), load shapes.

Importing this package registers the plugin's listeners on `locust.events` (see `listeners`): a locustfile
that imports `registry_tasks.plugin` (or anything from it, or the public names of `registry_tasks`) gets
the options, seeding, gates and reports.
"""

import sys

from locust import events

from . import listeners, task_ratio
from .state import RegistryRun
from .users import (
    RegistryArtifactUser,
    RegistryBrowseUser,
    RegistryChurnUser,
    RegistryPullUser,
    RegistryPushUser,
    RegistryUser,
    registry_task,
)

listeners.register(events)
task_ratio.choose_for_task_ratio(sys.argv)

__all__ = [
    "RegistryArtifactUser", "RegistryBrowseUser", "RegistryChurnUser", "RegistryPullUser", "RegistryPushUser",
    "RegistryRun", "RegistryUser", "registry_task",
]
