"""Figures over time, which Locust does not keep: MB/s down and up, images/s, the open model's achieved and
dropped arrivals per second, rollout nodes done; sampled every SAMPLE_SECONDS on the master (or the only
process) from the same stats every table reads.

"Now" figures (the Registry tab's current MB/s) are rates over the last NOW_SECONDS, so a master's figures,
which arrive from its workers every 3 s, do not jump between 0 and twice the rate.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import WorkerRunner

from ...registry import names
from ..open_model.figures import merged
from .throughput import MB

SAMPLE_SECONDS = 2.0
NOW_SECONDS = 6.0
KEEP_POINTS = 1800  # an hour at one point per 2 s; older points are dropped
DOWNLOADS = ("GET",)
IMAGES = names.IMAGE_METHODS
OPERATIONS = tuple(names.OPERATION_METHODS.values())
Parts = Callable[[], list[dict[str, Any]]]
"""The open model's figures of each process (open_model/figures.py's `OpenFigures.parts`)."""


@dataclass(frozen=True)
class Point:
    """One sample: seconds since the test started, and rates over the interval before it."""

    t: float
    down_mbps: float
    up_mbps: float
    images_per_s: float
    arrivals_per_s: float
    dropped_per_s: float
    nodes_done: int


@dataclass(frozen=True)
class Totals:
    """Cumulative figures at one moment."""

    at: float
    down: int
    up: int
    images: int
    arrivals: int
    dropped: int
    nodes_done: int
    per_entry: dict[tuple[str, str], int]


def totals(environment: Environment, parts: Parts) -> Totals:
    assert environment.runner is not None
    down = up = images = 0
    per_entry: dict[tuple[str, str], int] = {}
    for (name, method), entry in environment.runner.stats.entries.items():
        per_entry[(method or "", name)] = entry.total_content_length
        if method in IMAGES:
            images += entry.num_requests
        if method in OPERATIONS:
            continue  # their bytes are their requests' again
        if method in DOWNLOADS:
            down += entry.total_content_length
        else:
            up += entry.total_content_length
    figures = merged(parts())
    arrivals = sum(tally["started"] for tally in figures["entries"].values())
    dropped = sum(tally["dropped"] for tally in figures["entries"].values())
    done = sum(len(wave["finished"]) + wave["failed"] for wave in figures["waves"])
    return Totals(time.monotonic(), down, up, images, arrivals, dropped, done, per_entry)


class History:
    """The samples of one test run (cleared at each start)."""

    def __init__(self) -> None:
        self.points: deque[Point] = deque(maxlen=KEEP_POINTS)
        self.recent: deque[Totals] = deque()
        self.started = time.monotonic()
        self.last: Totals | None = None

    def sample(self, now: Totals) -> None:
        last = self.last
        if last is not None and now.at > last.at:
            span = now.at - last.at
            self.points.append(Point(
                t=round(now.at - self.started, 1),
                down_mbps=round((now.down - last.down) / span / MB, 3),
                up_mbps=round((now.up - last.up) / span / MB, 3),
                images_per_s=round((now.images - last.images) / span, 3),
                arrivals_per_s=round((now.arrivals - last.arrivals) / span, 3),
                dropped_per_s=round((now.dropped - last.dropped) / span, 3),
                nodes_done=now.nodes_done,
            ))  # fmt: skip
        self.last = now
        self.recent.append(now)
        while len(self.recent) > 2 and now.at - self.recent[1].at >= NOW_SECONDS:
            self.recent.popleft()

    def mbps_now(self) -> dict[tuple[str, str], float]:
        """Each entry's MB/s over about the last NOW_SECONDS."""
        if len(self.recent) < 2:
            return {}
        first, last = self.recent[0], self.recent[-1]
        span = last.at - first.at
        if span <= 0:
            return {}
        rates = {key: round((moved - first.per_entry.get(key, 0)) / span / MB, 3)
                 for key, moved in last.per_entry.items()}  # fmt: skip
        once = (last.down + last.up - first.down - first.up) / span / MB  # each byte once, as the table's total
        rates[("", "Aggregated")] = round(once, 3)
        return rates

    def as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(point) for point in self.points]


class Timeline:
    """The history of the current test and the greenlet that samples it, where the tables are (not on workers)."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.history = History()
        self.sampler: gevent.Greenlet | None = None

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        """A new history per test; sampled where the tables are (not on workers)."""
        if isinstance(environment.runner, WorkerRunner) or environment.runner is None:
            return
        self.history = history = History()
        if self.sampler is not None:
            self.sampler.kill(block=False)

        def sample_forever() -> None:
            while True:
                history.sample(totals(environment, self.parts))
                gevent.sleep(SAMPLE_SECONDS)

        self.sampler = gevent.spawn(sample_forever)

    def on_test_stop(self, environment: Environment, **_: Any) -> None:
        """One last sample, then the sampler stops: the charts end where the test did."""
        if self.sampler is None or environment.runner is None:
            return
        self.sampler.kill(block=False)
        self.sampler = None
        self.history.sample(totals(environment, self.parts))
