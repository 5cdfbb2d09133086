"""Every locustfile in examples/ runs headless against the real registry for 6 s with zero failures.

A new example is picked up by the glob; its own entries go in ENTRIES (an example not listed there must
still make requests, fail none and print no traceback).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from registry_tasks.tools.local_registry import LocalRegistry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

ENTRIES: dict[str, set[tuple[str, str]]] = {
    "ci_push_pull.py": {
        ("CI", "build-round-trip"),
        ("PUSH", "image-push"),
        ("HEAD", "manifest-head"),
        ("PULL", "image-pull"),
        ("PUT", "manifest-put"),
        ("GET", "blob-get"),
    },
    "manifest_heads_and_pulls.py": {("HEAD", "manifest-head"), ("PULL", "image-pull"), ("GET", "manifest-get")},
}


def stats(csv_prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Locust's `<prefix>_stats.csv` by (Type, Name), without the Aggregated row."""
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(handle) if row["Name"] != "Aggregated"}


def test_examples_are_found() -> None:
    assert {path.name for path in EXAMPLES} >= set(ENTRIES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_without_failures(example: Path, registry: LocalRegistry, tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    command = [
        sys.executable, "-m", "locust", "-f", str(example), "--headless", "-H", registry.url,
        "-u", "2", "-r", "2", "-t", "6s", "--stop-timeout", "5",
        "--repository-prefix", f"examples/{example.stem.replace('_', '-')}",
        "--csv", str(prefix),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    table = stats(prefix)
    failed = {key: row["Failure Count"] for key, row in table.items() if row["Failure Count"] != "0"}
    assert not failed, (failed, result.stderr[-3000:])
    assert table, "no requests were made"
    expected = ENTRIES.get(example.name, set())
    assert set(table) >= expected, f"missing entries: {expected - set(table)}"
    for key in expected:
        assert int(table[key]["Request Count"]) > 0, key
