"""A per-process record of what each worker fired, for the distributed tests: loaded beside the shipped
locustfile (`-f locustfile.py,tests/support/counting_listener.py`), it adds listeners and no user class.

Each worker writes `$COUNT_DIR/<pid>.json` when it quits: its request counts and bytes (response_length) per
entry, and the repository:reference of every manifest it stored. The master's figures must equal the workers' sums.
`SLOW_STOP=S` makes each worker take S seconds more to stop, as users finishing long tasks within
--stop-timeout (or --cleanup's deletes) do: Locust's master alone waits only 0.5 s for the last report.
"""

from __future__ import annotations

import collections
import json
import os
import time
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

counts: collections.Counter[str] = collections.Counter()
sizes: collections.Counter[str] = collections.Counter()
stored: list[str] = []


@events.request.add_listener
def _count(
    request_type: str, name: str, response_length: int | None, exception: Any, context: dict[str, Any], **_: Any
) -> None:
    counts[f"{request_type} {name}"] += 1
    sizes[f"{request_type} {name}"] += response_length or 0
    if name == "manifest-put" and exception is None:
        stored.append(f"{context['repository']}:{context['reference']}")


@events.test_stop.add_listener
def _slow_stop(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        time.sleep(float(os.environ.get("SLOW_STOP", "0")))  # blocks the whole worker, as busy users would


@events.quitting.add_listener
def _write(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        record = {"index": environment.runner.worker_index, "counts": counts, "bytes": sizes, "stored": stored}
        with open(os.path.join(os.environ["COUNT_DIR"], f"{os.getpid()}.json"), "w") as handle:
            json.dump(record, handle)
