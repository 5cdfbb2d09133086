"""--cleanup: the images a run pushed are deleted at test stop; a registry refusing deletes says so once. What the
ledger keeps: tests/unit/test_registry_cleanup.py."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

import pytest

from registry_tasks.registry.cleanup import count_only_deletes, delete_pushed
from registry_tasks.registry.client import RegistryClient
from registry_tasks.registry.workflows import push_image
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry, start_registry

from ..support.helpers import Recorder, run_locust


def test_run_deletes_what_it_pushed(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    result = run_locust(
        tmp_path,
        "-H", fresh_registry.url, "-u", "2", "-r", "2", "-t", "3s", "--tags", "image-push",
        "--synthetic-images", "1x100KiB", "--repository-prefix", "clean/run", "--cleanup",
        "--summary-file", str(summary),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    entries = {entry["name"]: entry for entry in json.loads(summary.read_text())["entries"]}
    pushes = entries["image-push"]["requests"]
    assert pushes > 0 and entries["manifest-delete"]["requests"] == pushes
    assert entries["manifest-delete"]["failures"] == 0
    assert f"--cleanup: deleted {pushes} of {pushes} pushed manifests" in result.stderr
    catalog = json.loads(urllib.request.urlopen(f"{fresh_registry.url}/v2/_catalog?n=1000").read())["repositories"]
    pushed = [name for name in catalog if name.startswith("clean/run/push-")]
    assert len(pushed) == pushes
    for repository in pushed:
        assert json.loads(urllib.request.urlopen(f"{fresh_registry.url}/v2/{repository}/tags/list").read())["tags"] in (
            None,
            [],
        )
    seeded = json.loads(
        urllib.request.urlopen(f"{fresh_registry.url}/v2/clean/run/synthetic-1x100kib/tags/list").read()
    )
    assert seeded["tags"] == ["latest"]  # the shared seed stays


def test_registry_refusing_deletes_fails_one_delete_and_says_why(
    registry_binary: str, caplog: pytest.LogCaptureFixture
) -> None:
    image = synthetic_image("1x10KiB", 3)
    with start_registry(binary=registry_binary, extra_config={"storage": {"delete": {"enabled": False}}}) as registry:
        pusher = RegistryClient(registry.url, Recorder())
        pushed = [(f"refuse/push-{number}", image.tag) for number in range(3)]
        for repository, tag in pushed:
            push_image(pusher, repository, tag, image, "monolithic", 1 << 20, 2)
        recorder = Recorder()
        client = RegistryClient(registry.url, count_only_deletes(recorder))
        with caplog.at_level(logging.WARNING, logger="registry_tasks.registry.cleanup"):
            assert delete_pushed(client, pushed, parallel=3) == 0
        assert all(pusher.head_manifest(repository, tag) for repository, tag in pushed)  # all still there
    assert [(event["name"], str(event["exception"])[:3]) for event in recorder.events] == [("manifest-delete", "405")]
    assert len(caplog.records) == 1
    assert "the registry refuses deletes (405 UNSUPPORTED" in caplog.records[0].message
    assert "3 of 3 pushed manifests are left" in caplog.records[0].message
