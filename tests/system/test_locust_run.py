"""Headless `locust` runs as a user would start them, against the real registry, bounded in time."""

from __future__ import annotations

import csv
import json
import os
import urllib.request
from pathlib import Path

from registry_tasks.tools.local_registry import LocalRegistry

from ..support import fixture_builders as fb
from ..support.helpers import ALL_ENTRIES, RunSkopeo, locust_command, run_locust, seeded_run, stats


def test_all_tasks_run_without_failures(registry: LocalRegistry, tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    result = run_locust(
        tmp_path,
        "-H", registry.url,
        "-u", "8", "-r", "8", "-t", "10s",
        "--synthetic-images", "2x300KiB",
        "--chunk-size", "128KiB",
        "--unique-layers",
        "--repository-prefix", "headless/all",
        "--csv", str(prefix),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    table = stats(prefix)
    assert set(table) >= ALL_ENTRIES, f"missing entries: {ALL_ENTRIES - set(table)}"
    for key in ALL_ENTRIES:
        assert int(table[key]["Request Count"]) > 0, key
        assert table[key]["Failure Count"] == "0", (key, result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    chunks = table[("PATCH", "upload-chunk")]
    assert float(chunks["Average Content Size"]) > 50_000  # bytes sent, not the empty 202 body


def test_tags_select_one_operation(registry: LocalRegistry, tmp_path: Path) -> None:
    prefix = tmp_path / "tagged"
    result = run_locust(
        tmp_path,
        "-H", registry.url,
        "-u", "4", "-r", "4", "-t", "4s",
        "--tags", "manifest-get",
        "--repository-prefix", "headless/tags",
        "--csv", str(prefix),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(stats(prefix)) == {("GET", "manifest-get")}
    assert "No tasks defined" not in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_fixture_stops_before_any_load(registry: LocalRegistry, tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "broken.tar").write_bytes(b"this is not a tar archive" * 40)
    result = run_locust(tmp_path, "-H", registry.url, "-u", "1", "-t", "3s", "--fixtures-dir", str(fixtures))
    assert result.returncode != 0
    assert "broken.tar" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in fixtures.iterdir()) == ["broken.tar"]


def test_bad_scenario_stops_with_the_key(registry: LocalRegistry, tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("chunk-size: -1\n")
    result = run_locust(tmp_path, "-H", registry.url, "-u", "1", "-t", "3s", "--scenario", str(scenario))
    assert result.returncode != 0
    assert f"scenario {scenario}: key 'chunk-size': -1 must be more than 0 bytes" in result.stderr
    assert "Traceback" not in result.stderr


def test_docker_archive_made_by_skopeo_is_pushed_and_copied_back(
    registry: LocalRegistry, tmp_path: Path, run_skopeo: RunSkopeo
) -> None:
    """A real tool's `docker save`-format tarball in --fixtures-dir: seeded, pushed, and copied back out."""
    files, _ = fb.oci_layout(layers=[fb.layer_tar({"app/bin": b"\x7fELF" * 20_000}), fb.layer_tar({"etc/x": b"1"})])
    layout = fb.write_dir(tmp_path / "layout", files)
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    run_skopeo("copy", f"oci:{layout}:latest", f"docker-archive:{fixtures / 'app.tar'}:example/app:1.0")
    prefix = tmp_path / "archive"
    result = run_locust(
        tmp_path,
        "-H", registry.url,
        "-u", "2", "-r", "2", "-t", "4s",
        "--tags", "image-push", "image-pull",
        "--fixtures-dir", str(fixtures),
        "--repository-prefix", "headless/archive",
        "--csv", str(prefix),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    table = stats(prefix)
    assert int(table[("PUSH", "image-push")]["Request Count"]) > 0
    assert int(table[("PULL", "image-pull")]["Request Count"]) > 0
    catalog = json.loads(urllib.request.urlopen(f"{registry.url}/v2/_catalog?n=1000").read())["repositories"]
    pushed = [name for name in catalog if name.startswith("headless/archive/push-")]
    assert pushed and "headless/archive/example/app" in catalog
    for number, repository in enumerate(["headless/archive/example/app", pushed[0]]):
        source = f"docker://{registry.host_port}/{repository}:1.0"
        run_skopeo("copy", "--src-tls-verify=false", source, f"dir:{tmp_path / f'out{number}'}")


def test_pull_only_targets_write_nothing(fresh_registry: LocalRegistry, tmp_path: Path, run_skopeo: RunSkopeo) -> None:
    files, _ = fb.oci_layout(layers=[fb.layer_tar({"bin/app": b"\x01" * 50_000})])
    layout = fb.write_dir(tmp_path / "layout", files)
    run_skopeo(
        "copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{fresh_registry.host_port}/ro/app:7"
    )
    catalog_url = f"{fresh_registry.url}/v2/_catalog"
    before = json.loads(urllib.request.urlopen(catalog_url).read())
    prefix = tmp_path / "readonly"
    result = run_locust(
        tmp_path,
        "-H", fresh_registry.url,
        "-u", "3", "-r", "3", "-t", "4s",
        "--pull-image", "ro/app:7",
        "--tags", "manifest-get", "blob-get", "image-pull",
        "--csv", str(prefix),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    table = stats(prefix)
    # image-pull as docker (the default profile) does it: ping, HEAD the tag, GET the manifest by digest, blobs
    assert {key[1] for key in table} == {"ping", "manifest-head", "manifest-get", "blob-get", "image-pull"}
    assert all(int(row["Request Count"]) > 0 and row["Failure Count"] == "0" for row in table.values())
    assert json.loads(urllib.request.urlopen(catalog_url).read()) == before == {"repositories": ["ro/app"]}


def test_a_fault_of_ours_is_a_locust_exception_not_a_registry_failure(
    fresh_registry: LocalRegistry, tmp_path: Path
) -> None:
    """A fixture's tarball cut once seeding has pushed it (a local fault in our hands, as a bug of ours would be):
    every image-push then fails in our own code, sending the layer. Locust shows that under Exceptions with its
    traceback; the registry's failures stay at 0, and no failure message speaks of it."""
    save = fb.legacy_docker_save(layers=[fb.layer_tar({"bin/app": os.urandom(300_000)})])
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    archive = fb.write_tar(fixtures / "app.tar", save.entries)
    command = locust_command(
        "-H", fresh_registry.url,
        "-u", "2", "-r", "2", "-t", "5s",
        "--tags", "image-push",
        "--client-profile", "minimal",  # no HEAD, no mount: every push sends every blob from the file
        "--fixtures-dir", str(fixtures),
        "--repository-prefix", "headless/cut",
        "--csv", str(tmp_path / "run"),
    )  # fmt: skip
    with seeded_run(command, tmp_path) as (process, log):
        os.truncate(archive, fb.member_offset(archive, save.layer_names[0]))
        assert process.wait(timeout=60) == 1, log.read_text()[-3000:]  # 1: Locust counted exceptions
    text = log.read_text()
    assert "ImageError: file ended before the bytes to send (truncated?)" in text  # the traceback, in the log
    exceptions = list(csv.DictReader((tmp_path / "run_exceptions.csv").read_text().splitlines()))
    assert exceptions and all("file ended before the bytes to send" in row["Message"] for row in exceptions)
    assert all("image_push" in row["Traceback"] and "_sendfile" in row["Traceback"] for row in exceptions)
    assert (tmp_path / "run_failures.csv").read_text().splitlines()[1:] == []  # nothing counted on the registry
    assert all(row["Failure Count"] == "0" for row in stats(tmp_path / "run").values())
