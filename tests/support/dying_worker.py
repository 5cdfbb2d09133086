"""A listener beside the shipped locustfile (`-f locustfile.py,tests/support/dying_worker.py`): on worker 1, a
greenlet of Locust's own dies at test start, as a bug in a listener would, so that this worker exits with code 2
at the end of the run while it reports and quits as asked."""

from __future__ import annotations

import logging
from typing import Any

from locust import events
from locust.log import greenlet_exception_logger
from locust.runners import WorkerRunner


@events.test_start.add_listener
def die_on_worker_1(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner) and runner.worker_index == 1:
        runner.greenlet.spawn(broken).link_exception(greenlet_exception_logger(logging.getLogger(__name__)))


def broken() -> None:
    raise RuntimeError("a listener's bug (tests/support/dying_worker.py)")
