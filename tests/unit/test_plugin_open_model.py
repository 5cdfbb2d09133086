"""The open model's scheduler without a registry: the due-time reporter, drops beyond the in-flight bound,
schedules run on time, and the merging of several processes' figures."""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust.env import Environment
from locust.event import Events

from registry_tasks.load import ArrivalSchedule
from registry_tasks.plugin.open_model.arrival_pool import Arrivals, Client, DueFire
from registry_tasks.plugin.open_model.figures import merged, rollout_figures, rollout_sections

from ..support.helpers import Recorder


def environment() -> tuple[Environment, Recorder]:
    recorder = Recorder()
    env = Environment(events=Events())
    env.events.request.add_listener(recorder)
    return env, recorder


def test_the_headline_entry_counts_from_the_due_time_and_others_do_not() -> None:
    recorded: list[dict[str, Any]] = []
    fire = DueFire(lambda **event: recorded.append(event))
    fire.due, fire.headline = time.perf_counter() - 0.5, "manifest-get"
    fire(name="manifest-get", response_time=2.0, exception=None)
    fire(name="ping", response_time=1.0, exception=None)
    assert recorded[0]["response_time"] >= 500 and recorded[1]["response_time"] == 1.0
    fire.due = None
    fire(name="manifest-get", response_time=3.0, exception=None)
    assert recorded[2]["response_time"] == 3.0  # between arrivals (a pooled client idle): as measured


def test_arrivals_beyond_the_bound_are_dropped_failures_of_the_headline_entry() -> None:
    env, recorder = environment()
    arrivals = Arrivals(env, max_in_flight=2)
    client = Client(user=None, fire=DueFire(env.events.request.fire))  # type: ignore[arg-type]

    def slow(_user: object) -> None:
        gevent.sleep(0.2)

    now = time.perf_counter()
    for _ in range(3):
        arrivals.arrive("image-pull", now, work=slow, client=client)
    assert arrivals.in_flight == 2
    assert arrivals.drain(2)
    tally = arrivals.tallies["image-pull"]
    assert (tally.started, tally.dropped) == (2, 1)
    (dropped,) = recorder.named("image-pull")
    assert dropped["request_type"] == "PULL"
    assert repr(dropped["exception"]) == "dropped: 2 arrivals were already in flight (--max-in-flight)"


def test_a_schedule_runs_on_time_and_stops_when_told() -> None:
    env, _ = environment()
    arrivals = Arrivals(env, max_in_flight=100)
    client = Client(user=None, fire=DueFire(env.events.request.fire))  # type: ignore[arg-type]
    starts: list[float] = []
    original = arrivals.arrive
    arrivals.arrive = lambda entry, due, sink=None, work=None, given=None: original(  # type: ignore[method-assign]
        entry, due, sink, lambda _user: starts.append(time.perf_counter() - due), client
    )
    began = time.perf_counter()
    arrivals.run_schedule(ArrivalSchedule({"blob-get": 200}, "constant"), 1.0)
    assert time.perf_counter() - began >= 1.0  # the schedule's second, however busy the machine
    assert arrivals.tallies["blob-get"].started == 200 and len(starts) == 200  # by due time: exactly 200
    assert min(starts) >= 0  # never before it was due
    greenlet = gevent.spawn(arrivals.run_schedule, ArrivalSchedule({"blob-get": 200}, "constant"))
    gevent.sleep(0.2)
    arrivals.stop(grace=1)
    greenlet.join(timeout=1)
    stopped_at = arrivals.tallies["blob-get"].started
    gevent.sleep(0.1)
    assert greenlet.dead and stopped_at > 200 and arrivals.tallies["blob-get"].started == stopped_at


def test_workers_figures_merge_into_the_runs() -> None:
    one = {"schedule_s": 10.0, "entries": {"manifest-get": {"started": 5, "dropped": 1, "late": {"1": 5}}},
           "waves": [{"nodes": 2, "due": 2, "finished": [0.5, 0.7], "failed": 0, "bytes": {"0": 100}}]}  # fmt: skip
    two = {"schedule_s": 10.2, "entries": {"manifest-get": {"started": 7, "dropped": 0, "late": {"3": 7}}},
           "waves": [{"nodes": 1, "due": 1, "finished": [], "failed": 1, "bytes": {"0": 50, "1": 20}}]}  # fmt: skip
    both = merged([one, two])
    assert both["schedule_s"] == 10.2
    entry = both["entries"]["manifest-get"]
    assert (entry["started"], entry["dropped"], entry["late"].percentile(0.99)) == (12, 1, 3.0)
    assert both["waves"] == [{"nodes": 3, "due": 3, "finished": [0.5, 0.7], "failed": 1, "bytes": {0: 150, 1: 20}}]


def test_a_rollout_the_run_cut_short_counts_nodes_pulling_and_not_started_apart_from_failed() -> None:
    """30 nodes, 2 workers: one got 8 due (6 pulled, 1 failed, 1 pulling); the other's report never came. The
    run ended: 23 nodes never started and 1 was still pulling; neither is a failure."""
    waves = merged([{"waves": [{"nodes": 15, "due": 8, "finished": [0.1] * 6, "failed": 1, "bytes": {}}]}])["waves"]
    found = rollout_sections(30, waves, update=True)
    rollout = found["rollout"]
    assert (rollout["completed"], rollout["failed"], rollout["pulling"], rollout["not_started"]) == (6, 1, 1, 22)
    assert rollout["complete"] is False
    figures = rollout_figures(rollout)
    assert figures.shortfall() == "rollout incomplete: 7 of 30 nodes done (1 failed) when the run ended; " \
                                  "1 still pulling, 22 not started"  # fmt: skip
    assert "6 of 30 nodes pulled (1 failed, 1 still pulling, 22 not started)" in figures.line()
    update = found["rollout_update"]  # the update wave never began: every node not started
    assert (update["completed"], update["failed"], update["not_started"], update["complete"]) == (0, 0, 30, False)
    whole = rollout_sections(2, [{"nodes": 2, "due": 2, "finished": [0.2], "failed": 1, "bytes": {}}], update=False)
    assert whole["rollout"]["complete"] is True and rollout_figures(whole["rollout"]).shortfall() is None
