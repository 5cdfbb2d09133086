"""The run's life in one process: load the settings and fixtures at init, seed at test start, clean up at stop.

Plain functions; `listeners.register` attaches them to Locust's events.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from ..config import SettingsError
from ..image import ImageError
from ..registry import RegistryClient
from ..registry.auth import AuthError
from ..registry.cleanup import PushLedger, count_only_deletes, delete_pushed
from ..registry.pushed_log import PushedLog
from . import distributed, open_figures, open_runs, recorder, replay, state
from .seeding import prepare
from .shapes import install_shape
from .users import OpenModelUser, RegistryPushUser, apply_weights

log = logging.getLogger(__name__)
STARTUP_ERRORS = (SettingsError, ImageError, AuthError)

_pushed = PushLedger()  # this process's image pushes, for --cleanup
_pushed_log = PushedLog()  # this process's one --pushed-log writer


def fail(message: str) -> None:
    """One clear line and a non-zero exit: a bad fixture or option must not start a load test."""
    log.error("%s", message)
    sys.exit(1)


def on_init(environment: Environment, **_: Any) -> None:
    """Load settings and fixtures once per process, before any user exists; bad input ends the process here."""
    try:
        run = state.install(state.load_run(environment.host, environment.parsed_options))
        apply_weights(run.settings)
        check_open_model(environment, run.settings)
        run.replay_plan = replay.check(run.settings)
        choose_user_classes(environment, run.settings)
        if run.settings.load_shape and not open_runs.open_mode(run.settings):
            install_shape(environment, run.settings.load_shape)
    except STARTUP_ERRORS as exc:
        fail(str(exc))
        return
    distributed.share_images(environment, run_images)


_closed_loop_classes: list[type] = []


def choose_user_classes(environment: Environment, settings: Any) -> None:
    """The open model runs on its own clients: Locust's users are then one placeholder class that only waits."""
    if not _closed_loop_classes:
        _closed_loop_classes.extend(cls for cls in environment.user_classes if cls is not OpenModelUser)
    environment.user_classes = [OpenModelUser] if open_runs.open_mode(settings) else list(_closed_loop_classes)


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
    if settings.load_shape and open_runs.open_mode(settings) and not getattr(options, "run_time", None):
        raise SettingsError("--load-shape needs -t/--run-time: the shape spans the run")


def run_images() -> list[Any]:
    run = state.current_or_none()
    return run.images if run else []


def on_test_start(environment: Environment, **_: Any) -> None:
    """Pick up web UI edits, drop classes that --tags left without tasks, then seed (not on a master)."""
    try:
        fresh = state.load_run(environment.host, environment.parsed_options)
    except STARTUP_ERRORS as exc:
        log.error("%s", exc)
        if environment.runner is not None:
            environment.runner.quit()
        return
    run = state.current_or_none()
    if run is None or fresh.settings != run.settings:
        run = state.install(fresh)
    try:
        check_open_model(environment, run.settings)
        if run.settings.replay and run.replay_plan is None:
            run.replay_plan = replay.check(run.settings)
    except SettingsError as exc:
        log.error("%s", exc)
        if environment.runner is not None:
            environment.runner.quit()
        return
    choose_user_classes(environment, run.settings)
    with_tasks = [cls for cls in environment.user_classes if cls.tasks]
    if getattr(environment.parsed_options, "tags", None):  # --tags picked tasks of a class run only when asked
        for cls in with_tasks:
            if getattr(cls, "awaits_tags", False):
                cls.weight = 1
    environment.user_classes = [cls for cls in with_tasks if cls.weight > 0]
    distributed.report_images(environment, run.images)
    if isinstance(environment.runner, MasterRunner) or not environment.host:
        run.seeded.set()
        open_figures.start(environment, run)
        return
    if not run.seeded.is_set() and run.preparing is None:  # a greenlet: a worker's message loop must not wait
        seeder = getattr(environment.runner, "worker_index", 0) == 0
        writes = RegistryPushUser in environment.user_classes or open_runs.writes(run.settings)
        seeding = not run.settings.replay  # a replay's warm-up makes what it reads: the fixtures are not seeded
        run.preparing = gevent.spawn(prepare_or_stop, environment, run, writes, seeder, seeding)
    if run.settings.cleanup:
        _pushed.watch(environment.events.request, run.push_repository(""))
    _pushed_log.watch(environment.events.request, run.settings.pushed_log)
    recorder.watch(environment.events.request, run.settings.record)
    open_figures.start(environment, run)


def prepare_or_stop(
    environment: Environment, run: state.RegistryRun, writes: bool, seeder: bool, seeding: bool
) -> None:
    """Check the registry and seed; when that fails (one line said why), the run stops before any load."""
    if prepare(run, environment.host or "", writes, seeder, seeding):
        return
    environment.process_exit_code = 1
    runner = environment.runner
    if runner is not None and not isinstance(runner, WorkerRunner):
        open_runs.finish_run(environment)
    elif runner is not None:
        runner.quit()  # a worker: its master sees it leave


def on_test_stopping(environment: Environment, **_: Any) -> None:
    """The open model sends no new arrival; those in flight get --stop-timeout seconds, as users do."""
    open_figures.stop(environment)


def on_test_stop(environment: Environment, **_: Any) -> None:
    """--cleanup: each process deletes what its own users pushed (a master pushed nothing)."""
    pushed = _pushed.take()
    run = state.current_or_none()
    if run is None or not run.settings.cleanup or not pushed or not environment.host:
        return
    fire = count_only_deletes(environment.events.request.fire)
    client = RegistryClient(environment.host, fire, run.client_config(environment.host))
    try:
        delete_pushed(client, pushed, run.settings.push_parallel)
    finally:
        client.close()
