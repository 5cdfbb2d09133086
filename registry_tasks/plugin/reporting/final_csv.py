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


class FinalCsv:
    """One process's side of it: the stats file Locust's writer rewrites ("" without --csv, or on a worker)."""

    def __init__(self) -> None:
        self.stats_file = ""
        self.json_output = False

    def on_init(self, environment: Environment) -> None:
        options = environment.parsed_options
        prefix = getattr(options, "csv_prefix", None)
        self.stats_file = f"{prefix}_stats.csv" if prefix and not isinstance(environment.runner, WorkerRunner) else ""
        self.json_output = bool(getattr(options, "json", False) or getattr(options, "json_file", None))

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        """With --json output: one more writer turn now, before that output resets the entries."""
        runner = environment.runner
        if self.stats_file and self.json_output and runner is not None and runner.state not in (
            STATE_SPAWNING, STATE_RUNNING
        ):  # fmt: skip
            one_more_turn(self.stats_file)

    def on_quit(self, **_: Any) -> None:
        """Without --json output: one more writer turn, after which Locust closes its files."""
        if self.stats_file and not self.json_output:
            one_more_turn(self.stats_file)


def one_more_turn(stats_file: str) -> None:
    """Return just after Locust's CSV writer has rewritten the stats file once more (at most a turn and a half)."""
    before = _mtime(stats_file)
    deadline = time.monotonic() + CSV_STATS_INTERVAL_SEC + 0.5
    while _mtime(stats_file) == before and time.monotonic() < deadline:
        gevent.sleep(0.02)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
