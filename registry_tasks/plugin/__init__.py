"""Everything that imports Locust, by role: run/ (the process's run: settings, images, seeding, checks, outcome),
users/ (the closed-loop user classes and which of them run), open_model/ (arrivals, rollouts, capacity search,
replay, load shapes), reporting/ (tables, charts, gates, CSV, --record), and above them `RegistryPlugin`
(registry_plugin.py), one per Locust environment, which owns the run and registers the listeners.

Importing this package registers the one hook on `locust.events` that makes that object at Locust's `init`: a
locustfile that imports `registry_tasks.plugin` (or anything from it, or the public names of `registry_tasks`)
gets the options, seeding, gates and reports. The plugin's loggers keep the names of its modules before the
split into sub-packages (`registry_tasks.plugin.outcome`, `.gates`, ...): its log lines are output people read
and filter.
"""

import sys

from locust import events

from . import registry_plugin
from .run.state import RegistryRun
from .users import task_ratio
from .users.classes import (
    RegistryArtifactUser,
    RegistryBrowseUser,
    RegistryChurnUser,
    RegistryPullUser,
    RegistryPushUser,
    RegistryUser,
    registry_task,
)

registry_plugin.register(events)
task_ratio.choose_for_task_ratio(sys.argv)

__all__ = [
    "RegistryArtifactUser", "RegistryBrowseUser", "RegistryChurnUser", "RegistryPullUser", "RegistryPushUser",
    "RegistryRun", "RegistryUser", "registry_task",
]
