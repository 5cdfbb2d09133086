"""Trace replay through real `locust` runs: an IBM-format trace written here, and a real registry's own log of
skopeo's traffic, each replayed against an empty second registry whose own log is compared with the trace."""

from __future__ import annotations

import collections
import json
import random
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from registry_tasks.tools.local_registry import LocalRegistry, start_registry

from ..support import fixture_builders as fb
from ..support.helpers import run_locust
from ..support.registry_log import REQUEST_LOG_CONFIG, Request, epoch_seconds, read_requests, settled_offset

TEXT_LOG_CONFIG = {"log": {"level": "info", "formatter": "text"}}
ORIGIN = 1497926472.0  # 2017-06-20, when the IBM traces were taken


@pytest.fixture
def empty_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    with start_registry(binary=registry_binary, extra_config=REQUEST_LOG_CONFIG) as running:
        yield running


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ibm_trace(path: Path) -> list[dict[str, Any]]:
    """Bursts and lulls over 6 s, 6 clients, 12 blobs of heavy-tailed sizes in 3 repositories, manifest GETs
    and HEADs, probes of what is missing (404) and pushes (upload starts, manifest PUTs).

    The manifest PUTs go to repositories that nothing reads. Distribution 2.8's filesystem storage rewrites a
    tag's link files in place (truncate, then write; distribution 3 writes a temporary file and renames it), so a
    GET of a tag while a PUT of that repository's manifest is under way can read an empty link and answer 500
    "invalid checksum digest format": the registry's failure under that workload, not the replay's. In bursts of
    40 requests in 160 ms, copied 3 times (`--replay-clients-scale`), such a GET and PUT do meet on a busy
    machine."""
    chance = random.Random(11)
    sizes = {f"{blob:08x}": min(int(chance.paretovariate(1.1) * 4000), 3_000_000) for blob in range(12)}
    records = []
    for number in range(260):
        burst = number // 40
        start = ORIGIN + burst * 1.0 + (number % 40) * 0.004  # 40 requests in 160 ms, then a lull
        client = f"c{number % 6:07x}"
        repository = f"{number % 3:08x}/{(number * 5) % 2:08x}"
        roll = chance.random()
        blob = f"{number % 12:08x}"
        if roll < 0.45:
            method, uri, status, written = "GET", f"v2/{repository}/blobs/{blob}", 200, sizes[blob]
        elif roll < 0.65:
            method, uri, status, written = "GET", f"v2/{repository}/manifests/{number % 2:08x}", 200, 700
        elif roll < 0.75:
            method, uri, status, written = "HEAD", f"v2/{repository}/manifests/{number % 2:08x}", 200, 0
        elif roll < 0.82:
            method, uri, status, written = "GET", f"v2/{repository}/manifests/gone{number % 4}", 404, 96
        elif roll < 0.88:
            method, uri, status, written = "GET", f"v2/{repository}/blobs/dead{number % 3}", 404, 157
        elif roll < 0.95:
            method, uri, status, written = "POST", f"v2/{repository}/blobs/uploads/", 202, 0
        else:
            pushed = f"{number % 3:08x}/{2 + number % 2:08x}"  # never read (see above)
            method, uri, status, written = "PUT", f"v2/{pushed}/manifests/{number % 2:08x}", 201, 0
        records.append({
            "host": "dc118836", "http.request.duration": 0.01, "http.request.method": method,
            "http.request.remoteaddr": client, "http.request.uri": uri, "http.request.useragent": "docker/1.12.1",
            "http.response.status": status, "http.response.written": written, "id": f"{number:010x}",
            "timestamp": stamp(start),
        })  # fmt: skip
    path.write_text(json.dumps(records, indent=1))
    return records


FIELD = re.compile(r'([\w.]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))')


def logrus(line: str) -> dict[str, str]:
    """The key=value fields of one registry text log line (values bare or double-quoted)."""
    return {key: quoted or bare for key, quoted, bare in FIELD.findall(line)}


def kind(method: str, path: str, status: int) -> str:
    what = "manifest" if "/manifests/" in path else "upload" if "/blobs/uploads/" in path else "blob"
    return f"{method} {what} {'missing' if status == 404 else 'found'}"


def trace_kinds(records: list[dict[str, Any]]) -> collections.Counter[str]:
    return collections.Counter(
        kind(r["http.request.method"], "/" + r["http.request.uri"], r["http.response.status"]) for r in records
    )


def replayed(requests: list[Request], agent: str) -> list[Request]:
    """The replay's own requests: its clients send as `agent` (the warm-up sends as the minimal client)."""
    return [r for r in requests if r.user_agent.startswith(agent) and r.path != "/v2/"]


def one_per_record(requests: list[Request]) -> list[Request]:
    """A replayed upload is its start (POST) and its finish (PUT): count it once."""
    return [r for r in requests if not (r.method == "PUT" and "/blobs/uploads/" in r.path)]


def replay(tmp_path: Path, registry: LocalRegistry, trace: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    summary = tmp_path / "summary.json"
    result = run_locust(
        tmp_path, "-H", registry.url, "-t", "60s", "--replay", str(trace), "--client-profile", "skopeo",
        "--summary-file", str(summary), "--repository-prefix", "replayed", *args,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result, json.loads(summary.read_text())


def test_an_ibm_trace_replays_against_an_empty_registry_as_recorded(
    empty_registry: LocalRegistry, tmp_path: Path
) -> None:
    records = ibm_trace(tmp_path / "trace.json")
    start = settled_offset(empty_registry.log_path)
    result, summary = replay(tmp_path, empty_registry, tmp_path / "trace.json")
    assert result.returncode == 0, result.stderr[-3000:]
    requests = read_requests(empty_registry.log_path, start, settled_offset(empty_registry.log_path))
    ours = replayed(requests, "skopeo/")
    seen = collections.Counter(kind(r.method, r.path, r.status) for r in one_per_record(ours))
    wanted = trace_kinds(records)
    assert seen == wanted, (seen, wanted)  # every kind, found or missing, as often as recorded
    got_bytes = sum(r.written for r in ours if r.method == "GET" and "/blobs/" in r.path and r.status == 200)
    trace_bytes = sum(
        r["http.response.written"] for r in records
        if r["http.request.method"] == "GET" and "/blobs/" in r["http.request.uri"] and r["http.response.status"] == 200
    )  # fmt: skip
    assert got_bytes == trace_bytes  # blobs of the recorded sizes
    times = sorted(epoch_seconds(r.time) for r in ours)
    assert 5.0 * 0.9 <= times[-1] - times[0] <= 5.16 + 1.5  # the trace's 5.16 s, at 1x
    warm_up = [r for r in requests if r not in ours and r.path != "/v2/"]
    assert {r.method for r in warm_up} <= {"HEAD", "POST", "PUT"}  # the warm-up never GETs
    figures = summary["replay"]
    assert figures["records_read"] == 260 and figures["replayed"] == 260 and figures["skipped"] == {}
    assert all(k["recorded"] == k["replayed"] and k["failed"] == 0 for k in figures["kinds"].values()), figures
    assert "replay: 260 records read, 260 replayed" in result.stderr


def test_speed_window_and_clients_scale(empty_registry: LocalRegistry, tmp_path: Path) -> None:
    records = ibm_trace(tmp_path / "trace.json")
    in_window = [r for r in records if 1.0 <= epoch_seconds(r["timestamp"]) - ORIGIN < 3.0]
    start = settled_offset(empty_registry.log_path)
    result, summary = replay(
        tmp_path, empty_registry, tmp_path / "trace.json", "--replay-window", "1:3", "--replay-speed", "2",
        "--replay-clients-scale", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    ours = replayed(read_requests(empty_registry.log_path, start, settled_offset(empty_registry.log_path)), "skopeo/")
    assert len(one_per_record(ours)) == 3 * len(in_window)  # each client three times
    times = sorted(epoch_seconds(r.time) for r in ours)
    assert times[-1] - times[0] < (2.0 + 2 / 3) / 2 + 1.0  # 2 s of trace (copies 1/3 s apart) at 2x
    assert summary["replay"]["replayed"] == 3 * len(in_window)


def test_a_registry_log_of_skopeo_traffic_replays_against_another_registry(
    registry_binary: str, empty_registry: LocalRegistry, tmp_path: Path, run_skopeo: Any
) -> None:
    """A registry logging as registry:2 does by default (text), used by skopeo for a push and two pulls; its
    log replayed against an empty registry reads the same blobs, the same bytes, by the same kinds."""
    files, _ = fb.oci_layout([fb.gzipped(fb.layer_tar({"a": random.randbytes(300_000)})),
                              fb.gzipped(fb.layer_tar({"b": random.randbytes(70_000)}))], ref_name="v1")  # fmt: skip
    layout = fb.write_dir(tmp_path / "layout", files)
    with start_registry(binary=registry_binary, extra_config=TEXT_LOG_CONFIG) as source:
        host = source.url.removeprefix("http://")
        start = settled_offset(source.log_path)
        run_skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{host}/team/app:v1")
        for copy in ("one", "two"):
            run_skopeo("copy", "--src-tls-verify=false", f"docker://{host}/team/app:v1", f"dir:{tmp_path / copy}")
        settled_offset(source.log_path)
        log_text = source.log_path.read_bytes()[start:]
    trace = tmp_path / "registry.log"
    trace.write_bytes(log_text)
    assert b'msg="response completed' in log_text
    offset = settled_offset(empty_registry.log_path)
    result, summary = replay(tmp_path, empty_registry, trace)
    assert result.returncode == 0, result.stderr[-3000:]
    ours = replayed(read_requests(empty_registry.log_path, offset, settled_offset(empty_registry.log_path)), "skopeo/")
    blob_gets = [r for r in ours if r.method == "GET" and "/blobs/" in r.path and "/uploads/" not in r.path]
    assert len(blob_gets) == 2 * 3  # two pulls of two layers and a config
    recorded = sorted(
        int(fields["http.response.written"]) for fields in map(logrus, log_text.decode().splitlines())
        if fields.get("http.request.method") == "GET" and "/blobs/sha256:" in fields.get("http.request.uri", "")
    )  # fmt: skip
    assert sorted(r.written for r in blob_gets) == recorded  # the blobs of the recorded sizes
    kinds = summary["replay"]["kinds"]
    assert kinds["blob-get"]["recorded"] == kinds["blob-get"]["replayed"] == 6
    assert kinds["blob-get"]["recorded_bytes"] == kinds["blob-get"]["replayed_bytes"]
    assert kinds["manifest-get"]["recorded"] == kinds["manifest-get"]["replayed"] >= 2
    assert kinds["upload"]["recorded"] == kinds["upload"]["replayed"] >= 3
    assert "upload part (replayed as part of its upload)" in summary["replay"]["skipped"]
