"""Run inside its own process by bench/arrivals.py: the open-model scheduler's own CPU per arrival.

A real `Arrivals` (the plugin's scheduler: schedule, in-flight bound, greenlet per arrival, lateness tally,
the due-time reporter) drives a constant schedule whose work does nothing, so what is measured is the
scheduler alone. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import gevent
import gevent.pool
import locust  # noqa: F401  (it monkey-patches the standard library, as in a real run)
from locust.env import Environment
from locust.event import Events

from registry_tasks.load import ArrivalSchedule
from registry_tasks.plugin.open_model.arrival_pool import Arrivals, Client, DueFire


def main(rate: float, seconds: float) -> None:
    environment = Environment(events=Events())
    arrivals = Arrivals(environment, max_in_flight=10_000)
    client = Client(user=None, fire=DueFire(environment.events.request.fire))  # type: ignore[arg-type]

    def nothing(_user: object) -> None:
        pass

    class Driven(ArrivalSchedule):
        """Every arrival runs `nothing` on the one client (no pool, no HTTP)."""

    schedule = Driven({"manifest-get": rate}, "constant")
    original = arrivals.arrive

    def arrive(entry: str, due: float, sink: object = None, work: object = None, given: object = None) -> object:
        return original(entry, due, None, nothing, client)

    arrivals.arrive = arrive  # type: ignore[method-assign]
    cpu, wall = time.process_time(), time.perf_counter()
    arrivals.run_schedule(schedule, seconds)
    arrivals.drain(5)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    started = arrivals.tallies["manifest-get"].started
    late = arrivals.tallies["manifest-get"].late
    floor = gevent_floor(rate, started)
    print(json.dumps({"rate": rate, "seconds": wall, "arrivals": started, "cpu_s": cpu,
                      "us_per_arrival": cpu / started * 1e6, "floor_us_per_arrival": floor,
                      "late_p99_ms": late.percentile(0.99)}))  # fmt: skip


def gevent_floor(rate: float, count: int) -> float:
    """CPU per arrival of the least any gevent scheduler does: sleep until due, spawn a greenlet that returns."""
    group = gevent.pool.Group()
    cpu, start = time.process_time(), time.perf_counter()
    for number in range(count):
        wait = start + number / rate - time.perf_counter()
        if wait > 0:
            gevent.sleep(wait)
        group.spawn(lambda: None)
    group.join()
    return (time.process_time() - cpu) / count * 1e6


if __name__ == "__main__":
    main(float(sys.argv[1]), float(sys.argv[2]))
