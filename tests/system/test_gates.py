"""Pipeline gates in real `locust` runs: a breached gate fails the run with its exit code and says why; a bad gate
stops Locust before any load. Their syntax and verdicts: tests/unit/test_gates.py."""

from __future__ import annotations

import json
from pathlib import Path

from registry_tasks.plugin.reporting.gates import GATE_EXIT_CODE
from registry_tasks.tools.local_registry import LocalRegistry

from ..support.helpers import run_locust


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
