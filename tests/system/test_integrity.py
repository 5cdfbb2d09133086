"""Nothing lost, nothing invented: every push a run reported is in the registry byte for byte (`audit`), and the
requests Locust counted are the requests the registry logged."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_tasks.registry.profiles import TAG
from registry_tasks.tools.local_registry import LocalRegistry, start_registry

from ..support.helpers import ROOT, fault_proxy, run_locust, stats

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# What log_request writes for each seeding request (DEBUG when it worked, WARNING when not).
SEEDING_LINE = re.compile(
    r"/(?:DEBUG|WARNING)/registry_tasks\.registry\.errors: (" + "|".join(METHODS) + r") \S+ (?:[\d.]+ ms|failed)"
)
ACCESS_LINE = re.compile(r'"(' + "|".join(METHODS) + r') /v2/\S* HTTP/1\.1" \d+ \d+ "[^"]*" "([^"]*)"')


@pytest.fixture(scope="module")
def logged_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    """A registry with its access log on: one line per request it served."""
    with start_registry(binary=registry_binary, extra_config={"log": {"accesslog": {"disabled": False}}}) as running:
        yield running


@pytest.fixture(scope="module")
def finished_run(logged_registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One completed headless run with every task and --pushed-log; its directory."""
    out = tmp_path_factory.mktemp("integrity")
    result = run_locust(
        out,
        "-H", logged_registry.url,
        "-u", "6", "-r", "6", "-t", "6s",
        "--synthetic-images", "2x100KiB",
        "--chunk-size", "32KiB",
        "--unique-layers",
        "--pushed-log", str(out / "pushed.jsonl"),
        "--csv", str(out / "run"),
        "--logfile", str(out / "locust.log"),
        "--loglevel", "DEBUG",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def audit(registry_url: str, pushed_log: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "registry_tasks", "audit", str(pushed_log), "-H", registry_url]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_every_reported_push_is_logged_once(finished_run: Path) -> None:
    records = [json.loads(line) for line in (finished_run / "pushed.jsonl").read_text().splitlines()]
    pushes = stats(finished_run / "run")[("PUSH", "image-push")]
    assert len(records) == int(pushes["Request Count"]) - int(pushes["Failure Count"]) > 0
    assert len({(record["repository"], record["tag"]) for record in records}) == len(records)
    assert all(set(record) == {"repository", "tag", "digest"} for record in records)


def test_locust_counts_equal_the_registry_access_log(logged_registry: LocalRegistry, finished_run: Path) -> None:
    """Per method: what the registry served to our client = what Locust counted + what seeding logged."""
    served = Counter(
        match.group(1)
        for match in map(ACCESS_LINE.search, logged_registry.log_path.read_text().splitlines())
        if match and TAG in match.group(2)  # every profile's User-Agent carries our mark
    )
    seeding = Counter(match.group(1) for match in SEEDING_LINE.finditer((finished_run / "locust.log").read_text()))
    counted = Counter()
    for (request_type, _), row in stats(finished_run / "run").items():
        if request_type in METHODS:
            counted[request_type] += int(row["Request Count"])
    assert seeding and counted["PATCH"] > 0
    assert served == counted + seeding, (served, counted, seeding)


def test_audit_verifies_every_pushed_image(logged_registry: LocalRegistry, finished_run: Path) -> None:
    pushed = len((finished_run / "pushed.jsonl").read_text().splitlines())
    result = audit(logged_registry.url, finished_run / "pushed.jsonl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f"{pushed}/{pushed} images verified"]


def test_audit_fails_on_wrong_bytes_and_bad_lines(logged_registry: LocalRegistry, finished_run: Path) -> None:
    log = finished_run / "tampered.jsonl"
    first = (finished_run / "pushed.jsonl").read_text().splitlines()[0]
    log.write_text(f"{first}\nnot json\n")

    def flip(path: str, data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 1]) if "/blobs/" in path and data else data

    with fault_proxy(logged_registry.url, alter=flip) as (url, _):
        result = audit(url, log)
    assert result.returncode == 1
    record = json.loads(first)
    assert result.stdout.splitlines() == [
        f"FAILED {record['repository']}:{record['tag']}@{record['digest']}: blob bytes do not match their digest",
        f"FAILED {log} line 2: not a pushed-image record",
        "0/2 images verified",
    ]
