"""Rollout storms: N nodes each pull one image once, starting evenly over a window; their figures at the end.

No HTTP and no Locust: the plugin runs the nodes and hands their finishing times here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_SPEC = re.compile(r"^\s*(\d+)\s*(?:@\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


@dataclass(frozen=True)
class RolloutSpec:
    """`--rollout NODES[@WINDOW]`: how many nodes, and over how many seconds they start (0: all at once)."""

    nodes: int
    window_s: float = 0.0

    @classmethod
    def parse(cls, text: str) -> RolloutSpec:
        match = _SPEC.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not NODES[@WINDOW], e.g. 2000 or 2000@60s")
        nodes = int(match.group(1))
        if nodes < 1:
            raise ValueError(f"{text!r}: a rollout needs at least 1 node")
        window = float(match.group(2) or 0) * _UNITS[match.group(3)]
        return cls(nodes, window)

    def starts(self, worker: int = 0, workers: int = 1) -> list[tuple[int, float]]:
        """(node index, start offset in seconds) of the nodes this process runs: every `workers`-th node."""
        gap = self.window_s / self.nodes
        return [(node, node * gap) for node in range(worker, self.nodes, max(workers, 1))]


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values (a node either finished by then or not)."""
    rank = max(math.ceil(share * len(sorted_values)), 1)
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class RolloutFigures:
    """What an operator reads after a storm: seconds from the rollout's start until nodes had finished.

    A node is done when its pull ended, pulled (`completed`) or `failed`; a run that ends first leaves nodes
    `pulling` (started, not ended) or `not_started`: those are neither, and the rollout is incomplete."""

    nodes: int
    completed: int
    failed: int
    first_s: float | None
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    last_s: float | None
    peak_mbps: float
    pulling: int = 0
    not_started: int = 0

    @classmethod
    def of(
        cls,
        nodes: int,
        finished: Iterable[float],
        failed: int,
        bytes_per_second: Mapping[int, int],
        pulling: int = 0,
        not_started: int = 0,
    ) -> RolloutFigures:
        """`finished`: offsets of the nodes whose pull succeeded; `bytes_per_second`: bytes moved per whole second
        of the rollout (offset -> bytes), whose highest second is the peak."""
        done = sorted(finished)
        peak = max(bytes_per_second.values(), default=0) / 1_000_000

        def at(share: float) -> float | None:
            return round(percentile(done, share), 3) if done else None

        return cls(nodes, len(done), failed, at(0.0), at(0.5), at(0.9), at(0.99), at(1.0), round(peak, 3), pulling,
                   not_started)  # fmt: skip

    @property
    def done(self) -> int:
        return self.completed + self.failed

    @property
    def complete(self) -> bool:
        return self.done >= self.nodes

    def line(self, what: str = "rollout") -> str:
        def seconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f} s"

        counts = f"{self.failed} failed"
        if not self.complete:
            counts += f", {self.pulling} still pulling, {self.not_started} not started"
        return (
            f"{what}: {self.completed} of {self.nodes} nodes pulled ({counts}); finished after "
            f"first {seconds(self.first_s)}, p50 {seconds(self.p50_s)}, p90 {seconds(self.p90_s)}, "
            f"p99 {seconds(self.p99_s)}, last {seconds(self.last_s)}; peak {self.peak_mbps:.1f} MB/s"
        )

    def shortfall(self, what: str = "rollout") -> str | None:
        """`rollout incomplete: 7 of 30 nodes done ...` when the run ended before every node was done."""
        if self.complete:
            return None
        failed = f" ({self.failed} failed)" if self.failed else ""
        return (f"{what} incomplete: {self.done} of {self.nodes} nodes done{failed} when the run ended; "
                f"{self.pulling} still pulling, {self.not_started} not started")  # fmt: skip
