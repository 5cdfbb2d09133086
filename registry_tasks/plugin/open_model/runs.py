"""Which open-model schedule a process runs (arrival rates, a rollout storm, a capacity search), its share of a
distributed run, and its end.

Every load process (a local runner, each worker) runs its own schedule once seeding is done; its clock starts
then. A master runs none: at test start it tells each worker its place (`index` of `workers`), so each takes
1/N of every rate (constant streams offset by index/N of a gap) and every N-th rollout node; the sum keeps the
schedule. A rollout or a capacity search ends the run when it is done.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from ...load import ArrivalSchedule, CapacitySearch, Histogram, StepFigures, format_rate, tasks
from ...load.capacity import LATE_LIMIT_MS
from ...registry import PullTarget, RequestFailed, pull_image
from ...registry.profiles import CONTAINERD
from ..run.state import RegistryRun
from ..users.classes import RegistryPullUser, RegistryUser, registry_task
from .arrival_pool import Arrivals, Client, Watcher
from .replay import ReplayRun, warm_up_client

log = logging.getLogger("registry_tasks.plugin.open_runs")
PLACE_MESSAGE = "registry_tasks_open_place"  # master -> worker: {"index": k, "workers": n}
PLACE_WAIT_SECONDS = 10.0


class Place:
    """On a worker: its place in the schedule, the master's last word at test start."""

    def __init__(self) -> None:
        self.told = gevent.event.AsyncResult()

    def listen(self, environment: Environment) -> None:
        if isinstance(environment.runner, WorkerRunner):

            def hear(msg: Any, **_: Any) -> None:
                if self.told.ready():
                    self.told = gevent.event.AsyncResult()
                self.told.set(msg.data)

            environment.runner.register_message(PLACE_MESSAGE, hear)

    def forget(self) -> None:
        """At a worker's test stop: the next run's place comes with the next start."""
        self.told = gevent.event.AsyncResult()

    def wait(self) -> tuple[int, int]:
        """(index, workers); (0, 0) when the master said nothing in time: this worker then sends nothing."""
        try:
            place = self.told.get(timeout=PLACE_WAIT_SECONDS)
        except gevent.Timeout:
            log.error("the master did not give this worker its share of the schedule in %g s: it sends nothing",
                      PLACE_WAIT_SECONDS)  # fmt: skip
            return 0, 0
        return int(place["index"]), int(place["workers"])


@dataclass
class RolloutWatcher(Watcher):
    """One rollout wave in this process: how many nodes were due (started or dropped), when each finished,
    which failed, bytes per second."""

    nodes: int
    start: float = field(default_factory=time.perf_counter)
    due: int = 0
    finished: list[float] = field(default_factory=list)
    failed: int = 0
    bytes_per_second: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    done: gevent.event.Event = field(default_factory=gevent.event.Event)

    def event(self, event: dict[str, Any], headline: bool) -> None:
        offset = time.perf_counter() - self.start
        if headline:
            if event["exception"] is None:
                self.finished.append(round(offset, 3))
            else:
                self.failed += 1
            if len(self.finished) + self.failed >= self.nodes:
                self.done.set()
        elif event["request_type"] not in ("PULL", "PUSH"):
            self.bytes_per_second[int(offset)] += event["response_length"] or 0

    def as_dict(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "due": self.due, "finished": self.finished, "failed": self.failed,
                "bytes": dict(self.bytes_per_second)}  # fmt: skip


@dataclass
class StepWatcher(Watcher):
    """One capacity step: the searched entry's times from due, its failures, and lateness."""

    times: Histogram = field(default_factory=Histogram)
    late: Histogram = field(default_factory=Histogram)
    failures: int = 0

    def started(self, late_ms: float) -> None:
        self.late.add(late_ms)

    def event(self, event: dict[str, Any], headline: bool) -> None:
        if headline:
            self.times.add(event["response_time"])
            self.failures += event["exception"] is not None

    def figures(self, rate: float, cpu_share: float) -> StepFigures:
        count = self.times.total
        return StepFigures(
            rate_per_s=round(rate, 3),
            requests=count,
            p50_ms=self.times.percentile(0.50),
            p95_ms=self.times.percentile(0.95),
            p99_ms=self.times.percentile(0.99),
            fail_ratio=round(self.failures / count, 4) if count else 0.0,
            late_p99_ms=self.late.percentile(0.99),
            cpu_share=round(cpu_share, 3),
            arrivals=self.late.total,
            late_arrivals=self.late.count_above(LATE_LIMIT_MS),
        )


class OpenRun:
    """This process's open-model run, from seeding done to its end."""

    def __init__(self, environment: Environment, run: RegistryRun, place: Place) -> None:
        self.environment = environment
        self.run = run
        self.place = place
        self.settings = run.settings
        default = CONTAINERD.name if self.settings.rollout else "docker"
        self.arrivals = Arrivals(environment, self.settings.max_in_flight, default)
        self.waves: list[RolloutWatcher] = []
        self.search: CapacitySearch | None = None
        self.replay: ReplayRun | None = None
        self.test_started = time.perf_counter()
        self.greenlet = gevent.spawn(self._main)

    def _main(self) -> None:
        self.run.seeded.wait()
        index, workers = self._place()
        if workers == 0 or self.arrivals.stopping.is_set():
            return
        if self.settings.rollout:
            self._rollout(index, workers)
        elif self.settings.find_capacity:
            self._search()
        elif self.settings.replay:
            self._replay(index, workers)
        else:
            self._rates(index, workers)

    def _place(self) -> tuple[int, int]:
        if not isinstance(self.environment.runner, WorkerRunner):
            return 0, 1
        return self.place.wait()

    def _rates(self, index: int, workers: int) -> None:
        settings = self.settings
        shape = settings.load_shape
        run_time = float(getattr(self.environment.parsed_options, "run_time", None) or 0)
        span = max(run_time - (time.perf_counter() - self.test_started), 0.001)

        def level(offset: float) -> float:
            return shape.level(offset, span) if shape is not None else 1.0

        schedule = ArrivalSchedule(
            dict(settings.arrival_rate), settings.arrivals, level, share=1 / workers, phase=index / workers
        )
        rates = ", ".join(f"{entry} {format_rate(rate / workers)}" for entry, rate in settings.arrival_rate.items())
        log.info("open model: %s arrivals in this process (%s)", settings.arrivals, rates)
        self.arrivals.run_schedule(schedule)

    def _rollout(self, index: int, workers: int) -> None:
        spec = self.settings.rollout
        assert spec is not None
        if not self.run.targets:
            log.error("--rollout: there is no image to pull (seeding found none)")
            self.finish()
            return
        waves = self.run.targets[:2] if self.settings.rollout_update else self.run.targets[:1]
        self.arrivals.schedule_started = time.perf_counter()  # the nodes' arrivals are a schedule too
        starts = spec.starts(index, workers)
        nodes = [self.arrivals.pool.make(RegistryPullUser) for _ in starts]
        stores: list[set[str]] = [set() for _ in nodes]  # each node's content store: digests it holds
        for number, target in enumerate(waves):
            what = "roll on to" if number else "pull"
            log.info("rollout: %d of %d nodes in this process %s %s:%s, starting over %g s",
                     len(nodes), spec.nodes, what, target.repository, target.reference, spec.window_s)  # fmt: skip
            if not self._wave(target, nodes, stores, [offset for _, offset in starts]):
                break
        self.finish()

    def _wave(self, target: PullTarget, nodes: list[Client], stores: list[set[str]], offsets: list[float]) -> bool:
        """Each node pulls `target` once (skipping the blobs its store holds); False when the run stopped first."""
        wave = RolloutWatcher(len(nodes))
        self.waves.append(wave)
        settings = self.settings

        def puller(store: set[str]) -> Any:
            def pull(user: RegistryUser) -> None:
                repository, reference = target.repository, target.reference
                pull_image(user.registry, repository, reference, settings.platform, settings.pull_parallel, store)

            return registry_task(pull)

        for node, store, offset in zip(nodes, stores, offsets, strict=True):
            wait = wave.start + offset - time.perf_counter()
            if wait > 0 and self.arrivals.stopping.wait(wait):
                return False
            wave.due += 1
            self.arrivals.arrive(tasks.IMAGE_PULL, wave.start + offset, wave, puller(store), node)
        if nodes:
            wave.done.wait()
        return not self.arrivals.stopping.is_set()

    def _replay(self, index: int, workers: int) -> None:
        host = self.environment.host or ""
        replay = self.replay = ReplayRun(self.arrivals, self.settings, host, self.run.replay_plan)
        client = warm_up_client(host, self.run)
        try:
            replay.warm_up(client, self.run.phases)
        except RequestFailed as exc:
            log.error("replay warm-up failed: %s", exc)
            self.finish()
            return
        finally:
            client.close()
        log.info("replay: %d records to send (%s), at %sx the recorded pace", replay.plan.planned,
                 ", ".join(self.settings.replay), self.settings.replay_speed)  # fmt: skip
        self.arrivals.schedule_started = time.perf_counter()
        replay.run(index, workers)
        self.finish()

    def _search(self) -> None:
        settings = self.settings
        assert settings.slo is not None
        search = self.search = CapacitySearch(settings.find_capacity, settings.slo, settings.capacity_start)
        entry = settings.find_capacity
        while (rate := search.next_rate()) is not None and not self.arrivals.stopping.is_set():
            watcher = StepWatcher()
            cpu, wall = time.process_time(), time.perf_counter()
            schedule = ArrivalSchedule({entry: rate}, settings.arrivals)
            self.arrivals.run_schedule(schedule, settings.capacity_step_time, watcher)
            cpu_share = (time.process_time() - cpu) / max(time.perf_counter() - wall, 1e-9)
            if not self.arrivals.drain(max(settings.capacity_step_time, float(settings.request_timeout))):
                log.warning("capacity step %s: arrivals still in flight after the step", format_rate(rate))
            if self.arrivals.stopping.is_set():
                break
            step = search.record(watcher.figures(rate, cpu_share))
            log.info("capacity step %s: %d requests, p50 %g ms, p95 %g ms, p99 %g ms, %.2f%% failed, late p99 %g ms"
                     " (%d of %d arrivals late) -> %s", format_rate(rate), step.requests, step.p50_ms, step.p95_ms,
                     step.p99_ms, step.fail_ratio * 100, step.late_p99_ms, step.late_arrivals, step.arrivals,
                     step.verdict)  # fmt: skip
        self.finish()

    def finish(self) -> None:
        """A rollout or search is done here; a worker's master ends the run when every worker's part is done."""
        if not isinstance(self.environment.runner, WorkerRunner):
            finish_run(self.environment)

    def stop(self) -> None:
        grace = float(self.environment.stop_timeout or 0)
        self.arrivals.stop(grace)
        self.greenlet.kill(block=False)
        if self.search is not None:
            self.search.cut()

    def as_dict(self) -> dict[str, Any]:
        figures = self.arrivals.as_dict()
        figures["waves"] = [wave.as_dict() for wave in self.waves]
        if self.replay is not None:
            figures["replay"] = self.replay.figures()
        return figures


def finish_run(environment: Environment) -> None:
    """End the run: headless, quit (the figures are printed and written); with the web UI, stop and stay."""
    runner = environment.runner
    if runner is None:
        return
    if getattr(environment.parsed_options, "headless", False) or environment.web_ui is None:
        gevent.spawn(runner.quit)
    else:
        gevent.spawn(runner.stop)


def send_places(environment: Environment) -> None:
    """On a master at test start: each worker's index and the number of workers."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    workers = sorted(runner.clients)
    for index, client_id in enumerate(workers):
        runner.send_message(PLACE_MESSAGE, {"index": index, "workers": len(workers)}, client_id)
