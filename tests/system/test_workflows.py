"""Whole-image pull and push against a real registry, checked by an independent client (skopeo). Against an old
registry played by an in-test server: tests/unit/test_registry_workflows.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from registry_tasks.image import Image, Platform, UniqueImageTemplate
from registry_tasks.registry.client import RegistryClient
from registry_tasks.registry.workflows import pull_image, push_image
from registry_tasks.sources import load_docker_save, load_oci_layout, synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry

from ..support import fixture_builders as fb
from ..support.helpers import Recorder, RunSkopeo

AMD64 = Platform("linux", "amd64")


def skopeo_copy_out(run_skopeo: RunSkopeo, registry: LocalRegistry, reference: str, target: Path) -> dict[str, object]:
    """Copy an image out with skopeo (which verifies every digest) and return the manifest it saw."""
    source = f"docker://{registry.host_port}/{reference}"
    run_skopeo("copy", "--src-tls-verify=false", source, f"dir:{target}")
    return json.loads((target / "manifest.json").read_bytes())


def fixture_images(tmp_path: Path) -> dict[str, Image]:
    """One image of each fixture format, built with the test builders."""
    legacy = fb.legacy_docker_save()
    legacy_tar = fb.write_tar(tmp_path / "legacy.tar", legacy.entries)
    entries, _ = fb.docker25_save()
    docker25_tar = fb.write_tar(tmp_path / "docker25.tar", entries)
    files, _ = fb.oci_layout()
    layout = fb.write_dir(tmp_path / "layout", files)
    return {
        "legacy": load_docker_save(str(legacy_tar), AMD64),
        "docker25": load_docker_save(str(docker25_tar), AMD64),
        "layout": load_oci_layout(str(layout), AMD64),
        "synthetic": synthetic_image("2x300KiB,1x1KiB", seed=3),
    }


@pytest.mark.parametrize("kind", ["legacy", "docker25", "layout", "synthetic"])
@pytest.mark.parametrize("mode", ["chunked", "stream", "monolithic"])
def test_pushed_image_is_copied_out_by_skopeo(
    registry: LocalRegistry,
    client: RegistryClient,
    recorder: Recorder,
    run_skopeo: RunSkopeo,
    tmp_path: Path,
    kind: str,
    mode: str,
) -> None:
    image = fixture_images(tmp_path)[kind]
    repository = f"roundtrip/{kind}-{mode}"
    pushed = push_image(client, repository, "v1", image, mode, 64 << 10, parallel=5)
    assert pushed >= image.manifest.size
    assert recorder.failures() == []
    assert recorder.named("image-push")[0]["response_length"] == pushed
    manifest = skopeo_copy_out(run_skopeo, registry, f"{repository}:v1", tmp_path / "out")
    raw = (tmp_path / "out" / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == image.manifest.digest
    layer_types = [layer["mediaType"] for layer in manifest["layers"]]  # type: ignore[index]
    assert layer_types == [layer.descriptor.media_type for layer in image.layers]


def test_unique_layers_make_new_valid_images(
    registry: LocalRegistry, client: RegistryClient, recorder: Recorder, run_skopeo: RunSkopeo, tmp_path: Path
) -> None:
    template = UniqueImageTemplate.of(fixture_images(tmp_path)["legacy"])
    first, second = template.make("run1-w0-u0-0"), template.make("run1-w0-u0-1")
    assert {layer.digest for layer in first.layers}.isdisjoint(layer.digest for layer in second.layers)
    for number, image in enumerate((first, second)):
        push_image(client, f"unique/legacy-{number}", "v1", image, "chunked", 1 << 20, parallel=5)
        skopeo_copy_out(run_skopeo, registry, f"unique/legacy-{number}:v1", tmp_path / f"out{number}")
    uploads = [event["response_length"] for event in recorder.named("upload-chunk")]
    assert sum(uploads) == sum(blob.size for blob in first.blobs) + sum(blob.size for blob in second.blobs)
    assert recorder.failures() == []


def test_image_pushed_by_skopeo_is_pulled_and_verified(
    registry: LocalRegistry, client: RegistryClient, recorder: Recorder, run_skopeo: RunSkopeo, tmp_path: Path
) -> None:
    files, _ = fb.oci_layout(layers=[fb.layer_tar({"a": b"x" * 70_000}), fb.layer_tar({"b": b"y" * 5})])
    layout = fb.write_dir(tmp_path / "layout", files)
    target = f"docker://{registry.host_port}/by-skopeo/app:1"
    run_skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", target)  # skopeo gzips the layers
    manifest = json.loads(run_skopeo("inspect", "--raw", "--tls-verify=false", target).stdout)
    pulled = pull_image(client, "by-skopeo/app", "1", AMD64, parallel=3)
    assert recorder.failures() == []
    blob_gets = recorder.named("blob-get")
    expected = {manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}
    assert {event["context"]["digest"] for event in blob_gets} == expected
    assert pulled == sum(event["response_length"] for event in recorder.events if event["name"] != "image-pull")


def test_index_pulls_the_platform_child(
    registry: LocalRegistry, client: RegistryClient, recorder: Recorder, run_skopeo: RunSkopeo, tmp_path: Path
) -> None:
    layout = fb.write_dir(tmp_path / "multi", fb.multi_platform_layout().files)
    target = f"docker://{registry.host_port}/by-skopeo/multi:3.1"
    run_skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}", target)
    index = json.loads(run_skopeo("inspect", "--raw", "--tls-verify=false", target).stdout)
    (arm64,) = [child for child in index["manifests"] if child["platform"]["architecture"] == "arm64"]
    child = f"{target}@{arm64['digest']}".replace(":3.1@", "@")
    manifest = json.loads(run_skopeo("inspect", "--raw", "--tls-verify=false", child).stdout)
    pull_image(client, "by-skopeo/multi", "3.1", Platform("linux", "arm64"), parallel=3)
    assert recorder.failures() == []
    references = [event["context"]["reference"] for event in recorder.named("manifest-get")]
    assert references == ["3.1", arm64["digest"]]
    blobs = {event["context"]["digest"] for event in recorder.named("blob-get")}
    assert blobs == {manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}
    assert len(index["manifests"]) == 3  # amd64, arm64 and the attestation, which a pull skips
