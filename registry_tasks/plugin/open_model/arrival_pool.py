"""The open model in one process: arrivals run a task once each on pooled simulated clients, whatever the
registry does, and each is timed from when it was due.

A due arrival takes an idle client of its task's user class from a pool (or makes one: a `RegistryUser`
instance that Locust never spawns), runs the task's own function on it and gives it back. The task's
headline entry (`manifest-get`, `image-pull`, ...) is reported from the due time to its end, so a registry
that stalls shows in the percentiles even when the load generator could not start the arrival on time; how
late each arrival started is counted apart (`late_p99_ms`). With `--max-in-flight` arrivals running, the next
one is not sent but reported as a `dropped:` failure of its headline entry, so gates see it.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
import gevent.pool
from locust.env import Environment
from locust.exception import StopUser

from ...load import ArrivalSchedule, Histogram, tasks
from ...load.arrivals import Dropped
from ...registry.errors import Failure
from ..users.classes import HEADLINES, TASKS, RegistryUser

log = logging.getLogger("registry_tasks.plugin.open_model")


class Watcher:
    """Sees what arrivals do, for figures of their own (a rollout's nodes, a capacity step): how late each
    started, and every event its client reported, with whether it was the arrival's headline entry."""

    def started(self, late_ms: float) -> None:
        """An arrival started `late_ms` after it was due."""

    def event(self, event: dict[str, Any], headline: bool) -> None:
        """A request (or the whole operation, or a drop) was reported."""


Work = Callable[[RegistryUser], None]


class DueFire:
    """One pooled client's reporter: the arrival's headline entry counts from its due time."""

    __slots__ = ("due", "expect_missing", "fire", "headline", "sink")

    def __init__(self, fire: Callable[..., None]) -> None:
        self.fire = fire
        self.due: float | None = None
        self.headline = ""
        self.sink: Watcher | None = None
        self.expect_missing = False
        """A replayed probe of something the trace found missing: its 404 is the answer, not a failure."""

    def __call__(self, **event: Any) -> None:
        headline = self.due is not None and event["name"] == self.headline
        if headline:
            assert self.due is not None
            late = time.perf_counter() - self.due
            event["response_time"] = late * 1000
            event["start_time"] = time.time() - late  # when it was due, as its response_time counts
            if self.expect_missing and status_of(event["exception"]) == 404:
                event["exception"] = None
        if self.sink is not None:
            self.sink.event(event, headline)
        self.fire(**event)


def status_of(exception: BaseException | None) -> int | None:
    cause = getattr(exception, "cause", None) or exception
    return getattr(cause, "status", None)


@dataclass
class Client:
    """A simulated client: a user instance whose requests go through its own DueFire."""

    user: RegistryUser
    fire: DueFire
    key: Hashable = None


class ClientPool:
    """Idle clients per user class; `default_profile` is the profile a new client takes unless told one."""

    def __init__(self, environment: Environment, default_profile: str) -> None:
        self.environment = environment
        self.default_profile = default_profile
        self.idle: dict[Hashable, list[Client]] = defaultdict(list)
        self.made = 0

    def take(self, user_class: type[RegistryUser], key: Hashable = None) -> Client:
        """An idle client of `key` (a replayed trace's client address; by default the user class), or a new one."""
        idle = self.idle[key or user_class]
        if idle:
            return idle.pop()
        client = self.make(user_class)
        client.key = key or user_class
        return client

    def make(self, user_class: type[RegistryUser]) -> Client:
        user = user_class(self.environment)
        user.host = self.environment.host  # Locust sets it only on the classes it spawns
        fire = DueFire(self.environment.events.request.fire)
        user.reporter, user.default_profile = fire, self.default_profile
        user.on_start()
        self.made += 1
        return Client(user, fire)

    def give(self, client: Client) -> None:
        self.idle[client.key or type(client.user)].append(client)

    def close(self) -> None:
        for clients in self.idle.values():
            for client in clients:
                client.user.on_stop()
        self.idle.clear()


@dataclass
class EntryTally:
    """One entry's arrivals in this process: started, dropped, and how late they started."""

    started: int = 0
    dropped: int = 0
    late: Histogram = field(default_factory=Histogram)

    def as_dict(self) -> dict[str, Any]:
        return {"started": self.started, "dropped": self.dropped, "late": self.late.as_dict()}


@dataclass(frozen=True)
class ArrivalSpec:
    """An arrival that is not a task's: a replayed record, with the entry it is timed and dropped as."""

    headline: tuple[str, str]
    key: Hashable = None
    expect_missing: bool = False


class Arrivals:
    """Runs due arrivals: the in-flight bound, the pool, the tallies; schedules drive it (`run_schedule`)."""

    def __init__(self, environment: Environment, max_in_flight: int, default_profile: str = "docker") -> None:
        self.environment = environment
        self.max_in_flight = max_in_flight
        self.pool = ClientPool(environment, default_profile)
        self.running = gevent.pool.Group()
        self.tallies: dict[str, EntryTally] = defaultdict(EntryTally)
        self.stopping = gevent.event.Event()
        self.schedule_started: float | None = None  # perf_counter of the first schedule's start
        self.schedule_ended: float | None = None
        self._logged: set[str] = set()

    @property
    def in_flight(self) -> int:
        return len(self.running)

    def schedule_seconds(self) -> float:
        if self.schedule_started is None:
            return 0.0
        return (self.schedule_ended or time.perf_counter()) - self.schedule_started

    def arrive(
        self,
        entry: str,
        due: float,
        sink: Watcher | None = None,
        work: Work | None = None,
        client: Client | None = None,
        spec: ArrivalSpec | None = None,
    ) -> gevent.Greenlet | None:
        """Start one arrival of task `entry` due at `due` (perf_counter), or drop it when too many are in flight.
        It runs the task's own function on a pooled client, or `work` on `client` (a rollout's node), or as
        `spec` says (a replayed record: its own headline entry, pool key and expected 404)."""
        tally = self.tallies[entry]
        if len(self.running) >= self.max_in_flight:
            tally.dropped += 1
            self.drop(entry, sink, spec)
            return None
        tally.started += 1
        return self.running.spawn(self._run, entry, due, tally, sink, work, client, spec)

    def drop(self, entry: str, sink: Watcher | None, spec: ArrivalSpec | None = None) -> None:
        method, name = spec.headline if spec is not None else HEADLINES[entry]
        event = {
            "request_type": method,
            "name": name,
            "response_time": 0.0,
            "response_length": 0,
            "exception": Failure(f"dropped: {self.max_in_flight} arrivals were already in flight (--max-in-flight)",
                                 Dropped()),
            "context": {},
        }
        if sink is not None:
            sink.event(event, True)
        self.environment.events.request.fire(**event, response=None, url=None)

    def _run(
        self,
        entry: str,
        due: float,
        tally: EntryTally,
        sink: Watcher | None,
        work: Work | None,
        client: Client | None,
        spec: ArrivalSpec | None,
    ) -> None:
        user_class, function = TASKS.get(entry, TASKS[tasks.MANIFEST_GET])
        late_ms = max(time.perf_counter() - due, 0.0) * 1000
        tally.late.add(late_ms)
        if sink is not None:
            sink.started(late_ms)
        pooled = client is None
        try:
            client = client or self.pool.take(user_class, spec.key if spec is not None else None)
        except Exception as exc:  # a client that cannot start (a credentials file removed mid-run...)
            self._once(f"a simulated client could not start: {exc}")
            return
        headline = spec.headline if spec is not None else HEADLINES[entry]
        client.fire.due, client.fire.headline, client.fire.sink = due, headline[1], sink
        client.fire.expect_missing = spec is not None and spec.expect_missing
        try:
            (work or function)(client.user)
        except StopUser:
            self._once(f"{entry}: nothing to run it on (seeding found no image); its arrivals do nothing")
        except Exception as exc:
            self._once(f"{entry}: {exc!r}")
            runner = self.environment.runner
            if runner is not None:
                runner.log_exception("local", repr(exc), traceback.format_exc())
        finally:
            client.fire.due, client.fire.sink = None, None
            if pooled:
                self.pool.give(client)

    def _once(self, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            log.error("%s", message)

    def run_schedule(
        self, schedule: ArrivalSchedule, seconds: float | None = None, sink: Watcher | None = None
    ) -> None:
        """Send `schedule`'s arrivals on time until `seconds` pass (None: until stopped)."""
        start = time.perf_counter()
        if self.schedule_started is None:
            self.schedule_started = start
        end = None if seconds is None else start + seconds
        while not self.stopping.is_set():
            offset, entry = schedule.next()
            due = start + offset
            if end is not None and due >= end:
                break
            wait = due - time.perf_counter()
            if wait > 0:
                gevent.sleep(wait)  # not Event.wait(timeout): a timeout is raised and caught, 3x the cost
                if self.stopping.is_set():
                    break
            if entry is not None:
                self.arrive(entry, due, sink)
        if end is not None and not self.stopping.is_set():
            self.stopping.wait(max(end - time.perf_counter(), 0.0))

    def drain(self, seconds: float) -> bool:
        """Wait up to `seconds` for the arrivals in flight; True when none is left."""
        self.running.join(timeout=seconds)
        return not self.running

    def stop(self, grace: float) -> None:
        """No new arrival; the ones in flight get `grace` seconds (Locust's --stop-timeout), then are killed."""
        self.stopping.set()
        if self.schedule_ended is None:
            self.schedule_ended = time.perf_counter()
        if grace > 0:
            self.drain(grace)
        self.running.kill(block=True, timeout=5)
        self.pool.close()

    def as_dict(self) -> dict[str, Any]:
        return {"schedule_s": self.schedule_seconds(),
                "entries": {entry: tally.as_dict() for entry, tally in self.tallies.items()}}  # fmt: skip
