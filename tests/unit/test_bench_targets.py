"""Issue 14's targets as `make bench` judges them: ratios of rows and floors of one run, and what counts as met."""

from __future__ import annotations

from bench.floors import Floor
from bench.report import Row
from bench.targets import judge


def row(path: str, generator: str, units: float, cpu_s: float, gigabytes: float = 0.0, failures: int = 0) -> Row:
    return Row(
        path=path, generator=generator, unit="u", units=units, bytes=int(gigabytes * 1e9), requests=int(units),
        failures=failures, seconds=18, cpu_s=cpu_s, process_cpu_s=cpu_s, peak_rss_mb=60, registry_cpu_s=1,
        exit_code=0,
    )  # fmt: skip


def test_each_target_is_ours_over_its_baseline_or_floor_and_met_only_within_its_limit() -> None:
    rows = [
        row("manifest-get", "fast", 10_000, 2.0),  # 0.2 ms per request
        row("manifest-get", "ours", 10_000, 1.1),  # 0.11 ms: 0.55x
        row("blob-get", "ours", 100, 1.4, gigabytes=2.0),  # 0.7 s/GB against sha256's 0.5: 1.4x
        row("upload", "naive", 10, 0.6, gigabytes=2.0),  # 0.3 s/GB
        row("upload", "ours-chunked", 10, 0.18, gigabytes=2.0),  # 0.09 s/GB: 0.3x, at the limit
        row("upload", "ours-stream", 10, 0.5, gigabytes=2.0, failures=1),  # failed: not measured
    ]
    floors = [Floor("sha256 alone", "GB", 0.5, 1.0), Floor("wrk", "request", 0.00004, 1000)]
    targets, anchors = judge(rows, floors)
    found = {(t.path, t.generator): (t.ratio, t.met) for t in targets}
    assert found[("manifest-get", "ours")] == (0.55, True)
    assert found[("blob-get", "ours")] == (1.4, False)
    assert found[("upload", "ours-chunked")] == (0.3, True)
    assert found[("upload", "ours-stream")] == (None, False)  # a failed run meets nothing
    assert found[("upload", "ours-monolithic")] == (None, False)  # a run that did not happen either
    assert "manifest-get ours: 2.75x wrk" in anchors
    assert all("MEETS" in t.line() or "MISSES" in t.line() for t in targets)


def test_paths_that_did_not_run_have_no_targets() -> None:
    targets, _ = judge([row("manifest-get", "fast", 100, 1.0), row("manifest-get", "ours", 100, 0.5)], [])
    assert [(t.path, t.ratio) for t in targets] == [("manifest-get", 0.5)]
