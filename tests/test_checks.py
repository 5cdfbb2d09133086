"""Pipeline gates: their syntax (command line and scenario), their verdicts, and what a run does with them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from registry_tasks.config import OPTIONS, SettingsError, settings_from
from registry_tasks.plugin.gates import GATE_EXIT_CODE, gates, judge
from registry_tasks.plugin.throughput import EntryFigures
from registry_tasks.tools.local_registry import LocalRegistry

from .helpers import run_locust


def options(**given: object) -> argparse.Namespace:
    values = {option.key: option.default for option in OPTIONS if option.cli}
    values.update(given)
    return argparse.Namespace(**values)


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
        ({"check_p99": ["manifest_get=200"]}, r"^--check-p99: unknown entry 'manifest_get' \(known: manifest-get,"),
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


def test_a_gate_that_cannot_hold_fails_the_run(registry: LocalRegistry, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    result = run_locust(
        tmp_path,
        "-H", registry.url, "-u", "2", "-r", "2", "-t", "2s", "--tags", "manifest-get",
        "--repository-prefix", "gates/breach",
        "--check-p95", "manifest-get=0", "--check-p99", "upload-status=5", "--check-fail-ratio", "0",
        "--summary-file", str(summary),
    )  # fmt: skip
    assert result.returncode == GATE_EXIT_CODE, result.stderr[-3000:]
    breached = [line for line in result.stderr.splitlines() if "gate breached" in line]
    assert len(breached) == 2, breached
    assert "gate breached: --check-p95 manifest-get=0: measured " in breached[0]
    assert breached[0].endswith("ms, limit at most 0 ms")
    assert breached[1].endswith("gate breached: --check-p99 upload-status=5: no upload-status requests were made")
    assert "gate passed: --check-fail-ratio 0: measured 0, limit at most 0" in result.stderr
    document = json.loads(summary.read_text())
    assert document["gates_passed"] is False
    assert [(gate["gate"], gate["passed"]) for gate in document["gates"]] == [
        ("check-fail-ratio", True),
        ("check-p95", False),
        ("check-p99", False),
    ]


def test_bad_gate_stops_before_any_load(registry: LocalRegistry, tmp_path: Path) -> None:
    result = run_locust(tmp_path, "-H", registry.url, "-t", "3s", "--check-p95", "manifest-get:200")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert errors[0].endswith("--check-p95: 'manifest-get:200' is not ENTRY=LIMIT, e.g. manifest-get=200")
    assert "Traceback" not in result.stderr
