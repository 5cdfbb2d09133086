"""What is refused before any load, with one clear line: options that cannot work together, a headless run
without a host; and what kind of run the options ask for (open model or closed loop)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from ...config import Settings, SettingsError
from ...image import ImageError
from ...load import tasks
from ...registry.auth import AuthError

log = logging.getLogger("registry_tasks.plugin.lifecycle")
STARTUP_ERRORS = (SettingsError, ImageError, AuthError)


def fail(message: str) -> None:
    """One clear line and a non-zero exit: a bad fixture or option must not start a load test."""
    log.error("%s", message)
    sys.exit(1)


def open_mode(settings: Settings) -> bool:
    return bool(settings.arrival_rate or settings.rollout or settings.find_capacity or settings.replay)


def writes(settings: Settings) -> bool:
    """Whether the open model pushes (and so needs manifest-put's seeded repository)."""
    entries = set(settings.arrival_rate) | {settings.find_capacity}
    return bool(entries & set(tasks.PUSH_TASKS))


def check_host_given(environment: Environment) -> None:
    """A headless run without -H would only fail every request: refuse it (the web UI asks for the host)."""
    headless = getattr(environment.parsed_options, "headless", False)
    if not environment.host and headless and not isinstance(environment.runner, WorkerRunner):
        raise SettingsError("no registry to load: give its URL with -H/--host, e.g. -H http://127.0.0.1:5000")


def check_open_model(environment: Environment, settings: Any) -> None:
    """Open-model options that cannot work together, refused before any load."""
    modes = [name for name, given in (("--arrival-rate", settings.arrival_rate), ("--rollout", settings.rollout),
                                      ("--find-capacity", settings.find_capacity), ("--replay", settings.replay))
             if given]  # fmt: skip
    if len(modes) > 1:
        raise SettingsError(f"{' and '.join(modes)} are schedules of their own: give one")
    if settings.find_capacity and settings.slo is None:
        raise SettingsError("--find-capacity needs --slo, e.g. --slo p95=200,fail=0.01")
    if settings.slo is not None and not settings.find_capacity:
        raise SettingsError("--slo is the SLO of --find-capacity: give --find-capacity TASK too")
    if settings.rollout_update and settings.rollout is None:
        raise SettingsError("--rollout-update rolls a --rollout's nodes on: give --rollout NODES too")
    if settings.find_capacity and isinstance(environment.runner, (MasterRunner, WorkerRunner)):
        raise SettingsError("--find-capacity runs in one process (no --master, --worker or --processes): "
                            "its steps are judged on one clock")  # fmt: skip
    options = environment.parsed_options
    if settings.load_shape and open_mode(settings) and not getattr(options, "run_time", None):
        raise SettingsError("--load-shape needs -t/--run-time: the shape spans the run")


def quiet_workers_tag_warning(environment: Environment) -> None:
    """On a worker, Locust filters every class it may be sent by the master's --tags, and warns for each one left
    without tasks; the master spawns none of those (it chose its classes by the same tags), so the warning
    says nothing there."""
    if isinstance(environment.runner, WorkerRunner):
        logging.getLogger().addFilter(lambda record: "had no tasks left after filtering" not in record.getMessage())
