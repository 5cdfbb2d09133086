"""Arrival schedules: rates parsed, gaps as the process says, shares and levels applied."""

from __future__ import annotations

import statistics

import pytest

from registry_tasks.load import ArrivalSchedule, Shape, format_rate, parse_rate


@pytest.mark.parametrize(("text", "per_second"), [("80/s", 80.0), ("90/m", 1.5), ("2.5", 2.5), (" 10 / s ", 10.0)])
def test_rates_per_second_and_per_minute(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize(("text", "error"), [("0/s", "more than 0"), ("abc/s", "not a rate"), ("5/h", "not a rate"),
                                             ("-1/s", "not a rate"), ("", "not a rate")])  # fmt: skip
def test_bad_rates_are_refused(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_rate(text)


def test_format_rate() -> None:
    assert format_rate(80) == "80/s" and format_rate(0.5) == "30/m"


def arrivals(schedule: ArrivalSchedule, until: float) -> list[tuple[float, str]]:
    out = []
    while True:
        offset, entry = schedule.next()
        if offset >= until:
            return out
        if entry is not None:
            out.append((offset, entry))


def test_constant_arrivals_are_evenly_spaced_and_merge_in_time_order() -> None:
    found = arrivals(ArrivalSchedule({"manifest-get": 10, "blob-get": 4}, "constant"), 9.95)  # not at a boundary
    assert [offset for offset, _ in found] == sorted(offset for offset, _ in found)
    gets = [offset for offset, entry in found if entry == "manifest-get"]
    assert len(gets) == 100 and len([1 for _, entry in found if entry == "blob-get"]) == 40
    assert {round(b - a, 9) for a, b in zip(gets, gets[1:], strict=False)} == {0.1}


def test_poisson_gaps_are_exponential_with_the_rate_as_mean() -> None:
    found = arrivals(ArrivalSchedule({"manifest-get": 50}, "poisson", seed=7), 200.0)
    gaps = [b[0] - a[0] for a, b in zip(found, found[1:], strict=False)]
    assert len(found) == pytest.approx(10_000, rel=0.05)
    assert statistics.mean(gaps) == pytest.approx(0.02, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(0.02, rel=0.08)  # exponential: sd equals the mean


def test_a_workers_share_and_phase_keep_the_sum_of_the_schedule() -> None:
    workers = [
        arrivals(ArrivalSchedule({"blob-get": 30}, "constant", share=1 / 3, phase=k / 3), 9.99) for k in range(3)
    ]
    merged = sorted(offset for found in workers for offset, _ in found)
    assert len(merged) == 300
    assert {round(b - a, 6) for a, b in zip(merged, merged[1:], strict=False)} == {
        round(1 / 30, 6)
    }  # interleaved evenly


def test_a_shape_shapes_the_rate_and_nothing_is_due_at_level_zero() -> None:
    shape = Shape.parse("step:2")
    found = arrivals(ArrivalSchedule({"manifest-get": 20}, "constant", lambda t: shape.level(t, 10.0)), 12.0)
    assert len([1 for offset, _ in found if offset < 5]) == pytest.approx(50, abs=1)
    # a new rate takes over from the gap planned at the old one: one arrival's lag at each change
    assert len([1 for offset, _ in found if 5 <= offset < 10]) == pytest.approx(100, abs=2)
    assert not [1 for offset, _ in found if offset >= 10]  # the shape is over: level 0, rechecked, nothing due
    schedule = ArrivalSchedule({"manifest-get": 20}, share=0.0)
    assert [schedule.next()[1] for _ in range(5)] == [None] * 5  # a worker not yet placed sends nothing


def test_unknown_process_is_refused() -> None:
    with pytest.raises(ValueError, match="'burst' is not one of poisson, constant"):
        ArrivalSchedule({"manifest-get": 1}, "burst")
