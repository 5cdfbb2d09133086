"""MB/s and image-level figures: their definition, and where a run puts them (CSV, HTML report, summary)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from locust.stats import RequestStats

from registry_tasks.plugin.throughput import add_to_report, as_csv, table
from registry_tasks.tools.local_registry import LocalRegistry

from .helpers import run_locust


def stats_over(seconds: float) -> RequestStats:
    """Two 5 MB blob GETs and the image pull that contained them, in a test `seconds` long."""
    stats = RequestStats()
    for _ in range(2):
        stats.log_request("GET", "blob-get", 10, 5_000_000)
    stats.log_request("PULL", "image-pull", 25, 10_000_000)
    stats.total.start_time = 1_000.0
    stats.total.last_request_timestamp = 1_000.0 + seconds
    return stats


def test_mbps_is_bytes_over_the_test_duration_and_counted_once_in_total() -> None:
    rows = {row.name: row for row in table(stats_over(10))}
    assert (rows["blob-get"].bytes, rows["blob-get"].mbps, rows["blob-get"].rps) == (10_000_000, 1.0, 0.2)
    assert rows["image-pull"].mbps == 1.0  # the image's own figure
    assert (rows["Aggregated"].requests, rows["Aggregated"].bytes, rows["Aggregated"].mbps) == (3, 10_000_000, 1.0)
    assert list(rows) == ["blob-get", "image-pull", "Aggregated"]


def test_report_gets_the_table_once() -> None:
    rows = table(stats_over(4))
    page = add_to_report("<html><body><div id='root'></div></body></html>", rows)
    assert page.count('id="registry-throughput"') == 1
    assert add_to_report(page, rows) == page
    assert page.endswith("</section></body></html>")
    assert (
        as_csv(rows).splitlines()[0]
        == "Type,Name,Requests,Failures,50%ile (ms),95%ile (ms),99%ile (ms),Average (ms),Bytes,MB/s,Requests/s"
    )


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
