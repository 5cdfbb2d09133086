"""Every Locust event listener of the plugin, registered here and nowhere else, in this order:

- init_command_line_parser: `config.add_arguments` (our options in Locust's parser, web UI, LOCUST_* variables).
- init: `web_secrets.on_init` (secrets out of the web UI page before it renders), `lifecycle.on_init` (settings,
  fixtures and user classes; bad input stops the process here), `start_form.on_init` (the web UI's start form
  checked before /swarm starts anything), `reports.on_init` (the Registry tab), `final_csv.on_init`,
  `open_figures.on_init` (a worker hears its place in the schedule), `outcome.on_init` (Ctrl-C ends a headless run
  as -t does; a master hears its workers' exit codes).
- heartbeat_sent: `outcome.on_heartbeat` (a master knows each worker's last heartbeat).
- test_start: `lifecycle.on_test_start` (web UI edits taken, then seeding starts, then the open model's schedule),
  `history.on_test_start` (figures over time for the charts, where the tables are).
- test_stopping: `lifecycle.on_test_stopping` (the open model sends no new arrival), `outcome.on_test_stopping` (a
  master notes the workers gone or missing before it ends the test).
- report_to_master / worker_report: `open_figures` (a worker's open-model figures travel with its stats).
- test_stop: `distributed.on_test_stop` (a master first waits for its workers' last figures), then
  `history.on_test_stop` (a last sample), then `lifecycle.on_test_stop` (each process deletes its own pushes,
  `--cleanup`).
- quitting (Locust fires it in reverse order: the last listed runs first): `gates.on_quitting` (gates judged on the
  whole run, summary file), `outcome.on_quitting` (a run that fell short: its exit code), `final_csv.on_quitting` (with
  --json output: one more turn of Locust's CSV writer before that output resets the stats),
  `reports.on_quitting` (our table completes the HTML report Locust has just written, and the registry CSV),
  `open_figures.on_quitting` (open-model figures printed, capacity CSV and exit code).
- quit: `final_csv.on_quit` (without --json output: one more writer turn; Locust closes its CSV files next),
  `reports.on_quit` (the registry table and the open model's lines, after Locust's own tables), `outcome.on_quit`
  (what a run that fell short is missing, in one line, last).

Registering twice is a no-op, so importing the plugin from several locustfiles is harmless.
"""

from __future__ import annotations

from typing import Any

from ..config import add_arguments
from . import distributed, final_csv, gates, history, lifecycle, open_figures, outcome, reports, start_form, web_secrets

_registered: set[int] = set()


def register(events: Any) -> None:
    """Attach the plugin's listeners to Locust's `events` (the module-level `locust.events`)."""
    if id(events) in _registered:
        return
    _registered.add(id(events))
    events.init_command_line_parser.add_listener(add_arguments)
    for on_init in (web_secrets.on_init, lifecycle.on_init, start_form.on_init, reports.on_init, final_csv.on_init,
                    open_figures.on_init, outcome.on_init):  # fmt: skip
        events.init.add_listener(on_init)
    events.test_start.add_listener(lifecycle.on_test_start)
    events.test_start.add_listener(history.on_test_start)
    events.test_stopping.add_listener(lifecycle.on_test_stopping)
    events.test_stopping.add_listener(outcome.on_test_stopping)
    events.heartbeat_sent.add_listener(outcome.on_heartbeat)
    events.report_to_master.add_listener(open_figures.on_report_to_master)
    events.worker_report.add_listener(open_figures.on_worker_report)
    for on_test_stop in (distributed.on_test_stop, history.on_test_stop, lifecycle.on_test_stop):
        events.test_stop.add_listener(on_test_stop)
    for on_quitting in (gates.on_quitting, outcome.on_quitting, final_csv.on_quitting, reports.on_quitting,
                        open_figures.on_quitting):  # fmt: skip
        events.quitting.add_listener(on_quitting)
    events.quit.add_listener(final_csv.on_quit)
    events.quit.add_listener(reports.on_quit)
    events.quit.add_listener(outcome.on_quit)
