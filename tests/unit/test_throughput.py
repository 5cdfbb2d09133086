"""MB/s and image-level figures: their definition, and the report and CSV they make. Where a run puts them:
tests/system/test_throughput.py."""

from __future__ import annotations

from locust.stats import RequestStats

from registry_tasks.plugin.reporting.throughput import add_to_report, as_csv, table


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
