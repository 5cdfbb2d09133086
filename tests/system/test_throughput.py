"""Where a real run puts MB/s and image-level figures: the registry CSV, the HTML report, the summary file, and
gates that hold. Their definition: tests/unit/test_throughput.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from registry_tasks.tools.local_registry import LocalRegistry

from ..support.helpers import run_locust


def test_run_writes_throughput_everywhere_and_holding_gates_pass(registry: LocalRegistry, tmp_path: Path) -> None:
    prefix, summary, report = tmp_path / "run", tmp_path / "summary.json", tmp_path / "report.html"
    result = run_locust(
        tmp_path,
        "-H", registry.url, "-u", "6", "-r", "6", "-t", "4s",
        "--synthetic-images", "2x300KiB", "--chunk-size", "128KiB", "--repository-prefix", "throughput/all",
        "--csv", str(prefix), "--html", str(report), "--summary-file", str(summary),
        "--check-fail-ratio", "0", "--check-p95", "blob-get=60000", "--check-min-mbps", "blob-get=0.01",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("gate passed") == 3 and "gate breached" not in result.stderr
    with open(f"{prefix}_registry.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert float(rows["blob-get"]["MB/s"]) > 0 and float(rows["upload-chunk"]["MB/s"]) > 0
    assert int(rows["image-pull"]["Requests"]) > 0 and float(rows["image-push"]["95%ile (ms)"]) > 0
    document = json.loads(summary.read_text())
    assert document["gates_passed"] is True and document["duration_s"] > 2
    entries = {entry["name"]: entry for entry in document["entries"]}
    assert entries["blob-get"]["mbps"] == float(rows["blob-get"]["MB/s"])
    assert entries["Aggregated"]["failures"] == 0
    page = report.read_text()
    assert page.count('id="registry-throughput"') == 1 and "<td>blob-get</td>" in page
    # the terminal's registry table comes after Locust's own tables, in human units, with images/s
    output = result.stderr
    assert output.index("Registry: ---") > output.index("Response time percentiles")
    header, *body = output[output.index("Registry: ---") :].splitlines()[1:16]
    assert header.split()[:4] == ["Type", "Name", "#", "reqs"] and "images/s" in header and "MB/s" in header
    pull = next(line for line in body if " image-pull " in line).split()
    assert len(pull) == 11 and float(pull[8]) > 0 and pull[10] in ("KB", "MB", "GB")  # images/s, then bytes
    blob_get = next(line for line in body if " blob-get " in line).split()
    assert len(blob_get) == 10 and blob_get[2] == rows["blob-get"]["Requests"] and blob_get[9] in ("KB", "MB", "GB")
