"""The replay's plan: names mapped deterministically, records counted and skipped by reason, and exactly what
the warm-up must create."""

from __future__ import annotations

from registry_tasks.load.replay_plan import in_window, mapped_repository, mapped_tag, missing, plan
from registry_tasks.load.traces import TraceRecord, classify


def record(method: str, path: str, status: int = 200, written: int = 0, start: float = 0.0) -> TraceRecord:
    kind, repository, reference = classify(method, path)
    return TraceRecord(0, start, method, path, "", "c1", "docker/20", status, written, 0.0, kind, repository, reference)


def test_names_map_deterministically_into_the_prefix() -> None:
    assert mapped_repository("lt", "4715bf52/437c49db") == mapped_repository("lt", "4715bf52/437c49db")
    assert mapped_repository("lt", "a/b").startswith("lt/replay/") and mapped_repository("lt", "a/c") != \
        mapped_repository("lt", "a/b")  # fmt: skip
    assert mapped_tag("v1.2") == "v1.2" and mapped_tag("sha256:" + "a" * 64).startswith("r-")
    assert missing("latest") != "latest" and missing("latest") == missing("latest")


def test_the_plan_holds_what_the_replay_reads_and_counts_the_rest() -> None:
    records = [
        record("GET", "/v2/a/b/blobs/b1", 200, 5000),
        record("GET", "/v2/a/b/blobs/b1", 200, 5000),
        record("GET", "/v2/c/blobs/b1", 200, 5000),
        record("HEAD", "/v2/a/b/blobs/b2", 200, 0),
        record("GET", "/v2/a/b/blobs/gone", 404, 157),
        record("GET", "/v2/a/b/manifests/v1", 200, 700),
        record("GET", "/v2/a/b/manifests/nope", 404, 96),
        record("PUT", "/v2/d/manifests/v9", 201, 0),
        record("POST", "/v2/a/b/blobs/uploads/", 202),
        record("PATCH", "/v2/a/b/blobs/uploads/123", 202),
        record("GET", "/v2/_catalog", 200, 40),
        record("GET", "/v2/", 200, 2),
    ]
    planned = plan(records, "lt")
    assert planned.read == 12 and planned.planned == 10
    assert planned.skipped == {"upload part (replayed as part of its upload)": 1, "catalog is not replayed": 1}
    assert planned.blobs == {"b1": 5000, "b2": 0} and planned.blob_size("b2") == 1024  # only HEADed: a default size
    assert list(planned.links) == [("a/b", "b1"), ("c", "b1"), ("a/b", "b2")]  # the 404 is never created
    assert list(planned.manifests) == [("a/b", "v1")] and list(planned.pushed) == ["d"]
    assert planned.manifest_layers("a/b") == ["b1", "b2"] and len(planned.manifest_layers("d")) == 1
    assert planned.recorded["blob-get"] == 4 and planned.recorded_bytes["blob-get"] == 15157
    assert planned.recorded["upload"] == 1 and planned.recorded["ping"] == 1


def test_a_window_keeps_offsets_from_the_first_record() -> None:
    records = [record("GET", "/v2/", start=100.0 + second) for second in range(10)]
    assert [r.start for r in in_window(records, 100.0, 2.0, 5.0)] == [102.0, 103.0, 104.0]
    assert len(list(in_window(records, 100.0, 8.0, None))) == 2
