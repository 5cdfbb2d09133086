"""Capacity search: the highest arrival rate of one entry that keeps a latency and failure SLO.

Steps of a fixed time: from a start rate, x1.5 per step until the SLO breaks, then bisect between the
highest rate that held and the lowest that broke until they are within 5% of each other. A step in which
the load generator itself could not keep the schedule (lateness or its own CPU over a limit) is
`generator-bound`: the search stops there and says so instead of blaming the registry. A search that the run's
end stops before it is done (`cut()`) found no capacity: it says so, with the bracket it had. No Locust here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .arrivals import format_rate

GROWTH = 1.5
PRECISION = 0.05
LATE_LIMIT_MS = 200.0
"""An arrival that started this much after its due time was not sent at the rate asked."""
LATE_SHARE = 0.01
"""A step with more than this share of its arrivals late (and more than one) was not the registry's rate: the
generator fell behind. A count, not a p99: a 2 s step at 20/s has 41 arrivals, whose p99 is their maximum, so one
scheduling hiccup of the machine would judge the whole step."""
CPU_LIMIT = 0.9
"""Share of one core the generator may use in a step before the step is generator-bound."""
_SLO_ITEM = re.compile(r"^(p50|p95|p99|fail)=(\d+(?:\.\d+)?|\.\d+)$")


@dataclass(frozen=True)
class Slo:
    """`p95=MS[,p99=MS][,fail=R]`: limits a step must keep to hold."""

    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    fail_ratio: float | None = None

    @classmethod
    def parse(cls, text: str) -> Slo:
        limits: dict[str, float] = {}
        for item in text.replace(" ", "").split(","):
            match = _SLO_ITEM.match(item)
            if match is None:
                raise ValueError(f"{item!r} is not p50=MS, p95=MS, p99=MS or fail=RATIO (e.g. p95=200,fail=0.01)")
            limits[match.group(1)] = float(match.group(2))
        if "fail" in limits and limits["fail"] > 1:
            raise ValueError(f"fail={limits['fail']:g}: a failure ratio is between 0 and 1")
        if not {"p50", "p95", "p99"} & limits.keys():
            raise ValueError(f"{text!r} names no latency limit (p50=, p95= or p99=)")
        return cls(limits.get("p50"), limits.get("p95"), limits.get("p99"), limits.get("fail"))

    def breach(self, step: StepFigures) -> str | None:
        """Why the step broke the SLO (`p95 312 ms > 200`), or None when it held."""
        for label, limit, measured, unit in (
            ("p50", self.p50_ms, step.p50_ms, " ms"),
            ("p95", self.p95_ms, step.p95_ms, " ms"),
            ("p99", self.p99_ms, step.p99_ms, " ms"),
            ("fail", self.fail_ratio, step.fail_ratio, ""),
        ):
            if limit is not None and measured > limit:
                return f"{label} {measured:g}{unit} > {limit:g}"
        return None

    def headline(self) -> str:
        """The figure the result line quotes: the first latency limit given."""
        return "p50" if self.p50_ms is not None and self.p95_ms is None else "p95" if self.p95_ms is not None else "p99"


@dataclass(frozen=True)
class StepFigures:
    """One step's measurements of the searched entry, from its arrivals' due times."""

    rate_per_s: float
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    fail_ratio: float
    late_p99_ms: float
    cpu_share: float = 0.0
    arrivals: int = 0
    """Arrivals started in the step (a request may fail before it is timed, so not `requests`)."""
    late_arrivals: int = 0
    """Of those, the ones started more than `LATE_LIMIT_MS` after their due time."""
    verdict: str = ""
    """`held`, `breached: <why>` or `generator-bound: <why>`, filled in by the search."""

    def figure(self, name: str) -> float:
        return float(getattr(self, f"{name}_ms"))

    def fell_behind(self) -> bool:
        """More than one arrival, and more than `LATE_SHARE` of them, started over `LATE_LIMIT_MS` late."""
        return self.late_arrivals > max(1.0, self.arrivals * LATE_SHARE)


@dataclass
class CapacitySearch:
    """The rates to try, one step at a time: `next_rate()`, run the step, `record(figures)`, until None."""

    entry: str
    slo: Slo
    start: float = 10.0
    steps: list[StepFigures] = field(default_factory=list)
    held: StepFigures | None = None
    broke: StepFigures | None = None
    bound: StepFigures | None = None
    cut_short: bool = False
    """The run ended while the search still had a rate to try (`cut()`)."""

    def next_rate(self) -> float | None:
        if self.bound is not None or (self.broke is not None and self.held is None):
            return None
        if self.broke is None:
            return self.start if self.held is None else self.held.rate_per_s * GROWTH
        assert self.held is not None
        low, high = self.held.rate_per_s, self.broke.rate_per_s
        if (high - low) / low <= PRECISION:
            return None
        return (low + high) / 2

    def record(self, step: StepFigures) -> StepFigures:
        """Judge a step against the SLO and the generator's own limits; returns it with its verdict."""
        if step.fell_behind() or step.cpu_share >= CPU_LIMIT:
            why = (f"{step.late_arrivals} of {step.arrivals} arrivals started over {LATE_LIMIT_MS:g} ms late "
                   f"(p99 {step.late_p99_ms:g} ms)" if step.fell_behind()
                   else f"the load generator used {step.cpu_share:.0%} of a core")  # fmt: skip
            step = _with(step, f"generator-bound: {why}")
            self.bound = step
        elif (breach := self.slo.breach(step)) is not None:
            step = _with(step, f"breached: {breach}")
            if self.broke is None or step.rate_per_s < self.broke.rate_per_s:
                self.broke = step
        else:
            step = _with(step, "held")
            if self.held is None or step.rate_per_s > self.held.rate_per_s:
                self.held = step
        self.steps.append(step)
        return step

    def cut(self) -> None:
        """The run is ending: a search with a rate still to try was cut short (a step in flight is not recorded)."""
        self.cut_short = self.next_rate() is not None

    @property
    def found(self) -> bool:
        return self.held is not None and not self.cut_short

    def bracket(self) -> str:
        """What a cut-short search had: the highest rate that held and the lowest that broke, how far apart."""
        if self.held is None:
            return "no step had ended"
        held = f"{format_rate(self.held.rate_per_s)} held"
        if self.broke is None:
            return f"{held} (the highest tried), none breached yet"
        gap = (self.broke.rate_per_s - self.held.rate_per_s) / self.held.rate_per_s
        return (f"{held}, {format_rate(self.broke.rate_per_s)} breached: {gap:.1%} apart, "
                f"not yet within {PRECISION:.0%}")  # fmt: skip

    def shortfall(self) -> str | None:
        """`capacity search cut short: ...` when the run ended before the search did."""
        return f"capacity search cut short: {self.entry}: {self.bracket()}" if self.cut_short else None

    def line(self) -> str:
        """The one-line result: `capacity: manifest-get holds 94.9/s (p95 12 ms); 104/s breached: p95 230 ms > 200`."""
        if self.cut_short:
            return f"capacity: {self.entry}: the search was cut short by the run's end: {self.bracket()}"
        name = self.slo.headline()
        parts = [f"capacity: {self.entry}"]
        if self.held is not None:
            parts.append(f"holds {format_rate(self.held.rate_per_s)} ({name} {self.held.figure(name):g} ms)")
        else:
            parts.append("holds no rate tried")
        if self.bound is not None:
            parts.append(f"{format_rate(self.bound.rate_per_s)} was {self.bound.verdict}; "
                         "the registry was not the limit there")  # fmt: skip
        elif self.broke is not None:
            parts.append(f"{format_rate(self.broke.rate_per_s)} {self.broke.verdict}")
        else:
            parts.append("the search ended before any step breached")
        return " ".join(parts[:2]) + "; " + "; ".join(parts[2:])


def _with(step: StepFigures, verdict: str) -> StepFigures:
    return StepFigures(**{**step.__dict__, "verdict": verdict})
