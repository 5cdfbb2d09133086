"""Whether a run did what it was asked, said at its end, so that no exit code lies.

A run that was interrupted, lost a worker, sent no request, or ended before its rollout or capacity search did
exits non-zero with one ERROR line saying what is missing, logged last (after the tables). Its gates are then
not evaluated (gates.py): its figures cover only part of what was asked. Exit codes: 130 interrupted (what
shells expect of Ctrl-C), 1 no request made, 4 incomplete (a worker, a rollout or a capacity search).

Ctrl-C (SIGINT) in a headless run ends it as -t does: users stopped, figures final, tables and summary file
written. Python's default raised KeyboardInterrupt in whichever greenlet was running (a user's, mid-request),
which printed a bare traceback and ended with the gates judged and exit 0. A second Ctrl-C exits at once.

A master knows its workers by their heartbeats (Locust's `heartbeat_sent`). When its test stops, one that is
gone from `runner.clients` (it quit on its own) or `missing` (no heartbeat: killed, frozen, cut off) failed;
when it quits, one still there and silent died at the end. A worker whose exit code will not be 0 tells the
master when its test stops (with --processes, Locust itself only logged "Bad response code from worker
children" and exited 0).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import locust.log
from locust.env import Environment
from locust.runners import (
    HEARTBEAT_INTERVAL,
    HEARTBEAT_LIVENESS,
    STATE_INIT,
    STATE_MISSING,
    MasterRunner,
    WorkerRunner,
)

from .checks import open_mode
from .state import RegistryRun

log = logging.getLogger("registry_tasks.plugin.outcome")
NOTHING_EXIT_CODE = 1
INCOMPLETE_EXIT_CODE = 4
INTERRUPTED_EXIT_CODE = 130
WORKER_EXIT_MESSAGE = "registry_tasks_worker_exit"  # worker -> master: {"code": its exit code}, when not 0
LAG_SECONDS = HEARTBEAT_LIVENESS * HEARTBEAT_INTERVAL + 1
"""A worker still connected when the master quits whose last heartbeat lags the freshest one by more than this
died before the end (Locust calls a worker `missing` after HEARTBEAT_LIVENESS silent intervals)."""
SILENT_SECONDS = 10.0
"""Or whose last heartbeat is older than this (every worker went silent)."""


@dataclass(frozen=True)
class Shortfall:
    """What a run did not do: `kind` for the gates' lines, `line` for the log and the summary file."""

    kind: str
    line: str
    exit_code: int


OpenShortfall = Callable[[], "Shortfall | None"]
"""What an open-model run did not finish (a rollout, a capacity search): open_model/figures.py answers."""


@dataclass
class Outcome:
    """One process's observations: an interruption, its workers' heartbeats and fates, the verdict."""

    main: Any = None  # the greenlet Locust's main() runs in: a second Ctrl-C ends it
    sigint: Any = None  # the gevent signal watcher (kept alive while it is installed)
    interrupted_at: float | None = None
    heartbeats: dict[str, float] = field(default_factory=dict)  # worker id -> time of its last heartbeat
    latest: float = 0.0  # the freshest heartbeat of any worker
    failed: dict[str, str] = field(default_factory=dict)  # worker id -> what happened to it
    exit_codes: dict[str, int] = field(default_factory=dict)  # worker id -> the non-zero exit code it told
    told: int = 0  # on a worker: the exit code it told its master
    judged: bool = False
    shortfall: Shortfall | None = None

    def on_init(self, environment: Environment) -> None:
        """Take over Ctrl-C of a headless master or local run (not a worker's: its master ends it); a master hears
        its workers' exit codes; a worker names itself as the master will name it."""
        self.main = gevent.getcurrent()
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            log.info("connected to the master as worker %d (%s)", runner.worker_index, runner.client_id)
            return
        if isinstance(runner, MasterRunner):
            runner.register_message(WORKER_EXIT_MESSAGE, self.on_worker_exit)
        headless = getattr(environment.parsed_options, "headless", False)
        if headless and runner is not None and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self.sigint = gevent.signal_handler(signal.SIGINT, self.on_sigint, environment)

    def on_sigint(self, environment: Environment) -> None:
        """In a greenlet of its own: end the run as -t does; a second Ctrl-C (or one before the test) exits now."""
        runner = environment.runner
        if self.interrupted_at is not None or runner is None or runner.state == STATE_INIT:
            log.error("interrupted (Ctrl-C): exiting at once")
            self.main.throw(SystemExit(INTERRUPTED_EXIT_CODE))
            return
        self.interrupted_at = time.time()
        log.warning("interrupted (Ctrl-C): stopping the run; its figures follow (Ctrl-C again to exit at once)")
        runner.quit()

    def on_heartbeat(self, client_id: str, timestamp: float, **_: Any) -> None:
        """On a master: the workers it knows, and when each was last heard of."""
        self.heartbeats[client_id] = timestamp
        self.latest = max(self.latest, timestamp)

    def on_worker_exit(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.exit_codes[msg.node_id] = int(msg.data["code"])

    def on_test_stopping(self, environment: Environment, **_: Any) -> None:
        """On a master, before it tells its workers to stop: each worker that is gone or missing failed. On a
        worker: its exit code so far, while its master still listens (a master whose last worker quits stops
        listening)."""
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            self.tell_master(environment, runner)
        if not isinstance(runner, MasterRunner):
            return
        for client_id, last in list(self.heartbeats.items()):
            node = runner.clients.get(client_id)
            if node is None:
                self.worker_failed(client_id, f"quit before the master ended the run (its last heartbeat came "
                                              f"{since_start(runner, last)})")  # fmt: skip
            elif node.state == STATE_MISSING:
                self.worker_failed(client_id, silent(runner, last))

    def worker_failed(self, client_id: str, what: str) -> None:
        """Note a worker's fate once (the first noticed is the true one) and stop watching it."""
        self.heartbeats.pop(client_id, None)
        self.failed.setdefault(client_id, what)

    def on_quitting(self, environment: Environment, run: RegistryRun | None, open_shortfall: OpenShortfall) -> None:
        """Set the exit code of a run that fell short; a worker with a non-zero exit code tells its master."""
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            self.tell_master(environment, runner)
            return
        found = self.judge(environment, run, open_shortfall)
        if found is not None:
            environment.process_exit_code = found.exit_code

    def tell_master(self, environment: Environment, runner: WorkerRunner) -> None:
        """A worker's exit code as Locust will decide it, when not 0 (and not told already)."""
        code = environment.process_exit_code
        if code is None and locust.log.unhandled_greenlet_exception:
            code = 2  # Locust's code for an error in a greenlet
        if code and code != self.told:
            self.told = code
            runner.send_message(WORKER_EXIT_MESSAGE, {"code": code})

    def on_quit(self, **_: Any) -> None:
        """The one line, after every table: what the last screen of output must explain."""
        if self.shortfall is not None:
            log.error("%s", self.shortfall.line)

    def judge(
        self, environment: Environment, run: RegistryRun | None, open_shortfall: OpenShortfall
    ) -> Shortfall | None:
        """What the run did not do (once, at quitting, on a master or a local runner), the gravest first."""
        runner = environment.runner
        if self.judged or runner is None or isinstance(runner, WorkerRunner):
            return self.shortfall
        self.judged = True
        if runner.state == STATE_INIT:  # no test was started (a web UI left before any): nothing was asked
            return None
        found = self.interruption(environment) or self.workers_lost(runner)
        if found is None and not environment.process_exit_code:  # else an error already said why, in its own line
            found = nothing_made(environment, run) or open_shortfall()
        self.shortfall = found
        return found

    def interruption(self, environment: Environment) -> Shortfall | None:
        runner = environment.runner
        if self.interrupted_at is None or runner is None:
            return None
        seconds = max(self.interrupted_at - runner.stats.start_time, 0.0)
        asked = getattr(environment.parsed_options, "run_time", None)
        run = f"a run asked to last {asked} s" if asked else "the run"
        line = f"interrupted (Ctrl-C) {seconds:.1f} s into {run}: its figures cover only that time"
        return Shortfall("the run was interrupted", line, INTERRUPTED_EXIT_CODE)

    def workers_lost(self, runner: Any) -> Shortfall | None:
        """Workers that failed during the test (on_test_stopping), died at its end (still connected, silent), or
        told an exit code other than 0."""
        if not isinstance(runner, MasterRunner):
            return None
        now = time.time()
        for client_id, last in list(self.heartbeats.items()):
            node = runner.clients.get(client_id)
            if node is not None and (node.state == STATE_MISSING or self.latest - last > LAG_SECONDS
                                     or now - last > SILENT_SECONDS):  # fmt: skip
                self.worker_failed(client_id, silent(runner, last))
        fates = dict(self.failed)
        for client_id, code in self.exit_codes.items():
            told = f"exit code {code}"
            fates[client_id] = f"{fates[client_id]}; {told}" if client_id in fates else f"exited with code {code}"
        if not fates:
            return None
        named = [f"worker {runner.get_worker_index(client_id)} ({client_id}) {what}"
                 for client_id, what in fates.items()]  # fmt: skip
        return Shortfall("a worker failed", f"worker failed: {'; '.join(named)}", INCOMPLETE_EXIT_CODE)


def silent(runner: Any, last: float) -> str:
    return f"was lost: its last heartbeat came {since_start(runner, last)} (what it did since is missing)"


def since_start(runner: Any, when: float) -> str:
    seconds = when - runner.stats.start_time
    return f"{seconds:.1f} s into the run" if seconds >= 0 else "before the run started"


def nothing_made(environment: Environment, run: RegistryRun | None) -> Shortfall | None:
    runner = environment.runner
    assert runner is not None
    if runner.stats.total.num_requests:
        return None
    seconds = f"{max(time.time() - runner.stats.start_time, 0.0):.1f} s"
    if run is not None and run.preparing is not None and not run.preparing.ready():
        why = f"seeding was still running when the run ended after {seconds}: give -t/--run-time more time"
    elif run is not None and open_mode(run.settings):
        why = f"the open model sent no arrival in {seconds}"
    elif not runner.target_user_count:
        why = "the run was asked for 0 users (-u/--users)"
    else:
        why = f"{runner.target_user_count} users ran for {seconds} and sent none"
    return Shortfall("no requests were made", f"no requests were made: {why}", NOTHING_EXIT_CODE)
