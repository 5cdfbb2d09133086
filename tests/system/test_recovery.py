"""The registry dies mid-run and comes back: the run goes on, counts the failures, raises no exception, and
load resumes by itself within seconds; what it reported as pushed is all there."""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
import time
from pathlib import Path

from registry_tasks.tools.local_registry import LocalRegistry

from ..support.helpers import ROOT, locust_command

RUN_SECONDS = 20
DOWN_SECONDS = 4


def history(prefix: Path) -> list[tuple[int, int, int]]:
    """(unix second, total requests, total failures) per second, from Locust's `_stats_history.csv`."""
    try:
        with open(f"{prefix}_stats_history.csv", newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    except FileNotFoundError:
        return []
    return [(int(row["Timestamp"]), int(row["Total Request Count"]), int(row["Total Failure Count"])) for row in rows]


def wait_for_load(prefix: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not any(requests > 50 for _, requests, _ in history(prefix)):
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.2)


def test_registry_killed_and_restarted_mid_run(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    command = locust_command(
        "-H", fresh_registry.url,
        "-u", "6", "-r", "6", "-t", f"{RUN_SECONDS}s",
        "--synthetic-images", "2x100KiB",
        "--client-profile", "minimal",  # resumes at once; clients' back-off: test_a_dead_registry_is_not_hammered
        "--chunk-size", "32KiB",
        "--unique-layers",
        "--request-timeout", "5",
        "--pushed-log", str(tmp_path / "pushed.jsonl"),
        "--csv", str(prefix),
    )  # fmt: skip
    with open(tmp_path / "stderr", "w") as stderr:
        locust = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            wait_for_load(prefix)
            time.sleep(2)
            fresh_registry.kill()
            time.sleep(DOWN_SECONDS)
            fresh_registry.restart()
            restarted = time.time()
            code = locust.wait(timeout=RUN_SECONDS + 30)
        finally:
            if locust.poll() is None:
                locust.kill()
    log = (tmp_path / "stderr").read_text()
    assert code == 1, log[-3000:]  # 1: requests failed; 2 would mean an unhandled error
    assert "Traceback" not in log
    assert (tmp_path / "run_exceptions.csv").read_text().splitlines()[1:] == []

    seconds = history(prefix)
    assert seconds[-1][2] > 0  # the outage was counted
    resumed = next(
        second
        for (_, before, failed_before), (second, requests, failures) in itertools.pairwise(seconds)
        if second > restarted and requests - before > failures - failed_before
    )
    assert resumed - restarted <= 5, "load did not resume within 5 s of the restart"
    late = [row for row in seconds if row[0] >= resumed + 2]
    assert len(late) >= 3 and late[-1][1] > late[0][1]  # requests went on to the end...
    assert late[-1][2] == late[0][2]  # ...and none of them failed

    audit = [sys.executable, "-m", "registry_tasks", "audit", str(tmp_path / "pushed.jsonl"), "-H", fresh_registry.url]
    result = subprocess.run(audit, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout  # every push reported as done, before or after, is there
