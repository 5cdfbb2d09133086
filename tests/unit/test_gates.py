"""Pipeline gates: their syntax (command line and scenario) and their verdicts. What a run does with them:
tests/system/test_gates.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_tasks.config import SettingsError, settings_from
from registry_tasks.plugin.reporting.gates import gates, judge
from registry_tasks.plugin.reporting.throughput import EntryFigures

from ..support.helpers import options


def row(name: str, requests: int = 100, failures: int = 0, p95: float = 40, mbps: float = 12.5) -> EntryFigures:
    return EntryFigures("GET", name, requests, failures, 10, p95, p95 * 2, 15, 1_000_000, mbps, 20)


def test_gates_from_the_command_line() -> None:
    settings = settings_from(
        options(
            check_fail_ratio="0.01",
            check_p95=["manifest-get=200", "blob-get=500,image-pull=900"],
            check_p99=["Aggregated=1000"],
            check_min_mbps=["blob-get=50.5"],
        )
    )
    assert settings.check_fail_ratio == 0.01
    assert settings.check_p95 == {"manifest-get": 200, "blob-get": 500, "image-pull": 900}
    assert settings.check_p99 == {"Aggregated": 1000}
    assert settings.check_min_mbps == {"blob-get": 50.5}
    assert [gate.label for gate in gates(settings)] == [
        "--check-fail-ratio 0.01",
        "--check-p95 manifest-get=200",
        "--check-p95 blob-get=500",
        "--check-p95 image-pull=900",
        "--check-p99 Aggregated=1000",
        "--check-min-mbps blob-get=50.5",
    ]


def test_gates_from_a_scenario_as_mapping_or_list(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("check-p95: {manifest-get: 200}\ncheck-p99: [blob-get=800]\ncheck-fail-ratio: 0\n")
    settings = settings_from(options(scenario=str(path)))
    assert (settings.check_p95, settings.check_p99, settings.check_fail_ratio) == (
        {"manifest-get": 200},
        {"blob-get": 800},
        0,
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"check_p95": ["manifest-get:200"]}, r"^--check-p95: 'manifest-get:200' is not ENTRY=LIMIT"),
        ({"check_p99": ["manifest_get=200"]}, r"^--check-p99: unknown entry 'manifest_get' \(known: ping, manifest-"),
        ({"check_p95": ["blob-get=fast"]}, r"^--check-p95: 'fast' is not a number of ms \(limit of blob-get\)"),
        ({"check_min_mbps": ["blob-get=-1"]}, r"^--check-min-mbps: limit of blob-get must be 0 or more MB/s"),
        ({"check_fail_ratio": "2"}, r"^--check-fail-ratio: '2' is not a ratio between 0 and 1"),
    ],
)
def test_bad_gates_name_the_option(given: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from(options(**given))


def test_verdicts_name_gate_limit_and_measured_value() -> None:
    rows = [row("manifest-get", p95=40), row("blob-get", mbps=12.5), row("Aggregated", requests=200, failures=3)]
    settings = settings_from(
        options(
            check_fail_ratio="0.01",
            check_p95=["manifest-get=0", "blob-get=100"],
            check_min_mbps=["blob-get=100"],
            check_p99=["upload-status=5"],
        )
    )
    lines = {verdict.line for verdict in (judge(gate, rows) for gate in gates(settings))}
    assert lines == {
        "gate breached: --check-fail-ratio 0.01: measured 0.015, limit at most 0.01 (3 of 200 requests failed)",
        "gate breached: --check-p95 manifest-get=0: measured 40 ms, limit at most 0 ms",
        "gate passed: --check-p95 blob-get=100: measured 40 ms, limit at most 100 ms",
        "gate breached: --check-p99 upload-status=5: no upload-status requests were made",
        "gate breached: --check-min-mbps blob-get=100: measured 12.5 MB/s, limit at least 100 MB/s",
    }
