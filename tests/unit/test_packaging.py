"""Locust is a version range, tested at both ends: the lowest bound in pyproject.toml is the one `make
test-lowest` (CI) installs, and the Locust running these tests lies inside the range."""

from __future__ import annotations

import re

import locust

from ..support.helpers import ROOT


def locust_requirement() -> tuple[tuple[int, ...], tuple[int, ...]]:
    (dependencies,) = re.findall(r"^dependencies = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    (requirement,) = [item for item in re.findall(r'"([^"]+)"', dependencies) if item.startswith("locust")]
    match = re.fullmatch(r"locust>=([\d.]+),<([\d.]+)", requirement.replace(" ", ""))
    assert match, f"locust must be a range (>=LOW,<HIGH), not {requirement!r}"
    low, high = (tuple(int(part) for part in bound.split(".")) for bound in match.groups())
    return low, high


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_ci_tests_the_lowest_locust_the_range_allows() -> None:
    low, _ = locust_requirement()
    (lowest,) = re.findall(r"^LOCUST_LOWEST \?= ([\d.]+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert version(lowest)[: len(low)] == low and not any(version(lowest)[len(low) :])
    assert "make test-lowest" in (ROOT / ".ci" / "run").read_text()


def test_the_running_locust_is_inside_the_range() -> None:
    low, high = locust_requirement()
    assert low <= version(locust.__version__) < high
