"""Churn under load against the real registry: tags that move, manifests deleted, a "blob unknown" after a
successful upload told apart, and distribution's garbage-collect run on the storage during the load (what broke
is reported, under reports/)."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_tasks.registry import ClientConfig, RegistryClient, RequestFailed
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry, start_registry

from ..support.helpers import ROOT, Fault, Recorder, fault_proxy, locust_command, run_locust
from ..support.registry_log import REQUEST_LOG_CONFIG, read_requests, settled_offset


@pytest.fixture
def logged_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    with start_registry(binary=registry_binary, extra_config=REQUEST_LOG_CONFIG) as running:
        yield running


def test_tags_move_and_manifests_are_deleted_under_load(logged_registry: LocalRegistry, tmp_path: Path) -> None:
    start = settled_offset(logged_registry.log_path)
    result = run_locust(
        tmp_path, "-H", logged_registry.url, "-u", "2", "-r", "2", "-t", "4s", "--tags", "tag-churn",
        "manifest-delete", "--client-profile", "minimal", "--repository-prefix", "churn",
        "--csv", str(tmp_path / "run"),
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    requests = read_requests(logged_registry.log_path, start, settled_offset(logged_registry.log_path))
    moves = [r for r in requests if r.method == "PUT" and "/manifests/churn-" in r.path]
    deletes = [r for r in requests if r.method == "DELETE" and "/manifests/sha256:" in r.path]
    assert len(moves) >= 4
    assert [r for r in moves if r.status != 201] == []
    assert deletes and sum(r.status == 202 for r in deletes) >= len(deletes) * 0.9
    with open(tmp_path / "run_stats.csv", newline="") as handle:
        names = {(row["Type"], row["Name"]) for row in csv.DictReader(handle)}
    assert {("PUT", "manifest-put"), ("DELETE", "manifest-delete")} <= names


def test_blob_unknown_after_a_successful_upload_has_a_message_of_its_own(registry: LocalRegistry) -> None:
    image = synthetic_image("1x8KiB", seed=31)
    layer = image.layers[0]
    body = json.dumps({"errors": [{"code": "MANIFEST_BLOB_UNKNOWN", "message": "blob unknown to registry",
                                   "detail": layer.digest}]}).encode()  # fmt: skip
    lost = Fault("PUT", r"/manifests/", "status", 400, {"Content-Type": "application/json"}, body, times=2)
    with fault_proxy(registry.url, lost) as (url, _):
        recorder = Recorder()
        client = RegistryClient(url, recorder, ClientConfig())
        for blob in image.blobs:
            client.upload_blob("churn/lost", blob, "monolithic", 1 << 20)
        with pytest.raises(RequestFailed):
            client.put_manifest("churn/lost", "v1", image.manifest)
        stranger = RegistryClient(url, recorder, ClientConfig())  # it uploaded nothing: an ordinary refusal
        with pytest.raises(RequestFailed):
            stranger.put_manifest("churn/lost", "v1", image.manifest)
    assert recorder.failures() == [
        "manifest-put: blob unknown after its upload succeeded",
        "manifest-put: 400 MANIFEST_BLOB_UNKNOWN: blob unknown to registry",
    ]


def test_garbage_collect_during_load_is_reported(
    registry_binary: str, logged_registry: LocalRegistry, tmp_path: Path
) -> None:
    """distribution's garbage-collect on the storage of a registry under pulls, pushes and churn (it is meant for a
    read-only registry; this shows what breaks when it is not)."""
    command = locust_command(
        "-H", logged_registry.url, "-u", "6", "-r", "6", "-t", "8s", "--tags", "image-pull", "image-push",
        "tag-churn", "manifest-delete", "--client-profile", "minimal", "--repository-prefix", "gc",
        "--csv", str(tmp_path / "run"),
    )  # fmt: skip
    with open(tmp_path / "locust.log", "w") as log:
        load = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log)
    try:
        time.sleep(3)
        gc = subprocess.run([registry_binary, "garbage-collect", str(logged_registry.config_path)],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert load.wait(timeout=90) in (0, 1)  # 1: requests failed, which is what we look for
    finally:
        if load.poll() is None:
            load.kill()
    assert gc.returncode == 0, gc.stderr[-2000:]
    output = (tmp_path / "locust.log").read_text()
    assert "Traceback" not in output
    with open(tmp_path / "run_failures.csv", newline="") as handle:
        broke = [(row["Name"], row["Error"], row["Occurrences"]) for row in csv.DictReader(handle)]
    deleted = (gc.stdout + gc.stderr).count("eligible for deletion")
    report = ROOT / "reports" / "gc-under-load.txt"
    report.parent.mkdir(exist_ok=True)
    lines = [f"garbage-collect marked {deleted} blobs for deletion during the load; what failed:"]
    lines += [f"  {count} x {name}: {error}" for name, error, count in broke] or ["  nothing"]
    report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    assert all(error and not error.startswith(("Traceback", "<")) for _, error, _ in broke)  # grouped messages
