"""Distributed runs: workers load the same images as the master, and the master's table holds all they did.

Same images: every process reads its own fixture files (its container image, its volume). Each worker
sends the master the tag digest of each image it loaded (a digest covers every blob's bytes) at each test
start, when the master's options are in force; it seeds or loads nothing before the master's verdict, and
one that differs stops with one line saying which image (the master logs it too).

Whole figures: a master that quits (`-t` reached in a headless run, Ctrl-C) sends `quit` and gives the workers 0.5 s for
their last stats report. A worker still finishing its users' tasks (`--stop-timeout`) or deleting what it
pushed (`--cleanup`) reports later, and those requests were missing: 1,368 on the master against 1,465 fired
by two workers in a 6 s run. So when the master stops while workers still run users (which happens only on
that quit path: a plain stop waits for them), we ask them to quit first and wait, bounded, until each one has
said so; a worker sends its final report before that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from ...image import Image

log = logging.getLogger("registry_tasks.plugin.distributed")
DRAIN_GRACE_SECONDS = 10.0
VERDICT_SECONDS = 10.0
FIXTURES_MESSAGE = "registry_tasks_fixtures"  # worker -> master: the images I loaded
VERDICT_MESSAGE = "registry_tasks_fixtures_verdict"  # master -> worker: None, or why they are not mine
ImagesOf = Callable[[], list[Image]]


def identities(images: list[Image]) -> list[tuple[str, str]]:
    return [(image.name, image.tagged.digest) for image in images]


def difference(ours: list[tuple[str, str]], theirs: list[tuple[str, str]]) -> str | None:
    """Why a worker's images (`theirs`) are not the master's (`ours`), or None."""
    master, worker = dict(ours), dict(theirs)
    for name in sorted(master.keys() | worker.keys()):
        if master.get(name) != worker.get(name):
            return (
                f"fixtures differ from the master's: image {name} is {worker.get(name, 'missing')} on this worker "
                f"and {master.get(name, 'missing')} on the master (every worker needs the same fixture files)"
            )
    return None


class FixtureCheck:
    """One process's side of the check: a master judges each worker's images; a worker waits for the verdict."""

    def __init__(self) -> None:
        self.verdict: gevent.event.AsyncResult | None = None
        """On a worker: the master's answer to its last report."""

    def listen(self, environment: Environment, images_of: ImagesOf) -> None:
        """At init: the master answers each worker's report with a verdict; a worker told "differ" stops."""
        runner = environment.runner
        if isinstance(runner, MasterRunner):

            def judge(msg: Any, **_: Any) -> None:
                reason = difference(identities(images_of()), [(name, digest) for name, digest in msg.data["images"]])
                if reason:
                    log.error("worker %s: %s", runner.get_worker_index(msg.node_id), reason)
                runner.send_message(VERDICT_MESSAGE, {"reason": reason}, msg.node_id)

            runner.register_message(FIXTURES_MESSAGE, judge)
        elif isinstance(runner, WorkerRunner):

            def hear(msg: Any, **_: Any) -> None:
                reason = msg.data["reason"]
                if reason:  # quit, leaving seeding (and the users waiting for it) blocked until the process ends
                    log.error("%s", reason)
                    environment.process_exit_code = 1
                    runner.quit()
                elif self.verdict is not None:
                    self.verdict.set(None)

            runner.register_message(VERDICT_MESSAGE, hear)

    def report(self, environment: Environment, images: list[Image]) -> None:
        """At test start (when the master's options are in force), a worker sends the images it loaded."""
        if isinstance(environment.runner, WorkerRunner):
            self.verdict = gevent.event.AsyncResult()
            environment.runner.send_message(FIXTURES_MESSAGE, {"images": identities(images)})

    def same_images_as_master(self) -> bool:
        """Wait for the master's verdict before writing anything: a worker seeding other images would put them
        under the shared tags. A worker told they differ quits and never returns from here."""
        if self.verdict is None:
            return True
        try:
            self.verdict.get(timeout=VERDICT_SECONDS)
            return True
        except gevent.Timeout:
            log.warning("the master did not confirm this worker's fixtures in %g s; going on", VERDICT_SECONDS)
            return True


def drain_workers(runner: MasterRunner, stop_timeout: float) -> None:
    """Quit the workers and wait for each one's last report (at most stop_timeout + a grace period)."""
    runner.send_message("quit")
    deadline = time.monotonic() + stop_timeout + DRAIN_GRACE_SECONDS

    def answering() -> int:  # a missing worker (no heartbeat: killed, cut off) will not report: outcome.py says so
        return len(runner.clients) - len(runner.clients.missing)

    while answering() and time.monotonic() < deadline:
        gevent.sleep(0.1)
    if answering():
        log.warning("%d workers did not report their last figures in time", answering())


def drain(environment: Environment) -> None:
    """At test stop, on a master still running users: its workers' last figures first."""
    runner = environment.runner
    if isinstance(runner, MasterRunner) and runner.user_count > 0:
        drain_workers(runner, environment.stop_timeout or 0.0)
