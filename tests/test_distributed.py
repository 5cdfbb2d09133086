"""Distributed runs against the real registry: a master with 2 worker processes, and `--processes 2`.

Each worker records what it fired (tests/counting_locustfile.py); the master's summary file must hold
exactly the workers' sums, with every entry, no failure, and no repository:tag stored twice.
"""

from __future__ import annotations

import collections
import json
import re
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from registry_tasks.tools.local_registry import LocalRegistry, free_port

from . import fixture_builders as fb
from .helpers import ROOT
from .test_locust_run import ALL_ENTRIES

COUNTING = Path(__file__).with_name("counting_locustfile.py")
LOAD = (
    "-u", "8", "-r", "8", "--stop-timeout", "5",
    "--synthetic-images", "2x300KiB", "--chunk-size", "128KiB", "--unique-layers",
)  # fmt: skip


def locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(COUNTING), *args]


def environment(tmp_path: Path) -> dict[str, str]:
    counts = tmp_path / "counts"
    counts.mkdir()
    return {**os.environ, "PYTHONPATH": str(ROOT), "COUNT_DIR": str(counts)}


@contextmanager
def workers(count: int, port: int, tmp_path: Path, env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes for a master on `port`, logging to worker<N>.log; waited for (or killed) on exit."""
    command = locust("--worker", "--master-host", "127.0.0.1", "--master-port", str(port))
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


def check_merged(summary_path: Path, tmp_path: Path, registry: LocalRegistry, prefix: str, stderr: str) -> None:
    """The master's figures are the workers' sums; all entries ran, none failed; no tag written twice; seeded once."""
    summary = json.loads(summary_path.read_text())
    master = {(row["method"], row["name"]): row for row in summary["entries"] if row["name"] != "Aggregated"}
    assert set(master) >= ALL_ENTRIES, f"missing on the master: {ALL_ENTRIES - set(master)}"
    assert all(row["failures"] == 0 for row in master.values()), summary["entries"]
    records = worker_records(tmp_path)
    assert sorted(record["index"] for record in records) == [0, 1]
    fired: collections.Counter[str] = collections.Counter()
    for record in records:
        fired.update(record["counts"])
    assert {f"{method} {name}": row["requests"] for (method, name), row in master.items()} == dict(fired)
    stored = [reference for record in records for reference in record["stored"]]
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
    blob_get = next(row for row in json.loads(summary.read_text())["entries"] if row["name"] == "blob-get")
    assert blob_get["mbps"] > 0
    assert "MB/s" in (tmp_path / "master_registry.csv").read_text()


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
                rows = {row["name"]: row for table in stats.get("extended_stats", []) for row in table["data"]}
                return rows.get("blob-get", {}).get("mbps", 0) > 0

            stats = poll_json(f"{web}/stats/requests", moving)
            assert stats["extended_stats"][0]["key"] == "registry"
            page = urllib.request.urlopen(f"{web}/").read().decode()
            assert '"extended_tabs": [{"key": "registry", "title": "Registry"}]' in page
            csv_text = urllib.request.urlopen(f"{web}/registry/csv").read().decode()
            assert csv_text.startswith("Type,Name,Requests,Failures") and ",blob-get," in csv_text
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
