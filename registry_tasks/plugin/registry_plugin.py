"""One `RegistryPlugin` per Locust environment: the run of its process and every listener of the plugin.

Importing the plugin calls `register(locust.events)`, the one hook at import: our options in Locust's parser
(`config.add_arguments`) and one `init` listener, which makes the environment's RegistryPlugin (held as
`environment.registry_tasks`, where users find their run: run/state.py's `run_of`). Nothing of a run is kept
in a module: everything lives in that object, which registers its own listeners on `environment.events`:

- init (the object's making, in this order): `web_secrets.hide` (secrets out of the web UI page before it
  renders), the run loaded (settings, fixtures and user classes; bad input stops the process here), the web UI's
  start form checked before /swarm starts anything (start_form.py), the Registry tab, the final CSV writer's
  settings, a worker's place in the open model's schedule, `outcome.on_init` (Ctrl-C ends a headless run as -t
  does; a master hears its workers' exit codes).
- heartbeat_sent: `outcome.on_heartbeat` (a master knows each worker's last heartbeat).
- test_start: `on_test_start` (web UI edits taken, then seeding starts, then the open model's schedule), then the
  timeline (figures over time for the charts, where the tables are).
- test_stopping: the open model sends no new arrival, then `outcome.on_test_stopping` (a master notes the workers
  gone or missing before it ends the test).
- report_to_master / worker_report: the open model's figures travel with a worker's stats.
- test_stop: `distributed.drain` (a master first waits for its workers' last figures), then the timeline's last
  sample, then `on_test_stop` (each process deletes its own pushes, `--cleanup`).
- quitting (Locust fires it in reverse order: the last listed runs first): gates (judged on the whole run, summary
  file), outcome (a run that fell short: its exit code), the final CSV (with --json output: one more turn of
  Locust's CSV writer before that output resets the stats), outputs (our table completes the HTML report Locust
  has just written, and the registry CSV), open figures (printed, capacity CSV and exit code).
- quit: the final CSV (without --json output: one more writer turn; Locust closes its CSV files next), outputs
  (the registry table and the open model's lines, after Locust's own tables), outcome (what a run that fell short
  is missing, in one line, last).

Registering twice is a no-op (a mark on the events object), so importing the plugin from several locustfiles is
harmless; so is a second `init` of one environment.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from ..config import SettingsError, add_arguments
from ..registry import RegistryClient
from ..registry.cleanup import PushLedger, count_only_deletes, delete_pushed
from ..registry.pushed_log import PushedLog
from . import start_form
from .open_model import replay
from .open_model.figures import OpenFigures
from .open_model.runs import finish_run
from .open_model.shape_classes import install_shape
from .reporting import gates, recorder, web_secrets
from .reporting.final_csv import FinalCsv
from .reporting.history import Timeline
from .reporting.outputs import Outputs
from .reporting.recorder import Recorder
from .run import distributed
from .run.checks import STARTUP_ERRORS, check_host_given, check_open_model, fail, open_mode, quiet_workers_tag_warning
from .run.checks import writes as open_model_writes
from .run.distributed import FixtureCheck
from .run.outcome import Outcome, Shortfall
from .run.seeding import prepare
from .run.state import ATTRIBUTE, RegistryRun, load_run
from .users.choice import choose_user_classes, take_choice
from .users.classes import RegistryPushUser

log = logging.getLogger("registry_tasks.plugin.lifecycle")
REGISTERED = "registry_tasks_registered"
"""The mark `register` leaves on an events object."""


def register(events: Any) -> None:
    """Attach the plugin to Locust's `events` (the module-level `locust.events`): our options, and the `init`
    listener that makes each environment's RegistryPlugin."""
    if getattr(events, REGISTERED, False):
        return
    setattr(events, REGISTERED, True)
    events.init_command_line_parser.add_listener(add_arguments)
    events.init.add_listener(on_init)


def on_init(environment: Environment, **_: Any) -> None:
    if plugin_of(environment) is None:
        RegistryPlugin(environment).start()


def plugin_of(environment: Any) -> RegistryPlugin | None:
    """The environment's RegistryPlugin, once Locust's `init` made it."""
    plugin = getattr(environment, ATTRIBUTE, None)
    return plugin if isinstance(plugin, RegistryPlugin) else None


class RegistryPlugin:
    """Everything the plugin keeps for one environment: the run (settings, images, targets, choice of users), the
    open model's run and figures, the history and its sampler, the outcome, the fixture check with the master,
    the push ledger and --pushed-log writer, the --record recorder, the final CSV writer's settings, the
    reports."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.run: RegistryRun | None = None
        self.outcome = Outcome()
        self.fixtures = FixtureCheck()
        self.figures = OpenFigures()
        self.timeline = Timeline(self.figures.parts)
        self.outputs = Outputs(environment, self.timeline, self.figures, lambda: self.run)
        self.final_csv = FinalCsv()
        self.pushed = PushLedger()  # this process's image pushes, for --cleanup
        self.pushed_log = PushedLog()  # this process's one --pushed-log writer
        self.recorder: Recorder | None = None
        setattr(environment, ATTRIBUTE, self)

    def start(self) -> None:
        """At init: load and check, then listen (the order of the module's docstring)."""
        environment = self.environment
        web_secrets.hide(environment)
        self.load()
        start_form.install(environment, lambda: self.run)
        self.outputs.install_tab()
        self.final_csv.on_init(environment)
        self.figures.on_init(environment)
        self.outcome.on_init(environment)
        events = environment.events
        events.heartbeat_sent.add_listener(self.outcome.on_heartbeat)
        events.test_start.add_listener(self.on_test_start)
        events.test_start.add_listener(self.timeline.on_test_start)
        events.test_stopping.add_listener(self.on_test_stopping)
        events.test_stopping.add_listener(self.outcome.on_test_stopping)
        events.report_to_master.add_listener(self.figures.on_report_to_master)
        events.worker_report.add_listener(self.on_worker_report)
        for on_test_stop in (self.on_drain, self.timeline.on_test_stop, self.on_test_stop):
            events.test_stop.add_listener(on_test_stop)
        for on_quitting in (self.on_gates, self.on_outcome, self.final_csv.on_quitting, self.outputs.on_quitting,
                            self.on_open_figures):  # fmt: skip
            events.quitting.add_listener(on_quitting)
        events.quit.add_listener(self.final_csv.on_quit)
        events.quit.add_listener(self.outputs.on_quit)
        events.quit.add_listener(self.outcome.on_quit)

    def load(self) -> None:
        """Settings and fixtures, once per process, before any user exists; bad input ends the process here. The
        user classes are chosen here too, before Locust's dispatcher exists (users/choice.py)."""
        environment = self.environment
        quiet_workers_tag_warning(environment)
        try:
            run = self.run = load_run(environment.host, environment.parsed_options)
            check_open_model(environment, run.settings)
            check_host_given(environment)
            run.replay_plan = replay.check_replay(run.settings)
            run.choice = choose_user_classes(environment, run.settings)
            if run.settings.load_shape and not open_mode(run.settings):
                install_shape(environment, run.settings.load_shape)
        except STARTUP_ERRORS as exc:
            fail(str(exc))
            return
        self.fixtures.listen(environment, lambda: self.run.images if self.run else [])

    def stop_run(self, message: Any) -> None:
        log.error("%s", message)
        if self.environment.runner is not None:
            self.environment.runner.quit()

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        """Pick up web UI edits (checked by start_form.py before the start; a worker takes the master's options and
        with them its task lists), then seed (not on a master)."""
        try:
            fresh = load_run(environment.host, environment.parsed_options)
        except STARTUP_ERRORS as exc:
            self.stop_run(exc)
            return
        run = self.run
        if run is None or fresh.settings != run.settings:
            if run is not None:
                fresh.choice, fresh.phases = run.choice, run.phases
            run = self.run = fresh
        try:
            check_open_model(environment, run.settings)
            if run.settings.replay and run.replay_plan is None:
                run.replay_plan = replay.check_replay(run.settings)
            if isinstance(environment.runner, WorkerRunner):  # the master's options are in force now
                run.choice = take_choice(environment, run.settings)
        except SettingsError as exc:
            self.stop_run(exc)
            return
        self.fixtures.report(environment, run.images)
        if isinstance(environment.runner, MasterRunner) or not environment.host:
            run.seeded.set()
            self.figures.start(environment, run)
            return
        if not run.seeded.is_set() and run.preparing is None:  # a greenlet: a worker's message loop must not wait
            seeder = getattr(environment.runner, "worker_index", 0) == 0
            writes = RegistryPushUser in (run.choice.classes if run.choice else ()) or open_model_writes(run.settings)
            seeding = not run.settings.replay  # a replay's warm-up makes what it reads: the fixtures are not seeded
            run.preparing = gevent.spawn(self.prepare_or_stop, run, writes, seeder, seeding)
        if run.settings.cleanup:
            self.pushed.watch(environment.events.request, run.push_repository(""))
        self.pushed_log.watch(environment.events.request, run.settings.pushed_log)
        self.recorder = recorder.watch(self.recorder, environment.events.request, run.settings.record)
        self.figures.start(environment, run)

    def prepare_or_stop(self, run: RegistryRun, writes: bool, seeder: bool, seeding: bool) -> None:
        """Check the registry and seed; when that fails (one line said why), the run stops before any load."""
        environment = self.environment
        if prepare(run, environment.host or "", writes, seeder, seeding, self.fixtures.same_images_as_master):
            return
        environment.process_exit_code = 1
        runner = environment.runner
        if runner is not None and not isinstance(runner, WorkerRunner):
            finish_run(environment)
        elif runner is not None:
            runner.quit()  # a worker: its master sees it leave

    def on_test_stopping(self, environment: Environment, **_: Any) -> None:
        """The open model sends no new arrival; those in flight get --stop-timeout seconds, as users do."""
        self.figures.stop(environment)

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        self.figures.on_worker_report(self.run, client_id, data)

    def on_drain(self, environment: Environment, **_: Any) -> None:
        distributed.drain(environment)

    def on_test_stop(self, environment: Environment, **_: Any) -> None:
        """--cleanup: each process deletes what its own users pushed (a master pushed nothing)."""
        pushed = self.pushed.take()
        run = self.run
        if run is None or not run.settings.cleanup or not pushed or not environment.host:
            return
        fire = count_only_deletes(environment.events.request.fire)
        client = RegistryClient(environment.host, fire, run.client_config(environment.host))
        try:
            delete_pushed(client, pushed, run.settings.push_parallel)
        finally:
            client.close()

    def judge(self) -> Shortfall | None:
        """What the run did not do (outcome.py), once; the open model's part from its figures."""
        return self.outcome.judge(self.environment, self.run, lambda: self.figures.shortfall(self.run))

    def on_gates(self, environment: Environment, **_: Any) -> None:
        gates.on_quitting(environment, self.judge, self.figures)

    def on_outcome(self, environment: Environment, **_: Any) -> None:
        self.outcome.on_quitting(environment, self.run, lambda: self.figures.shortfall(self.run))

    def on_open_figures(self, environment: Environment, **_: Any) -> None:
        self.figures.on_quitting(environment, self.run)
