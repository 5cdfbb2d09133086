"""The capacity search: growth, bisection, verdicts, the result line; SLO parsing; the histogram it reads."""

from __future__ import annotations

import pytest

from registry_tasks.load import CapacitySearch, Histogram, Slo, StepFigures


def step(
    rate: float, p95: float, fail: float = 0.0, late: float = 1.0, cpu: float = 0.1, late_count: int = -1
) -> StepFigures:
    """A step of 100 arrivals; `late` ms at p99 makes 2 of them late beyond the limit unless `late_count` says."""
    count = late_count if late_count >= 0 else (2 if late > 200 else 0)
    return StepFigures(rate, 100, p95 / 2, p95, p95 * 1.2, fail, late, cpu, arrivals=100, late_arrivals=count)


def run(search: CapacitySearch, measure: object) -> list[StepFigures]:
    while (rate := search.next_rate()) is not None:
        search.record(measure(rate))  # type: ignore[operator]
    return search.steps


def test_grows_by_half_then_bisects_to_five_percent() -> None:
    search = CapacitySearch("manifest-get", Slo.parse("p95=100"), 10)
    steps = run(search, lambda rate: step(rate, 10 if rate <= 100 else 500))
    rates = [round(s.rate_per_s, 1) for s in steps]
    assert rates[:7] == [10, 15, 22.5, 33.8, 50.6, 75.9, 113.9]
    assert search.found and 95 <= search.held.rate_per_s <= 100  # type: ignore[union-attr]
    assert (search.broke.rate_per_s - search.held.rate_per_s) / search.held.rate_per_s <= 0.05  # type: ignore[union-attr]
    assert search.line().startswith("capacity: manifest-get holds 9") and "breached: p95 500 ms > 100" in search.line()


def test_a_first_step_that_breaches_ends_the_search_unfound() -> None:
    search = CapacitySearch("blob-get", Slo.parse("p99=50,fail=0.01"), 10)
    steps = run(search, lambda rate: step(rate, 10, fail=0.2))
    assert len(steps) == 1 and steps[0].verdict == "breached: fail 0.2 > 0.01" and not search.found
    assert "holds no rate tried" in search.line()


def test_a_generator_bound_step_stops_the_search_without_blaming_the_registry() -> None:
    search = CapacitySearch("manifest-get", Slo.parse("p95=100"), 10)
    steps = run(search, lambda rate: step(rate, 10, late=900 if rate > 30 else 1))
    assert steps[-1].verdict == "generator-bound: 2 of 100 arrivals started over 200 ms late (p99 900 ms)"
    assert search.found and "the registry was not the limit there" in search.line()
    cpu_bound = CapacitySearch("manifest-get", Slo.parse("p95=100"))
    cpu_bound.record(step(10, 5, cpu=0.95))
    assert cpu_bound.steps[0].verdict == "generator-bound: the load generator used 95% of a core"


def test_one_late_arrival_is_a_hiccup_of_the_machine_not_a_generator_bound_step() -> None:
    """A 2 s step at 20/s has 41 arrivals; p99 of 41 is their maximum, so one 250 ms stall must not judge it."""
    search = CapacitySearch("manifest-get", Slo.parse("p95=100"), 20)
    one = search.record(StepFigures(20, 41, 5, 8, 250, 0.0, 250, 0.1, arrivals=41, late_arrivals=1))
    assert one.verdict == "held"
    two = search.record(StepFigures(30, 61, 5, 8, 400, 0.0, 400, 0.1, arrivals=61, late_arrivals=2))
    assert two.verdict == "generator-bound: 2 of 61 arrivals started over 200 ms late (p99 400 ms)"
    big = CapacitySearch("manifest-get", Slo.parse("p95=100"), 500)
    assert big.record(StepFigures(500, 1500, 5, 8, 9, 0.0, 300, 0.1, arrivals=1500, late_arrivals=15)).verdict == "held"
    assert big.record(
        StepFigures(750, 2250, 5, 8, 9, 0.0, 300, 0.1, arrivals=2250, late_arrivals=23)
    ).verdict.startswith("generator-bound: 23 of 2250")


def test_a_search_cut_short_found_nothing_and_says_what_it_had() -> None:
    """The run ends with 94.9/s held and 100.5/s breached, 5.9% apart: not yet within 5%, so no capacity."""
    search = CapacitySearch("manifest-get", Slo.parse("p95=100"), 94.9)
    search.record(step(94.9, 40))
    search.record(step(100.5, 300))
    assert search.next_rate() is not None  # it had a rate still to try when the run ended
    search.cut()
    assert search.cut_short and not search.found
    assert search.shortfall() == ("capacity search cut short: manifest-get: 94.9/s held, 100.5/s breached: "
                                  "5.9% apart, not yet within 5%")  # fmt: skip
    assert search.line().startswith("capacity: manifest-get: the search was cut short by the run's end: 94.9/s")
    growing = CapacitySearch("blob-get", Slo.parse("p95=100"), 10)
    growing.record(step(10, 5))
    growing.cut()
    expected = "capacity search cut short: blob-get: 10/s held (the highest tried), none breached yet"
    assert growing.shortfall() == expected
    done = CapacitySearch("manifest-get", Slo.parse("p95=100"), 10)
    run(done, lambda rate: step(rate, 10 if rate <= 100 else 500))
    done.cut()  # the search had ended before the run did: not cut short
    assert done.found and done.shortfall() is None


BAD_SLOS = [("p95=", "'p95=' is not"), ("p95", "'p95' is not"), ("fail=0.1", "names no latency limit"),
            ("p95=1,fail=2", "between 0 and 1"), ("p42=10", "'p42=10' is not")]  # fmt: skip


@pytest.mark.parametrize(("text", "error"), BAD_SLOS)
def test_bad_slos(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Slo.parse(text)


def test_slo_parts() -> None:
    assert Slo.parse("p95=200, p99=500,fail=0.01") == Slo(None, 200, 500, 0.01)


def test_histogram_percentiles_round_as_locust_and_merge() -> None:
    histogram = Histogram()
    for ms in range(1, 101):
        histogram.add(ms)
    assert histogram.percentile(0.5) == 50 and histogram.percentile(0.99) == 99
    histogram.add(1234.0)
    assert histogram.percentile(1.0) == 1200
    merged = Histogram({str(key): count for key, count in histogram.as_dict().items()})  # keys after JSON
    merged.merge(histogram.as_dict())
    assert merged.total == 202 and merged.percentile(0.5) == histogram.percentile(0.5)
    assert Histogram().percentile(0.99) == 0.0
