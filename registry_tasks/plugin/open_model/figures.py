"""The open model's figures where people look: merged from the workers, logged at the end of the run, in the
summary file (`arrivals`, `rollout`, `rollout_update`, `capacity`), the capacity curve's CSV and the web UI.

Each load process keeps cumulative figures; a worker sends them with every stats report (Locust's
`report_to_master`), and the master keeps each worker's latest, so a lost or repeated report changes nothing.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import asdict
from typing import Any

from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from ...config import Settings
from ...load import CapacitySearch, Histogram, RolloutFigures, format_rate
from ..run.checks import open_mode
from ..run.outcome import INCOMPLETE_EXIT_CODE, Shortfall
from ..run.state import RegistryRun
from .runs import OpenRun, Place, finish_run, send_places

log = logging.getLogger("registry_tasks.plugin.open_figures")
REPORT_KEY = "registry_tasks_open"
CAPACITY_NOT_FOUND_EXIT_CODE = 3
STEP_COLUMNS = ("rate_per_s", "requests", "p50_ms", "p95_ms", "p99_ms", "fail_ratio", "late_p99_ms", "late_arrivals",
                "arrivals", "cpu_share", "verdict")  # fmt: skip

ENDED = ("stopping", "stopped", "cleanup", "quitting")


class OpenFigures:
    """One process's open model: its own run (not on a master), each worker's latest figures (on a master), the
    worker's place in the schedule, and the end-of-run lines kept for the terminal."""

    def __init__(self) -> None:
        self.local: OpenRun | None = None
        self.workers: dict[str, dict[str, Any]] = {}
        self.final: list[str] = []
        self.master: Environment | None = None
        self.place = Place()

    def on_init(self, environment: Environment) -> None:
        self.master = environment if isinstance(environment.runner, MasterRunner) else None
        self.place.listen(environment)

    def start(self, environment: Environment, run: RegistryRun) -> None:
        """At test start: a master places its workers; a load process starts its schedule (after seeding)."""
        self.workers.clear()
        if self.local is not None:
            self.local.stop()
            self.local = None
        if not open_mode(run.settings):
            return
        if isinstance(environment.runner, MasterRunner):
            send_places(environment)
        else:
            self.local = OpenRun(environment, run, self.place)

    def stop(self, environment: Environment) -> None:
        """At test stop: no new arrival; those in flight get --stop-timeout seconds."""
        if self.local is not None:
            self.local.stop()
        if isinstance(environment.runner, WorkerRunner):
            self.place.forget()

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        if self.local is not None:
            data[REPORT_KEY] = self.local.as_dict()

    def on_worker_report(self, run: RegistryRun | None, client_id: str, data: dict[str, Any]) -> None:
        """On a master: keep the worker's latest figures; end the run once a rollout's every node is done."""
        figures = data.get(REPORT_KEY)
        if figures is None:
            return
        self.workers[client_id] = figures
        if run is None or run.settings.rollout is None:
            return
        waves = merged(list(self.workers.values()))["waves"]
        wanted = 2 if run.settings.rollout_update else 1
        nodes = run.settings.rollout.nodes
        done = len(waves) >= wanted and all(len(wave["finished"]) + wave["failed"] >= nodes for wave in waves[:wanted])
        master = self.master
        if done and master is not None and master.runner is not None and master.runner.state not in ENDED:
            log.info("rollout: every node is done")
            finish_run(master)

    def search(self) -> CapacitySearch | None:
        """This process's capacity search, when it ran one."""
        return self.local.search if self.local is not None else None

    def parts(self) -> list[dict[str, Any]]:
        if self.local is not None:
            return [self.local.as_dict()]
        return list(self.workers.values())

    def sections(self, settings: Settings) -> dict[str, Any]:
        """The summary file's open-model sections (none for a closed-loop run)."""
        if not open_mode(settings):
            return {}
        return sections_of(merged(self.parts()), settings, self.search())

    def shortfall(self, run: RegistryRun | None) -> Shortfall | None:
        """A rollout that ended before every node was done, a capacity search before its precision."""
        if run is None or not open_mode(run.settings):
            return None
        found = self.sections(run.settings)
        for key in ("rollout", "rollout_update"):
            if key in found and (line := rollout_figures(found[key]).shortfall(key.replace("_", " "))):
                return Shortfall("the rollout is incomplete", line, INCOMPLETE_EXIT_CODE)
        search = self.search()
        if search is not None and (line := search.shortfall()):
            return Shortfall("the capacity search was cut short", line, INCOMPLETE_EXIT_CODE)
        return None

    def rows(self, run: RegistryRun | None) -> list[dict[str, str]]:
        """The web UI's Open model table: one row per figure line."""
        if run is None:
            return []
        before = [phase] if (phase := run.phases.line()) is not None else []
        return [{"figures": line} for line in [*before, *lines(self.sections(run.settings))]]

    def on_quitting(self, environment: Environment, run: RegistryRun | None) -> None:
        """Print the figures, write the capacity CSV, and set a capacity search's exit code (0 found, 3 not)."""
        if run is None or isinstance(environment.runner, WorkerRunner) or not open_mode(run.settings):
            return
        found = self.sections(run.settings)
        self.final = lines(found)  # printed after Locust's tables (outputs.py, at quit)
        capacity = found.get("capacity")
        if capacity is None:
            return
        prefix = getattr(environment.parsed_options, "csv_prefix", None)
        if prefix:
            write_capacity_csv(f"{prefix}_capacity.csv", capacity["steps"])
        if capacity["cut_short"]:
            return  # not a verdict on the registry: outcome.py says what is missing, with its own exit code
        if not capacity["found"]:
            environment.process_exit_code = CAPACITY_NOT_FOUND_EXIT_CODE
        elif environment.process_exit_code is None:
            environment.process_exit_code = 0  # failures in the steps that breached are what a search looks for


def merged(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """One process's figures from several: counts added, histograms merged, rollout waves joined node by node."""
    entries: dict[str, dict[str, Any]] = {}
    waves: list[dict[str, Any]] = []
    for part in figures:
        for entry, tally in part.get("entries", {}).items():
            into = entries.setdefault(entry, {"started": 0, "dropped": 0, "late": Histogram()})
            into["started"] += tally["started"]
            into["dropped"] += tally["dropped"]
            into["late"].merge(tally["late"])
        for number, wave in enumerate(part.get("waves", [])):
            if number == len(waves):
                waves.append({"nodes": 0, "due": 0, "finished": [], "failed": 0, "bytes": {}})
            into = waves[number]
            into["nodes"] += wave["nodes"]
            into["due"] += wave["due"]
            into["finished"] += wave["finished"]
            into["failed"] += wave["failed"]
            for second, moved in wave["bytes"].items():
                into["bytes"][int(second)] = into["bytes"].get(int(second), 0) + moved
    schedule = max((part.get("schedule_s", 0.0) for part in figures), default=0.0)
    replays = [part["replay"] for part in figures if part.get("replay")]
    return {"schedule_s": schedule, "entries": entries, "waves": waves, "replay": merged_replay(replays)}


def merged_replay(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Every process read the whole trace (the same plan); each replayed its share: add the replayed figures."""
    if not parts:
        return None
    whole = {**parts[0], "kinds": {kind: dict(figures) for kind, figures in parts[0]["kinds"].items()}}
    for part in parts[1:]:
        for kind, figures in part["kinds"].items():
            into = whole["kinds"].setdefault(kind, {**figures, "replayed": 0, "replayed_bytes": 0, "failed": 0})
            for key in ("replayed", "replayed_bytes", "failed"):
                into[key] += figures[key]
        for key in ("blobs_written", "manifests_written"):
            whole["warm_up"][key] = max(whole["warm_up"][key], part["warm_up"][key])
    return whole


def sections_of(figures: dict[str, Any], settings: Settings, searched: CapacitySearch | None) -> dict[str, Any]:
    """The open-model sections of merged `figures`."""
    seconds = figures["schedule_s"]
    arrivals = {}
    for entry, tally in figures["entries"].items():
        target = settings.arrival_rate.get(entry)
        arrivals[entry] = {
            "target_per_s": round(target, 3) if target is not None else None,
            "achieved_per_s": round(tally["started"] / seconds, 3) if seconds > 0 else 0.0,
            "started": tally["started"],
            "dropped": tally["dropped"],
            "late_p99_ms": tally["late"].percentile(0.99),
        }
    out: dict[str, Any] = {"arrivals": {"schedule_s": round(seconds, 3), "entries": arrivals}}
    if settings.rollout is not None:
        out.update(rollout_sections(settings.rollout.nodes, figures["waves"], settings.rollout_update))
    if figures["replay"] is not None:
        replay = figures["replay"]
        replay["replayed"] = sum(kind["replayed"] for kind in replay["kinds"].values())
        late = Histogram()
        for tally in figures["entries"].values():
            late.merge(tally["late"].as_dict())
        replay["late_p99_ms"] = late.percentile(0.99)
        out["replay"] = replay
    if searched is not None:
        out["capacity"] = capacity_section(searched)
    return out


def capacity_section(searched: CapacitySearch) -> dict[str, Any]:
    """The search's result; one cut short by the run's end found no rate (`rate_per_s` null): its `bracket` is
    what it had, the highest rate that held and the lowest that breached."""
    held, broke = searched.held, searched.broke
    return {
        "entry": searched.entry,
        "rate_per_s": round(held.rate_per_s, 3) if searched.found and held is not None else None,
        "found": searched.found,
        "cut_short": searched.cut_short,
        "bracket": {
            "held_per_s": held.rate_per_s if held else None,
            "breached_per_s": broke.rate_per_s if broke else None,
        },
        "generator_bound": searched.bound is not None,
        "line": searched.line(),
        "steps": [asdict(step) for step in searched.steps],
    }


def rollout_sections(nodes: int, waves: list[dict[str, Any]], update: bool) -> dict[str, Any]:
    """`rollout` (and `rollout_update`): a wave the run never reached counts every node as not started; a node
    due but not ended is still pulling. Neither is a failure: the run ended, the node did not fail."""
    out = {}
    for key, wave in zip(("rollout", "rollout_update")[: 2 if update else 1], [*waves, {}, {}], strict=False):
        finished, failed = wave.get("finished", []), wave.get("failed", 0)
        due = wave.get("due", 0)
        pulling = max(due - len(finished) - failed, 0)
        figures = RolloutFigures.of(nodes, finished, failed, wave.get("bytes", {}), pulling, max(nodes - due, 0))
        out[key] = {**asdict(figures), "complete": figures.complete}
    return out


def lines(found: dict[str, Any]) -> list[str]:
    """What the end of a run prints about the open model."""
    out = []
    arrivals = found.get("arrivals", {})
    for entry, figures in arrivals.get("entries", {}).items():
        target = figures["target_per_s"]
        aim = f"target {format_rate(target)}, " if target else ""
        out.append(f"arrivals: {entry}: {aim}achieved {format_rate(figures['achieved_per_s'] or 0)} over "
                   f"{arrivals['schedule_s']:.1f} s, {figures['started']} started, {figures['dropped']} dropped, "
                   f"late p99 {figures['late_p99_ms']:g} ms")  # fmt: skip
    for key in ("rollout", "rollout_update"):
        if key in found:
            out.append(rollout_figures(found[key]).line(key.replace("_", " ")))
    if "capacity" in found:
        out.append(found["capacity"]["line"])
    if "replay" in found:
        replay = found["replay"]
        skipped = ", ".join(f"{count} {reason}" for reason, count in replay["skipped"].items()) or "none"
        out.append(f"replay: {replay['records_read']} records read, {replay['replayed']} replayed, late p99 "
                   f"{replay['late_p99_ms']:g} ms; skipped: {skipped}")  # fmt: skip
        for kind, figures in replay["kinds"].items():
            out.append(f"replay: {kind}: recorded {figures['recorded']} ({figures['recorded_bytes']:,} bytes), "
                       f"replayed {figures['replayed']} ({figures['replayed_bytes']:,} bytes), "
                       f"{figures['failed']} failed")  # fmt: skip
    return out


def rollout_figures(section: dict[str, Any]) -> RolloutFigures:
    return RolloutFigures(**{key: value for key, value in section.items() if key != "complete"})


def write_capacity_csv(path: str, steps: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, STEP_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(steps)
