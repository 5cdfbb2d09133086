"""Distributed runs against the real registry: a master with 2 worker processes, and `--processes 2`.

The shipped locustfile runs, with a listener beside it (tests/support/counting_listener.py) with which each worker
records what it fired; the master's summary file (and its registry CSV and Locust's stats CSV) must hold exactly
the workers' sums of requests and bytes, with every entry, no failure, and no repository:tag stored twice.
"""

from __future__ import annotations

import collections
import csv
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from registry_tasks.plugin.reporting.throughput import COLUMNS, IMAGE_TYPES
from registry_tasks.tools.local_registry import LocalRegistry, free_port

from ..support import fixture_builders as fb
from ..support.helpers import ALL_ENTRIES, ROOT, stats

LOCUSTFILES = f"{ROOT / 'locustfile.py'},{ROOT / 'tests' / 'support' / 'counting_listener.py'}"
BYTE_ENTRIES = {"blob-get", "manifest-get", "upload-chunk", "manifest-put", "image-pull", "image-push"}
"""Entries whose requests move bytes in every run (upload-start, upload-finish and HEADs move none)."""
LOAD = (
    "-u", "8", "-r", "8", "--stop-timeout", "5",
    "--synthetic-images", "2x300KiB", "--chunk-size", "128KiB", "--unique-layers",
)  # fmt: skip


def locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", LOCUSTFILES, *args]


def environment(tmp_path: Path) -> dict[str, str]:
    counts = tmp_path / "counts"
    counts.mkdir()
    return {**os.environ, "PYTHONPATH": str(ROOT), "COUNT_DIR": str(counts)}


@contextmanager
def workers(
    count: int, port: int, tmp_path: Path, env: dict[str, str], locustfile: list[str] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes for a master on `port` (of `locustfile`, a command's start; by default the shipped one
    with the counting listener), logging to worker<N>.log; waited for (or killed) on exit."""
    start = locustfile or locust()
    command = [*start, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    started = []
    for number in range(count):
        with open(tmp_path / f"worker{number}.log", "wb") as log:
            started.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        yield started
    finally:
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def worker_logs(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in sorted(tmp_path.glob("worker*.log")))


def worker_records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted((tmp_path / "counts").glob("*.json"))]


def registry_tags(registry: LocalRegistry, prefix: str) -> list[str]:
    """Every repository:tag under `prefix`, as the registry lists them."""
    catalog = json.loads(urllib.request.urlopen(f"{registry.url}/v2/_catalog?n=1000").read())["repositories"]
    tags = []
    for repository in (name for name in catalog if name.startswith(f"{prefix}/")):
        try:
            answer = json.loads(urllib.request.urlopen(f"{registry.url}/v2/{repository}/tags/list").read())
        except urllib.error.HTTPError as error:  # chunked-upload repositories hold blobs and no manifest
            assert error.code == 404, repository
            continue
        tags += [f"{repository}:{tag}" for tag in answer.get("tags") or []]
    return tags


def workers_fired(tmp_path: Path, what: str) -> dict[str, int]:
    """The workers' sums of `what` ("counts" or "bytes") by "METHOD name"; both workers must have reported."""
    records = worker_records(tmp_path)
    assert sorted(record["index"] for record in records) == [0, 1]
    fired: collections.Counter[str] = collections.Counter()
    for record in records:
        fired.update(record[what])
    return dict(fired)


def check_merged(summary_path: Path, tmp_path: Path, registry: LocalRegistry, prefix: str, stderr: str) -> None:
    """The master's figures are the workers' sums; all entries ran, none failed; no tag written twice; seeded once."""
    summary = json.loads(summary_path.read_text())
    master = {(row["method"], row["name"]): row for row in summary["entries"] if row["name"] != "Aggregated"}
    assert set(master) >= ALL_ENTRIES, f"missing on the master: {ALL_ENTRIES - set(master)}"
    assert all(row["failures"] == 0 for row in master.values()), summary["entries"]
    fired, moved = workers_fired(tmp_path, "counts"), workers_fired(tmp_path, "bytes")
    assert {f"{method} {name}": row["requests"] for (method, name), row in master.items()} == fired
    assert {f"{method} {name}": row["bytes"] for (method, name), row in master.items()} == moved
    stored = [reference for record in worker_records(tmp_path) for reference in record["stored"]]
    assert len(stored) == len(set(stored)), "two pushes stored the same repository:tag"
    tags = registry_tags(registry, prefix)
    assert {reference for reference in stored if "@" not in reference} <= set(tags)
    assert stderr.count(f"seeded {prefix}/synthetic-2x300kib:latest") == 1, "seeded more than once"
    assert "not seeded" not in stderr and not re.search(r"seeding \S+ failed", stderr) and "Traceback" not in stderr


def test_master_and_two_workers_merge_exactly(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    """Workers slow to stop still count: without draining them the master lost their last seconds."""
    port, env, summary = free_port(), environment(tmp_path), tmp_path / "summary.json"
    env["SLOW_STOP"] = "1"
    master = locust(
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--expect-workers", "2",
        "--headless", "-H", fresh_registry.url, "-t", "6s", *LOAD, "--repository-prefix", "dist/workers",
        "--summary-file", str(summary), "--csv", str(tmp_path / "master"), "--only-summary",
    )  # fmt: skip
    with workers(2, port, tmp_path, env) as started:
        result = subprocess.run(master, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    worker_output = worker_logs(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(process.returncode == 0 for process in started), worker_output[-3000:]
    check_merged(summary, tmp_path, fresh_registry, "dist/workers", result.stderr + worker_output)
    entries = json.loads(summary.read_text())["entries"]
    check_registry_csv(tmp_path / "master", entries, workers_fired(tmp_path, "counts"))


def check_registry_csv(prefix: Path, summary_entries: list[dict[str, Any]], fired: dict[str, int]) -> None:
    """The master's `_registry.csv`: one row per entry Locust's own stats CSV has, each with the requests the workers
    fired and the figures of the summary file; bytes and MB/s where requests move bytes; an Aggregated row that
    counts each byte once (image-pull / image-push bytes are their requests' bytes again)."""
    with open(f"{prefix}_registry.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == list(COLUMNS.values())
        rows = {(row["Type"], row["Name"]): row for row in reader}
    total = rows.pop(("", "Aggregated"))
    locust_rows = stats(prefix)
    assert set(rows) == set(locust_rows) >= ALL_ENTRIES
    summary = {(entry["method"], entry["name"]): entry for entry in summary_entries}
    for (method, name), row in rows.items():
        requests = int(row["Requests"])
        assert requests == int(locust_rows[method, name]["Request Count"]) == fired[f"{method} {name}"] > 0, name
        assert row["Failures"] == locust_rows[method, name]["Failure Count"] == "0", name
        assert int(row["Bytes"]) == summary[method, name]["bytes"], name
        assert float(row["MB/s"]) == summary[method, name]["mbps"], name
        assert requests == summary[method, name]["requests"], name
        if name in BYTE_ENTRIES:
            assert int(row["Bytes"]) > 0 and float(row["MB/s"]) > 0, (name, row)
    assert int(total["Requests"]) == sum(int(row["Requests"]) for row in rows.values()) == sum(fired.values())
    once = sum(int(row["Bytes"]) for (method, _), row in rows.items() if method not in IMAGE_TYPES)
    assert int(total["Bytes"]) == once == summary["", "Aggregated"]["bytes"] > 0


def test_processes_two_merge_exactly(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    port, env, summary = free_port(), environment(tmp_path), tmp_path / "summary.json"
    command = locust(
        "--processes", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--master-port", str(port), "--headless", "-H", fresh_registry.url, "-t", "6s", *LOAD,
        "--repository-prefix", "dist/processes", "--summary-file", str(summary), "--only-summary",
    )  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    check_merged(summary, tmp_path, fresh_registry, "dist/processes", result.stderr)


def poll_json(url: str, ready: Any, timeout: float = 15) -> Any:
    """GET `url` until `ready(answer)` holds; returns that answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = json.loads(urllib.request.urlopen(url, timeout=5).read())
            if ready(answer):
                return answer
        except OSError:
            pass  # the web UI is not up yet
        assert time.monotonic() < deadline, f"{url} never answered as expected"
        time.sleep(0.5)


def test_registry_tab_answers_on_a_running_master(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    port, web_port, env = free_port(), free_port(), environment(tmp_path)
    web = f"http://127.0.0.1:{web_port}"
    master = locust(
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--expect-workers", "1",
        "--web-host", "127.0.0.1", "--web-port", str(web_port), "--autostart",
        "-H", fresh_registry.url, *LOAD, "--repository-prefix", "dist/web",
    )  # fmt: skip
    master_log = tmp_path / "master.log"
    with workers(1, port, tmp_path, env) as started, open(master_log, "wb") as log:
        process = subprocess.Popen(master, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:

            def moving(stats: dict[str, Any]) -> bool:
                tables = [table for table in stats.get("extended_stats", []) if table["key"] == "registry"]
                rows = {row["name"]: row for table in tables for row in table["data"]}
                return rows.get("blob-get", {}).get("mbps", 0) > 0

            stats = poll_json(f"{web}/stats/requests", moving)
            assert stats["extended_stats"][0]["key"] == "registry"
            page = urllib.request.urlopen(f"{web}/").read().decode()
            assert '{"key": "registry", "title": "Registry"}' in page and '"key": "open-model"' in page
            csv_text = urllib.request.urlopen(f"{web}/registry/csv").read().decode()
            tab = list(csv.DictReader(csv_text.splitlines()))
            assert csv_text.splitlines()[0].split(",") == list(COLUMNS.values())
            (blob_get,) = [row for row in tab if row["Name"] == "blob-get"]
            assert int(blob_get["Requests"]) > 0 and int(blob_get["Bytes"]) > 0
            assert tab[-1]["Name"] == "Aggregated" and int(tab[-1]["Requests"]) >= int(blob_get["Requests"])
            report = urllib.request.urlopen(f"{web}/stats/report").read().decode()
            assert 'id="registry-throughput"' in report and "MB/s" in report
        finally:
            process.terminate()  # as `docker stop` would end a web UI run
            process.wait(timeout=30)
    assert process.returncode == 0, master_log.read_text()[-3000:]
    assert started[0].returncode == 0, worker_logs(tmp_path)[-3000:]


def test_worker_with_other_fixture_files_stops_with_the_reason(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    """Each process reads `fixtures/` in its own directory, as containers with their own volume do: the worker
    stops before writing anything, and the master says why too."""
    for place, content in (("master", b"\x01"), ("worker", b"\x02")):
        files, _ = fb.oci_layout(layers=[fb.layer_tar({"bin/app": content * 10_000})])
        fb.write_dir(tmp_path / place / "fixtures" / "app", files)
    port, env = free_port(), environment(tmp_path)
    master = locust(
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--expect-workers", "1",
        "--headless", "-H", fresh_registry.url, "-u", "2", "-t", "5s", "--repository-prefix", "dist/mismatch",
    )  # fmt: skip
    with workers(1, port, tmp_path / "worker", env) as started:
        result = subprocess.run(master, cwd=tmp_path / "master", env=env, capture_output=True, text=True, timeout=60)
    log = worker_logs(tmp_path / "worker")
    assert started[0].returncode == 1, log[-3000:]
    problem = [line for line in log.splitlines() if "fixtures differ" in line]
    assert len(problem) == 1, log[-3000:]
    assert "fixtures differ from the master's: image app is sha256:" in problem[0]
    assert "on this worker and sha256:" in problem[0] and "(every worker needs the same fixture files)" in problem[0]
    assert "Traceback" not in log
    assert "worker 0: fixtures differ from the master's: image app" in result.stderr  # the master says so too
    assert "The last worker quit, stopping test" in result.stderr
    assert not json.loads(urllib.request.urlopen(f"{fresh_registry.url}/v2/_catalog").read())["repositories"]


SHIPPED = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py")]
"""The shipped locustfile alone, as an operator types it (the compose file's and Kubernetes' command too)."""
NOISE = ("Traceback", "KeyError", "had no tasks left", "Bad response code", "No tasks defined")


def entries_of(summary_path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    summary = json.loads(summary_path.read_text())
    return {(row["method"], row["name"]): row for row in summary["entries"] if row["name"] != "Aggregated"}


def test_processes_two_with_fewer_users_than_classes(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    """`--processes 2 -u 3` with the shipped locustfile: every default entry, no worker lost (the workers once
    died with KeyError 'RegistryArtifactUser' and the run sent nothing and passed)."""
    summary, port = tmp_path / "summary.json", free_port()
    command = [
        *SHIPPED, "--processes", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--master-port", str(port), "--headless", "-H", fresh_registry.url, "-u", "3", "-r", "3", "-t", "6s",
        "--synthetic-images", "1x200KiB", "--chunk-size", "64KiB", "--summary-file", str(summary), "--only-summary",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [noise for noise in NOISE if noise in result.stderr], result.stderr[-3000:]
    entries = entries_of(summary)
    assert set(entries) >= ALL_ENTRIES, f"missing: {ALL_ENTRIES - set(entries)}"
    assert all(row["requests"] > 0 and row["failures"] == 0 for row in entries.values()), entries


def test_a_master_with_tags_and_two_bare_workers(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    """Workers started as the compose file and the Kubernetes manifests start them (no option but the master's
    address) take the master's --tags: its classes run, the others stay out, and no worker warns or dies."""
    summary, port = tmp_path / "summary.json", free_port()
    master = [
        *SHIPPED, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--expect-workers", "2", "--headless", "-H", fresh_registry.url, "-u", "3", "-r", "3", "-t", "5s",
        "--tags", "manifest-get", "catalog", "--synthetic-images", "1x4KiB", "--summary-file", str(summary),
        "--only-summary",
    ]  # fmt: skip
    with workers(2, port, tmp_path, dict(os.environ), SHIPPED) as started:
        result = subprocess.run(master, cwd=tmp_path, capture_output=True, text=True, timeout=90)
    worker_output = worker_logs(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(process.returncode == 0 for process in started), worker_output[-3000:]
    assert not [noise for noise in NOISE if noise in result.stderr + worker_output], worker_output[-3000:]
    assert '"RegistryBrowseUser": 1' in result.stderr and '"RegistryPullUser": 2' in result.stderr
    entries = entries_of(summary)
    assert set(entries) == {("GET", "manifest-get"), ("GET", "catalog"), ("WALK", "catalog-walk")}, entries
    assert all(row["requests"] > 0 and row["failures"] == 0 for row in entries.values()), entries


def test_classes_picked_in_the_web_ui_run_on_a_bare_worker(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    """The web UI's class picker names the classes: a class run only when asked (browse) runs when picked."""
    port, web_port = free_port(), free_port()
    web = f"http://127.0.0.1:{web_port}"
    master = [
        *SHIPPED, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--web-host", "127.0.0.1", "--web-port", str(web_port), "--class-picker", "-H", fresh_registry.url,
        "--synthetic-images", "1x4KiB",
    ]  # fmt: skip
    worker = [*SHIPPED, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    with open(tmp_path / "master.log", "wb") as master_log, open(tmp_path / "worker.log", "wb") as worker_log:
        processes = [subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
                     for command, log in ((master, master_log), (worker, worker_log))]  # fmt: skip
        try:
            poll_json(f"{web}/stats/requests", lambda answer: answer.get("workers") and
                      answer["workers"][0]["state"] == "ready", timeout=30)  # fmt: skip
            form = [("user_count", "2"), ("spawn_rate", "2"), ("host", fresh_registry.url),
                    ("user_classes", "RegistryBrowseUser"), ("user_classes", "RegistryPullUser")]  # fmt: skip
            data = urllib.parse.urlencode(form).encode()
            assert json.loads(urllib.request.urlopen(f"{web}/swarm", data=data, timeout=30).read())["success"]

            def walked(answer: dict[str, Any]) -> bool:
                counts = {row["name"]: row["num_requests"] for row in answer["stats"]}
                return all(counts.get(name, 0) > 0 for name in ("tags-walk", "catalog-walk", "manifest-get"))

            answer = poll_json(f"{web}/stats/requests", walked, timeout=30)
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=30)
    names = {row["name"] for row in answer["stats"]}
    assert not names & {"upload-start", "manifest-put", "image-push"}, names  # push users were not picked
    output = (tmp_path / "master.log").read_text() + (tmp_path / "worker.log").read_text()
    assert not [noise for noise in NOISE if noise in output], output[-3000:]
