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
from . import distributed, open_figures, open_runs, recorder, replay, state, user_choice
from .seeding import prepare
from .shapes import install_shape
from .users import RegistryPushUser

log = logging.getLogger(__name__)
STARTUP_ERRORS = (SettingsError, ImageError, AuthError)

_pushed = PushLedger()  # this process's image pushes, for --cleanup
_pushed_log = PushedLog()  # this process's one --pushed-log writer


def fail(message: str) -> None:
    """One clear line and a non-zero exit: a bad fixture or option must not start a load test."""
    log.error("%s", message)
    sys.exit(1)


def on_init(environment: Environment, **_: Any) -> None:
    """Load settings and fixtures once per process, before any user exists; bad input ends the process here.
    The user classes are chosen here too, before Locust's dispatcher exists (user_choice.py)."""
    quiet_workers_tag_warning(environment)
    try:
        run = state.install(state.load_run(environment.host, environment.parsed_options))
        check_open_model(environment, run.settings)
        check_host_given(environment)
        run.replay_plan = replay.check(run.settings)
        run.choice = choose_user_classes(environment, run.settings)
        if run.settings.load_shape and not open_runs.open_mode(run.settings):
            install_shape(environment, run.settings.load_shape)
    except STARTUP_ERRORS as exc:
        fail(str(exc))
        return
    distributed.share_images(environment, run_images)


def check_host_given(environment: Environment) -> None:
    """A headless run without -H would only fail every request: refuse it (the web UI asks for the host)."""
    headless = getattr(environment.parsed_options, "headless", False)
    if not environment.host and headless and not isinstance(environment.runner, WorkerRunner):
        raise SettingsError("no registry to load: give its URL with -H/--host, e.g. -H http://127.0.0.1:5000")


def choose_user_classes(environment: Environment, settings: Any) -> user_choice.UserChoice:
    """A master or local runner spawns exactly the chosen classes; a worker keeps all it may be sent and takes
    the task lists of the options in force (its own at init, the master's at each test start)."""
    choice = user_choice.decide(user_choice.locustfile_classes(environment), settings, environment.parsed_options)
    choice.apply()
    if getattr(environment.parsed_options, "class_picker", False):
        choice.offer_to_picker()
    if isinstance(environment.runner, WorkerRunner):
        environment.user_classes = user_choice.worker_classes(environment)
    else:
        environment.user_classes = list(choice.classes)
    return choice


def quiet_workers_tag_warning(environment: Environment) -> None:
    """On a worker, Locust filters every class it may be sent by the master's --tags, and warns for each one left
    without tasks; the master spawns none of those (it chose its classes by the same tags), so the warning
    says nothing there."""
    if isinstance(environment.runner, WorkerRunner):
        logging.getLogger().addFilter(lambda record: "had no tasks left after filtering" not in record.getMessage())


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
    """Pick up web UI edits (checked by start_form.py before the start; a worker takes the master's options and
    with them its task lists), then seed (not on a master)."""
    try:
        fresh = state.load_run(environment.host, environment.parsed_options)
    except STARTUP_ERRORS as exc:
        log.error("%s", exc)
        if environment.runner is not None:
            environment.runner.quit()
        return
    run = state.current_or_none()
    if run is None or fresh.settings != run.settings:
        fresh.choice = run.choice if run else None
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
    if isinstance(environment.runner, WorkerRunner):  # the master's options are in force now
        try:
            run.choice = choose_user_classes(environment, run.settings)
        except SettingsError as exc:
            log.error("%s", exc)
            environment.runner.quit()
            return
    distributed.report_images(environment, run.images)
    if isinstance(environment.runner, MasterRunner) or not environment.host:
        run.seeded.set()
        open_figures.start(environment, run)
        return
    if not run.seeded.is_set() and run.preparing is None:  # a greenlet: a worker's message loop must not wait
        seeder = getattr(environment.runner, "worker_index", 0) == 0
        writes = RegistryPushUser in (run.choice.classes if run.choice else ()) or open_runs.writes(run.settings)
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
