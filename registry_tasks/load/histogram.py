"""A mergeable latency histogram in milliseconds: what lateness and capacity steps need, without Locust.

Values are rounded as Locust rounds response times (whole ms under 100, two significant figures above), so
its percentiles read like Locust's, and a histogram is a small dict that travels from workers to the master.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def bucket(ms: float) -> int:
    """Locust's rounding of a response time: 2 significant figures above 100 ms."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    if ms < 10000:
        return int(round(ms, -2))
    return int(round(ms, -3))


class Histogram:
    """Counts per rounded millisecond value; `percentile(0.99)` as Locust computes its own."""

    __slots__ = ("counts", "total")

    def __init__(self, counts: Mapping[Any, int] | None = None) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0
        if counts:
            self.merge(counts)

    def add(self, ms: float) -> None:
        key = bucket(ms)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.total += 1

    def merge(self, counts: Mapping[Any, int]) -> None:
        """Add another histogram's counts (keys may be text after a trip through JSON or msgpack)."""
        for key, count in counts.items():
            value = int(key)
            self.counts[value] = self.counts.get(value, 0) + int(count)
            self.total += int(count)

    def percentile(self, share: float) -> float:
        """The smallest value at or above which `1 - share` of the values lie (0 when empty)."""
        if not self.total:
            return 0.0
        wanted = self.total * share
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen >= wanted:
                return float(value)
        return float(max(self.counts))

    def count_above(self, ms: float) -> int:
        """How many values lie above `ms`."""
        return sum(count for value, count in self.counts.items() if value > ms)

    def as_dict(self) -> dict[int, int]:
        return dict(self.counts)
