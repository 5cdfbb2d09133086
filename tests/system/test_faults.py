"""Faults from real processes: a proxy in front of the real registry that answers 429/5xx, resets, truncates,
stalls or loses an upload session. Each fault is one counted failure with a grouped message, and the next call
goes through. Retry-After values and connect timeouts without a registry: tests/unit/test_registry_errors.py,
tests/unit/test_registry_client.py."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from registry_tasks.image import Image, Platform
from registry_tasks.registry.client import ClientConfig, RegistryClient, RequestFailed
from registry_tasks.registry.profiles import PROFILES
from registry_tasks.registry.workflows import pull_image, push_image
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry, free_port

from ..support.helpers import Fault, Recorder, fault_proxy, locust_command, run_locust, seeded_run, stats

KIB = 1 << 10
AMD64 = Platform("linux", "amd64")


def errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": "repo faults/app"}]}).encode()


@pytest.fixture(scope="module")
def image(registry: LocalRegistry) -> Image:
    """A small image already in the registry (pushed directly, not through any proxy)."""
    pushed = synthetic_image("1x300KiB,1x2KiB", 41)
    client = RegistryClient(registry.url, Recorder())
    push_image(client, "faults/app", pushed.tag, pushed, "monolithic", 1 << 20, 2)
    client.close()
    return pushed


def through(url: str, **config: Any) -> tuple[RegistryClient, Recorder]:
    recorder = Recorder()
    return RegistryClient(url, recorder, ClientConfig(**config)), recorder


def pull_twice(client: RegistryClient, image: Image) -> None:
    """The faulty pull (expected to fail), then one that must go through."""
    with pytest.raises(RequestFailed):
        pull_image(client, "faults/app", image.tag, AMD64, 2)
    pull_image(client, "faults/app", image.tag, AMD64, 2)


RESET = re.escape("ConnectionResetError: [Errno 104] Connection reset by peer")
FAULTS = {
    "500": (Fault("GET", "/manifests/", "status", 500, body=errors("UNKNOWN", "oops")), "500 UNKNOWN: oops"),
    "503-html": (Fault("GET", "/blobs/", "status", 503, body=b"<html><h1>503</h1></html>"), "503 Service Unavailable"),
    "502-empty": (Fault("GET", "/blobs/", "status", 502), "502 Bad Gateway"),
    "429-plain": (Fault("GET", "/manifests/", "status", 429), "429 TOOMANYREQUESTS"),
    "reset-blob": (Fault("GET", "/blobs/", "reset"), RESET),
    "reset-manifest": (Fault("GET", "/manifests/", "reset"), RESET),
    "truncate-blob": (Fault("GET", "/blobs/", "truncate"), r"body ended before its Content-Length"),
    "truncate-manifest": (Fault("GET", "/manifests/", "truncate"), r"body ended before its Content-Length"),
    "stall-blob": (Fault("GET", "/blobs/", "stall", seconds=1.0), r"timeout: no progress for 0\.4 s"),
    "delay-manifest": (Fault("GET", "/manifests/", "delay", seconds=1.0), r"timeout: no progress for 0\.4 s"),
}  # fmt: skip


@pytest.mark.parametrize(("fault", "pattern"), FAULTS.values(), ids=FAULTS.keys())
def test_fault_is_one_grouped_failure_and_the_next_pull_works(
    registry: LocalRegistry, image: Image, fault: Fault, pattern: str
) -> None:
    fault = dataclasses.replace(fault)  # a fresh match counter for every run of the case
    with fault_proxy(registry.url, fault) as (url, plan):
        client, recorder = through(url, network_timeout=0.4, connect_timeout=0.4)
        pull_twice(client, image)
        client.close()
    assert plan.hits(fault) == 1
    failed = [event for event in recorder.events if event["exception"]]
    (request, whole_image) = failed  # the request that met the fault, then the image it belonged to
    assert (request["request_type"], whole_image["name"]) == (fault.method, "image-pull")
    message = str(request["exception"])
    assert re.fullmatch(pattern, message), message
    assert str(whole_image["exception"]) == message  # the image fails with the same, grouped message
    assert "faults/app" not in message and "sha256" not in message
    assert recorder.named("image-pull")[-1]["exception"] is None


def test_retry_after_is_honored_in_the_users_own_greenlet(registry: LocalRegistry, image: Image) -> None:
    """--honor-retry-after: the 429 counts as a failure, the next call waits as told, outside its timer."""
    throttle = Fault("GET", "/manifests/", "status", 429, {"Retry-After": "1"}, errors("TOOMANYREQUESTS", "slow down"))
    with fault_proxy(registry.url, throttle) as (url, plan):
        client, recorder = through(url, honor_retry_after=True)
        with pytest.raises(RequestFailed):
            client.get_manifest("faults/app", image.tag)
        client.get_manifest("faults/app", image.tag)
        client.close()
    assert recorder.failures() == ["manifest-get: 429 TOOMANYREQUESTS: slow down"]
    (_, _, first), (_, _, second) = plan.seen
    assert second - first >= 0.95
    assert recorder.events[-1]["response_time"] < 500  # the wait is not the request's time


def test_retry_after_is_ignored_unless_asked(registry: LocalRegistry, image: Image) -> None:
    throttle = Fault("GET", "/manifests/", "status", 429, {"Retry-After": "5"})
    with fault_proxy(registry.url, throttle) as (url, plan):
        client, recorder = through(url)
        with pytest.raises(RequestFailed):
            client.get_manifest("faults/app", image.tag)
        client.get_manifest("faults/app", image.tag)
        client.close()
    assert recorder.failures() == ["manifest-get: 429 TOOMANYREQUESTS"]
    assert plan.seen[1][2] - plan.seen[0][2] < 0.5


# --- uploads --------------------------------------------------------------------------------------------


def push(client: RegistryClient, repository: str, image: Image) -> None:
    push_image(client, repository, image.tag, image, "chunked", 64 * KIB, 1)


def test_416_on_a_chunk_asks_the_session_and_resumes_once(registry: LocalRegistry) -> None:
    pushed = synthetic_image("1x300KiB", 42)
    refused = Fault("PATCH", "/blobs/uploads/", "status", 416, body=errors("RANGE_INVALID", "invalid content range"))
    refused.skip = 2  # the third chunk of the layer
    with fault_proxy(registry.url, refused) as (url, plan):
        client, recorder = through(url)
        push(client, "faults/resume", pushed)
        client.close()
    assert plan.hits(refused) == 1
    assert recorder.failures() == ["upload-chunk: 416 RANGE_INVALID: invalid content range"]
    (status,) = recorder.named("upload-status")
    assert (status["request_type"], status["exception"], status["context"]["offset"]) == ("GET", None, 128 * KIB)
    assert recorder.named("image-push")[0]["exception"] is None
    checker, checked = through(registry.url)
    pull_image(checker, "faults/resume", pushed.tag, AMD64, 2)  # every digest verified
    assert checked.failures() == []


def test_a_second_416_fails_the_push_and_the_next_push_starts_afresh(registry: LocalRegistry) -> None:
    pushed = synthetic_image("1x300KiB", 43)
    refused = Fault("PATCH", "/blobs/uploads/", "status", 416, times=2, body=errors("RANGE_INVALID", "bad range"))
    with fault_proxy(registry.url, refused) as (url, _):
        client, recorder = through(url)
        with pytest.raises(RequestFailed, match="416 RANGE_INVALID"):
            push(client, "faults/refused", pushed)
        push(client, "faults/refused", pushed)
        client.close()
    assert len(recorder.named("upload-status")) == 1
    assert [event["exception"] is None for event in recorder.named("image-push")] == [False, True]


def test_lost_upload_session_fails_that_push_and_the_next_starts_a_new_one(registry: LocalRegistry) -> None:
    """The registry itself drops the session (the proxy DELETEs it first): 404 BLOB_UPLOAD_UNKNOWN."""
    pushed = synthetic_image("1x200KiB", 44)
    lost = Fault("PATCH", "/blobs/uploads/", "expire")
    with fault_proxy(registry.url, lost) as (url, _):
        client, recorder = through(url)
        with pytest.raises(RequestFailed):
            push(client, "faults/lost", pushed)
        push(client, "faults/lost", pushed)
        client.close()
    message = "404 BLOB_UPLOAD_UNKNOWN: blob upload unknown to registry"
    assert recorder.failures() == [f"upload-chunk: {message}", f"image-push: {message}"]
    # config and layer in the first push (the layer's upload went on), then new sessions for both: the minimal
    # profile looks for nothing before it uploads
    assert len(recorder.named("upload-start")) == 4
    assert recorder.named("image-push")[-1]["exception"] is None


def test_a_headless_run_through_faults_counts_each_and_goes_on(registry: LocalRegistry, tmp_path: Path) -> None:
    """Every kind of fault in one real run: each a failure with its message, no exception, and load goes on."""
    too_many = errors("TOOMANYREQUESTS", "too many requests")
    faults = [
        Fault("GET", "/manifests/", "status", 429, {"Retry-After": "1"}, too_many, times=3, skip=5),
        Fault("GET", "/blobs/", "status", 503, times=3, skip=5),
        Fault("GET", "/blobs/", "reset", times=2, skip=10),
        Fault("GET", "/blobs/", "truncate", times=2, skip=15),
        Fault("GET", "/blobs/", "flip", times=2, skip=20),
        Fault("GET", "/blobs/", "stall", seconds=2.5, times=1, skip=25),
    ]
    with fault_proxy(registry.url, *faults) as (url, plan):
        result = run_locust(
            tmp_path,
            "-H", url,
            "-u", "4", "-r", "4", "-t", "6s",
            "--synthetic-images", "2x100KiB",
            "--tags", "manifest-get", "blob-get", "image-pull",
            "--client-profile", "minimal",  # bare API calls: no client back-off between a fault and the next try
            "--repository-prefix", "faults/run",
            "--honor-retry-after",
            "--request-timeout", "2",
            "--csv", str(tmp_path / "run"),
        )  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]  # 1: requests failed, nothing worse
    assert "Traceback" not in result.stderr
    assert all(plan.hits(fault) == fault.times for fault in faults), [plan.hits(fault) for fault in faults]
    assert (tmp_path / "run_exceptions.csv").read_text().splitlines()[1:] == []
    failures = (tmp_path / "run_failures.csv").read_text()
    for message in (
        "429 TOOMANYREQUESTS: too many requests",
        "503 Service Unavailable",
        "ConnectionResetError: [Errno 104] Connection reset by peer",
        "body ended before its Content-Length",
        "blob bytes do not match their digest",
        "timeout: no progress for 2 s",
    ):
        assert message in failures, message
    # the messages as the README promises them, not the repr of an exception (DigestMismatch('...'))
    errors_column = {row["Error"] for row in csv.DictReader(failures.splitlines())}
    assert "blob bytes do not match their digest" in errors_column
    assert not [error for error in errors_column if re.match(r"^\w+\(", error)], errors_column
    total = stats(tmp_path / "run")
    requests = sum(int(row["Request Count"]) for key, row in total.items() if key[0] == "GET")
    failed = sum(int(row["Failure Count"]) for key, row in total.items() if key[0] == "GET")
    assert failed == sum(fault.times for fault in faults) and requests > 20 * failed


@pytest.mark.parametrize(("profile", "most"), [("docker", 24), ("containerd", 60), ("minimal", None)])
def test_a_registry_that_dies_is_not_hammered(
    profile: str, most: int | None, fresh_registry: LocalRegistry, tmp_path: Path
) -> None:
    """The registry is killed once seeding is done: each user's image-pull fails, the request it had in flight
    reset, or the next one it sends refused. A real client's profile waits before trying again (docker 5 s,
    containerd 1 s), so 4 users in the 5 s left send a handful of requests; minimal, the bare API stress, retries
    at once (thousands).

    With docker's 5 s the users that come back are past the run's end: only a blob GET that was in flight is tried
    again inside its pull (5 s later, refused). When the kill finds every user in a ping or a manifest request, a
    docker run has resets and no refusal at all."""
    command = locust_command(
        "-H", fresh_registry.url,
        "-u", "4", "-r", "4", "-t", "6s",
        "--synthetic-images", "1x100KiB",
        "--tags", "image-pull",
        "--client-profile", profile,
        "--request-timeout", "2",
        "--csv", str(tmp_path / "run"),
    )  # fmt: skip
    with seeded_run(command, tmp_path, seconds=20) as (process, log):
        time.sleep(1.0)  # the seeding's last step (a mount of the same blobs) takes milliseconds; then pulls run
        fresh_registry.process.kill()
        fresh_registry.process.wait(timeout=10)
        assert process.wait(timeout=60) == 1, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
    table = stats(tmp_path / "run")
    failed = sum(int(row["Failure Count"]) for (method, _), row in table.items() if method not in ("PULL", "PUSH"))
    failures = list(csv.DictReader((tmp_path / "run_failures.csv").read_text().splitlines()))
    dead = [row for row in failures if row["Error"].startswith(("ConnectionRefusedError", "ConnectionResetError"))]
    assert dead, failures  # the registry's death, as the users met it
    if most is None:
        refused = sum(
            int(row["Occurrences"]) for row in dead
            if row["Method"] not in ("PULL", "PUSH") and row["Error"].startswith("ConnectionRefusedError")
        )  # fmt: skip
        assert refused > 500, refused
    else:
        assert failed <= most, failed


def test_a_registry_that_is_not_there_stops_the_run_with_one_line(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = run_locust(tmp_path, "-H", dead, "-u", "4", "-t", "20s", "--csv", str(tmp_path / "run"), timeout=60)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "/ERROR/" in line]
    assert len(errors) == 1 and re.search(rf"{dead}/v2/: ConnectionRefusedError: .*refused", errors[0]), errors
    table = stats(tmp_path / "run")
    assert sum(int(row["Request Count"]) for row in table.values()) == 0  # no load at all


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/link/to/docker/registry", r"answered 404: not a Registry API V2 endpoint \(check the path prefix\)"),
        ("/html", r"answered 200 with an HTML page and no Docker-Distribution-API-Version"),
    ],
)
def test_a_host_that_is_no_registry_api_stops_the_run_with_one_line(
    path: str, answer: str, registry: LocalRegistry, tmp_path: Path
) -> None:
    page = b"<html><body>Welcome to our portal</body></html>"
    html = Fault("GET", r"^/html/v2/$", "status", 200, {"Content-Type": "text/html"}, page)
    with fault_proxy(registry.url, html) as (url, _):
        result = run_locust(tmp_path, "-H", url + path, "-u", "2", "-t", "20s", timeout=60)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "/ERROR/" in line]
    assert len(errors) == 1 and re.search(re.escape(f"{url}{path}/v2/ ") + answer, errors[0]), errors
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("profile", ["docker", "containerd"])
def test_a_cut_body_is_resumed_with_a_range_as_the_client_does(
    registry: LocalRegistry, image: Image, profile: str
) -> None:
    """Half a blob, then a clean close: a resuming client asks for the rest (`Range: bytes=N-`), the registry
    answers 206, the hash goes on from the cut, and the pull succeeds with every byte verified."""
    cut = Fault("GET", "/blobs/", "truncate")
    with fault_proxy(registry.url, cut) as (url, plan):
        client, recorder = through(url, profile=PROFILES[profile])
        pull_image(client, "faults/app", image.tag, AMD64)
        client.close()
    assert plan.hits(cut) == 1
    gets = recorder.named("blob-get")
    failed = [event for event in gets if event["exception"]]
    resumed = [event for event in gets if "resumed_from" in event["context"]]
    assert [str(event["exception"]) for event in failed] == ["body ended before its Content-Length"]
    assert len(resumed) == 1 and resumed[0]["exception"] is None
    assert resumed[0]["context"]["answer"] == 206 and resumed[0]["context"]["resumed_from"] > 0
    assert failed[0]["response_length"] == resumed[0]["context"]["resumed_from"]  # it asked for exactly the rest
    assert recorder.named("image-pull")[-1]["exception"] is None
