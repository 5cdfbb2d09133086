"""Open-model arrivals: when each task is due, whatever the registry does (no HTTP, no Locust here).

A schedule holds one stream per entry (a task name) at a rate per second, Poisson (exponential gaps, as
independent clients arrive) or constant (even gaps). The rate at each moment is the entry's rate times a
`level` (a load shape's share of its peak, 0..1) times this process's `share` of the whole run (the master
gives each worker 1/N). Offsets are seconds from the schedule's start; the runner turns them into clock times.
"""

from __future__ import annotations

import heapq
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import RegistryTasksError

ARRIVAL_PROCESSES = ("poisson", "constant")


class Dropped(RegistryTasksError):
    """An arrival not sent: --max-in-flight arrivals were already in flight (reported as its task's failure)."""


RECHECK_SECONDS = 0.1
"""While an entry's rate is 0 (a shape at 0, a worker not yet given its share), look again this often."""
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:/\s*(s|m))?\s*$")


def parse_rate(text: str) -> float:
    """`80/s`, `90/m` or a bare `80` (per second) -> arrivals per second; refuses 0 and anything else."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a rate such as 80/s or 300/m")
    number = float(match.group(1))
    per_second = number / 60 if match.group(2) == "m" else number
    if per_second <= 0:
        raise ValueError(f"{text!r}: a rate must be more than 0")
    return per_second


def format_rate(per_second: float) -> str:
    return f"{per_second:.4g}/s" if per_second >= 1 else f"{per_second * 60:.4g}/m"


@dataclass
class ArrivalSchedule:
    """Due offsets of every entry's arrivals, merged in time order."""

    rates: Mapping[str, float]
    process: str = "poisson"
    level: Callable[[float], float] = lambda _offset: 1.0
    share: float = 1.0
    phase: float = 0.0
    """Where in its first gap a constant stream starts (0..1): workers spread their streams apart."""
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.process not in ARRIVAL_PROCESSES:
            raise ValueError(f"{self.process!r} is not one of {', '.join(ARRIVAL_PROCESSES)}")
        self.random = random.Random(self.seed)
        self.queue: list[tuple[float, int, str]] = []
        for order, entry in enumerate(self.rates):
            self._plan(entry, order, 0.0, first=True)

    def rate(self, entry: str, offset: float) -> float:
        """Arrivals per second of `entry` in this process at `offset`."""
        return self.rates[entry] * max(self.level(offset), 0.0) * max(self.share, 0.0)

    def _plan(self, entry: str, order: int, offset: float, first: bool = False) -> None:
        rate = self.rate(entry, offset)
        if rate <= 0:
            heapq.heappush(self.queue, (offset + RECHECK_SECONDS, order, "?" + entry))
            return
        if self.process == "constant":
            gap = 1.0 / rate * (self.phase if first else 1.0)
        else:
            gap = self.random.expovariate(rate)
        heapq.heappush(self.queue, (offset + gap, order, entry))

    def next(self) -> tuple[float, str | None]:
        """The next offset and the entry due then, or (offset, None): nothing due, ask again at that offset."""
        offset, order, entry = heapq.heappop(self.queue)
        if entry.startswith("?") or self.rate(entry, offset) <= 0:  # planned before the rate fell to 0: not due
            self._plan(entry.lstrip("?"), order, offset, first=True)
            return offset, None
        self._plan(entry, order, offset)
        return offset, entry
