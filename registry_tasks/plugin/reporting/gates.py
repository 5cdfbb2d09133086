"""Pipeline gates (`--check-*`, as locust-plugins names them) and the JSON summary file for CI systems.

At `quitting`, on the master or a local runner, every gate is measured against the whole run; each breached
gate logs one line naming the gate, its limit and the measured value, and the process exits with
GATE_EXIT_CODE. Locust decides the exit code otherwise (1 when a request failed). A run that fell short of what
it was asked (interrupted, a worker lost, nothing sent, a rollout or search cut short: run/outcome.py) is not
judged: its figures cover part of the run, so each gate is reported "not evaluated", in the log and the file.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from locust.env import Environment

from ...config import TOTAL, Settings, SettingsError, settings_from
from ..open_model.figures import OpenFigures
from ..run.outcome import Shortfall
from .outputs import reports
from .throughput import EntryFigures, as_dicts, duration, lookup, table

log = logging.getLogger("registry_tasks.plugin.gates")
GATE_EXIT_CODE = 3


@dataclass(frozen=True)
class Gate:
    """One limit on one entry's figure; `most` True when the figure must stay at or under the limit."""

    option: str
    entry: str
    limit: float
    unit: str
    figure: Callable[[EntryFigures], float]
    most: bool = True

    @property
    def label(self) -> str:
        if self.option == "check-fail-ratio":
            return f"--{self.option} {self.limit:g}"
        return f"--{self.option} {self.entry}={self.limit:g}"


@dataclass(frozen=True)
class Verdict:
    gate: str
    entry: str
    limit: float
    measured: float | None
    unit: str
    passed: bool | None
    """None: not evaluated (the run fell short)."""
    line: str


def fail_ratio(row: EntryFigures) -> float:
    return row.failures / row.requests if row.requests else 0.0


def gates(settings: Settings) -> Iterator[Gate]:
    if settings.check_fail_ratio is not None:
        yield Gate("check-fail-ratio", TOTAL, settings.check_fail_ratio, "", fail_ratio)
    for entry, limit in settings.check_p95.items():
        yield Gate("check-p95", entry, limit, "ms", lambda row: row.p95_ms)
    for entry, limit in settings.check_p99.items():
        yield Gate("check-p99", entry, limit, "ms", lambda row: row.p99_ms)
    for entry, limit in settings.check_min_mbps.items():
        yield Gate("check-min-mbps", entry, limit, "MB/s", lambda row: row.mbps, most=False)


def judge(gate: Gate, rows: list[EntryFigures]) -> Verdict:
    """Measure one gate; an entry that made no request cannot show it holds, so it is a breach."""
    row = lookup(rows, gate.entry)
    if row is None:
        what = "" if gate.entry == TOTAL else f"{gate.entry} "
        line = f"gate breached: {gate.label}: no {what}requests were made"
        return Verdict(gate.option, gate.entry, gate.limit, None, gate.unit, False, line)
    measured = gate.figure(row)
    passed = measured <= gate.limit if gate.most else measured >= gate.limit
    unit = f" {gate.unit}" if gate.unit else ""
    bound = "at most" if gate.most else "at least"
    outcome = "gate passed" if passed else "gate breached"
    line = f"{outcome}: {gate.label}: measured {measured:g}{unit}, limit {bound} {gate.limit:g}{unit}"
    if gate.option == "check-fail-ratio":
        line += f" ({row.failures} of {row.requests} requests failed)"
    return Verdict(gate.option, gate.entry, gate.limit, measured, gate.unit, passed, line)


def not_evaluated(gate: Gate, why: str) -> Verdict:
    line = f"gate not evaluated: {gate.label}: {why}"
    return Verdict(gate.option, gate.entry, gate.limit, None, gate.unit, None, line)


def summary(
    rows: list[EntryFigures],
    verdicts: list[Verdict],
    seconds: float,
    sections: dict[str, Any] | None = None,
    shortfall: str | None = None,
) -> dict[str, Any]:
    """The summary file: duration, whether the run did what it was asked (`complete`, else `shortfall` says what
    is missing and no gate was evaluated: `gates_passed` null), gates, per-entry figures, and the open model's
    sections when it ran."""
    evaluated = shortfall is None
    return {
        "duration_s": round(seconds, 3),
        "complete": evaluated,
        "shortfall": shortfall,
        "gates_evaluated": evaluated,
        "gates_passed": all(verdict.passed for verdict in verdicts) if evaluated else None,
        "gates": [{k: v for k, v in asdict(verdict).items() if k != "line"} | {"message": verdict.line}
                  for verdict in verdicts],
        "entries": as_dicts(rows),
        **(sections or {}),
    }  # fmt: skip


def check(
    environment: Environment,
    settings: Settings,
    shortfall: Shortfall | None = None,
    figures: OpenFigures | None = None,
) -> list[Verdict]:
    """Judge every gate (none when the run fell short), log one line each, set the exit code on a breach, write
    the summary file."""
    assert environment.runner is not None
    stats = environment.runner.stats
    rows = table(stats)
    if shortfall is not None:
        verdicts = [not_evaluated(gate, shortfall.kind) for gate in gates(settings)]
        for verdict in verdicts:
            log.warning("%s", verdict.line)
    else:
        verdicts = [judge(gate, rows) for gate in gates(settings)]
        for verdict in verdicts:
            log.log(logging.INFO if verdict.passed else logging.ERROR, "%s", verdict.line)
        if not all(verdict.passed for verdict in verdicts):
            environment.process_exit_code = GATE_EXIT_CODE
    if settings.summary_file:
        if directory := os.path.dirname(settings.summary_file):
            os.makedirs(directory, exist_ok=True)
        with open(settings.summary_file, "w", encoding="utf-8") as handle:
            sections = figures.sections(settings) if figures is not None else {}
            line = shortfall.line if shortfall is not None else None
            json.dump(summary(rows, verdicts, duration(stats), sections, line), handle, indent=2)
            handle.write("\n")
    return verdicts


def on_quitting(environment: Environment, judge: Callable[[], Shortfall | None], figures: OpenFigures) -> None:
    """Every gate judged on the whole run (none when it fell short: `judge`), and the summary file."""
    if not reports(environment):
        return
    try:
        settings = settings_from(environment.parsed_options)
    except SettingsError as exc:  # checked at start; only a scenario file changed since can get here
        log.error("%s", exc)
        environment.process_exit_code = GATE_EXIT_CODE
        return
    check(environment, settings, judge(), figures)
