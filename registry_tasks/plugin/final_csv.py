"""Make `--csv` files hold a run's final figures, and keep Locust's writer off them once they are closed.

Locust rewrites its CSV files once a second and never at exit, so they miss up to the last second of a run
(seen: 10% of the requests of a 6 s run), and no longer equal the requests the registry logged. Locust (2.4x)
also closes them right after its `quit` event while its writer greenlet lives on, and a writer waking after
the close printed `ValueError: I/O operation on closed file` with a traceback (seen in 1 of 4 runs).

So at `quit`, when every user has stopped, we wait for one more turn of the writer: the files then hold the
final figures and close at the start of its one-second sleep, long before it wakes. With --json or
--json-file that is too late (their printing, before `quit`, resets every entry), so the extra turn is
waited for at `quitting` instead, after the users stopped and before the printing.
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

_stats_file = ""  # what Locust's writer rewrites every second; "" when no --csv (or on a worker)
_json_output = False


def on_init(environment: Environment, **_: Any) -> None:
    global _stats_file, _json_output
    options = environment.parsed_options
    prefix = getattr(options, "csv_prefix", None)
    _stats_file = f"{prefix}_stats.csv" if prefix and not isinstance(environment.runner, WorkerRunner) else ""
    _json_output = bool(getattr(options, "json", False) or getattr(options, "json_file", None))


def on_quitting(environment: Environment, **_: Any) -> None:
    """With --json output: one more writer turn now, before that output resets the entries."""
    runner = environment.runner
    if _stats_file and _json_output and runner is not None and runner.state not in (STATE_SPAWNING, STATE_RUNNING):
        _one_more_turn()


def on_quit(**_: Any) -> None:
    """Without --json output: one more writer turn, after which Locust closes its files."""
    if _stats_file and not _json_output:
        _one_more_turn()


def _one_more_turn() -> None:
    """Return just after Locust's CSV writer has rewritten the stats file once more (at most a turn and a half)."""
    before = _mtime(_stats_file)
    deadline = time.monotonic() + CSV_STATS_INTERVAL_SEC + 0.5
    while _mtime(_stats_file) == before and time.monotonic() < deadline:
        gevent.sleep(0.02)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
