"""Rollout specs and the figures of a storm."""

from __future__ import annotations

import pytest

from registry_tasks.load import RolloutFigures, RolloutSpec


@pytest.mark.parametrize(("text", "nodes", "window"), [("2000", 2000, 0.0), ("60@3s", 60, 3.0), ("10@2m", 10, 120.0),
                                                       ("5@500ms", 5, 0.5), ("7@4", 7, 4.0)])  # fmt: skip
def test_specs(text: str, nodes: int, window: float) -> None:
    assert RolloutSpec.parse(text) == RolloutSpec(nodes, window)


@pytest.mark.parametrize(("text", "error"), [("0", "at least 1 node"), ("many", "not NODES"), ("5@", "not NODES"),
                                             ("-3", "not NODES")])  # fmt: skip
def test_bad_specs(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        RolloutSpec.parse(text)


def test_starts_are_even_over_the_window_and_split_among_workers() -> None:
    spec = RolloutSpec(6, 3.0)
    assert spec.starts() == [(0, 0.0), (1, 0.5), (2, 1.0), (3, 1.5), (4, 2.0), (5, 2.5)]
    split = spec.starts(0, 2) + spec.starts(1, 2)
    assert sorted(split) == spec.starts() and spec.starts(1, 2) == [(1, 0.5), (3, 1.5), (5, 2.5)]
    assert RolloutSpec(3).starts() == [(0, 0.0), (1, 0.0), (2, 0.0)]


def test_figures_are_nearest_rank_percentiles_of_finishing_times() -> None:
    figures = RolloutFigures.of(101, [float(i) for i in range(100, 0, -1)], 1, {0: 5_000_000, 1: 12_000_000})
    assert (figures.nodes, figures.completed, figures.failed) == (101, 100, 1)
    assert (figures.first_s, figures.p50_s, figures.p90_s, figures.p99_s, figures.last_s) == (1, 50, 90, 99, 100)
    assert figures.peak_mbps == 12.0
    assert "100 of 101 nodes pulled (1 failed)" in figures.line()
    none = RolloutFigures.of(3, [], 3, {})
    assert none.first_s is None and "first -" in none.line()
