"""`python -m registry_tasks compare` on real runs: one against the registry, one through a throttle (slower:
flagged, naming the entry), and a run against itself (no regression)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from registry_tasks.tools.local_registry import LocalRegistry

from ..support.helpers import run_locust
from ..support.load_proxies import throttle_proxy


def summary_of(tmp_path: Path, host: str, name: str) -> Path:
    run_dir = tmp_path / name
    run_dir.mkdir()
    summary = run_dir / "summary.json"
    result = run_locust(
        run_dir, "-H", host, "-u", "2", "-r", "2", "-t", "6s", "--tags", "manifest-get", "--client-profile",
        "minimal", "--repository-prefix", "compare", "--summary-file", str(summary),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return summary


def compare(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "registry_tasks", "compare", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_compare_flags_the_slower_run_and_passes_a_run_against_itself(registry: LocalRegistry, tmp_path: Path) -> None:
    base = summary_of(tmp_path, registry.url, "base")
    with throttle_proxy(registry.url, per_second=40) as (url, _):
        slow = summary_of(tmp_path, url, "throttled")
    flagged = compare(str(base), str(slow))
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    assert "regression: GET manifest-get p95" in flagged.stdout and "REGRESSION" in flagged.stdout
    same = compare(str(base), str(base))
    assert same.returncode == 0 and "no regression beyond the limits" in same.stdout, same.stdout
    missing = compare(str(base), str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "none.json" in missing.stderr and missing.stderr.count("\n") == 1
