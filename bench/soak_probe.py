"""An extra locustfile (no users) for `bench/soak.py`: samples the load generator from inside.

Every SOAK_PROBE_SECONDS it appends one JSON line to SOAK_PROBE_FILE: elapsed seconds, RSS, live greenlets,
users and requests so far. Greenlets can only be counted from inside the process (gc), hence a probe.
"""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

import gevent
from greenlet import greenlet
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sample(environment: Environment, started: float) -> dict[str, Any]:
    runner = environment.runner
    assert runner is not None
    return {
        "seconds": round(time.monotonic() - started, 1),
        "rss_mb": round(rss_mb(), 1),
        "greenlets": sum(1 for item in gc.get_objects() if isinstance(item, greenlet)),
        "users": runner.user_count,
        "requests": runner.stats.total.num_requests,
        "failures": runner.stats.total.num_failures,
    }


def probe(environment: Environment, path: str, every: float) -> None:
    started = time.monotonic()
    while True:
        gevent.sleep(every)
        with open(path, "a") as out:
            out.write(json.dumps(sample(environment, started)) + "\n")


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    path = os.environ.get("SOAK_PROBE_FILE")
    if path and not isinstance(environment.runner, MasterRunner):
        gevent.spawn(probe, environment, path, float(os.environ.get("SOAK_PROBE_SECONDS", "10")))
