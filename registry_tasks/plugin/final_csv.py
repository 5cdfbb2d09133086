"""Make `--csv` files hold a run's final figures.

Locust rewrites its CSV files once a second and never at exit, so they miss up to the last second of a run
(seen: 10% of the requests of a 6 s run), and no longer equal the requests the registry logged. When a run
quits after its users stopped (`-t` reached), the files are still open: one more turn of Locust's writer
brings them up to date. (It must come before `--json` output, which resets every entry as it prints it.)

Locust (2.4x) then closes those files right after its `quit` event while its writer greenlet lives on, and a
writer waking after the close prints `ValueError: I/O operation on closed file` with a traceback (seen in 1
of 4 runs). At `quit` we wait until the writer has just written (its stats file changed), so the files close
at the start of its one-second sleep, long before it wakes.
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

_writes_csv = False
_stats_file = ""  # what Locust's writer rewrites every second; "" when it waits for nothing


def on_init(environment: Environment, **_: Any) -> None:
    global _writes_csv, _stats_file
    options = environment.parsed_options
    prefix = getattr(options, "csv_prefix", None)
    _writes_csv = bool(prefix) and not isinstance(environment.runner, WorkerRunner)
    json_output = getattr(options, "json", False) or getattr(options, "json_file", None)
    _stats_file = f"{prefix}_stats.csv" if _writes_csv and not json_output else ""


def on_quitting(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if _writes_csv and runner is not None and runner.state not in (STATE_SPAWNING, STATE_RUNNING):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.25)  # Locust's writer sleeps this long between rewrites


def on_quit(**_: Any) -> None:
    """Return just after one more turn of Locust's CSV writer (bounded): its files are closed next. Not with
    --json or --json-file, whose printing has reset every entry (another turn would write zeros)."""
    if not _stats_file:
        return
    before = _mtime(_stats_file)
    deadline = time.monotonic() + CSV_STATS_INTERVAL_SEC + 0.5
    while _mtime(_stats_file) == before and time.monotonic() < deadline:
        gevent.sleep(0.02)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
