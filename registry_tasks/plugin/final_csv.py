"""Make `--csv` files hold a run's final figures.

Locust rewrites its CSV files once a second and never at exit, so they miss up to the last second of a run
(seen: 10% of the requests of a 6 s run), and no longer equal the requests the registry logged. When a run
quits after its users stopped (`-t` reached), the files are still open: one more turn of Locust's writer
brings them up to date. (It must come before `--json` output, which resets every entry as it prints it.)
"""

from __future__ import annotations

from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

_writes_csv = False


def on_init(environment: Environment, **_: Any) -> None:
    global _writes_csv
    options = environment.parsed_options
    _writes_csv = bool(getattr(options, "csv_prefix", None)) and not isinstance(environment.runner, WorkerRunner)


def on_quitting(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if _writes_csv and runner is not None and runner.state not in (STATE_SPAWNING, STATE_RUNNING):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.25)  # Locust's writer sleeps this long between rewrites
