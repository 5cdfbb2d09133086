"""Multi-platform fixtures: loaded with their index and every child, pushed whole, checked by skopeo."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_tasks.image import OCI_INDEX, Image, Platform
from registry_tasks.registry.client import RegistryClient
from registry_tasks.registry.workflows import pull_image, push_image
from registry_tasks.sources import FixtureError, load_docker_save, load_fixtures, load_oci_layout
from registry_tasks.tools.local_registry import LocalRegistry

from . import fixture_builders as fb
from .conftest import RunSkopeo
from .helpers import Recorder
from .test_sources import assert_truthful, blob_bytes

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
KINDS = ("layout", "docker25")
#: (repository, tag) each kind of fixture gets from its index.json entry
NAMES = {"layout": ("multi", "3.1"), "docker25": ("example/multi", "3.1")}

Drop = Callable[[fb.MultiPlatform], list[str]]


def write_multi(tmp_path: Path, kind: str, drop: Drop = lambda multi: []) -> tuple[Path, fb.MultiPlatform]:
    """The multi-platform fixture as an OCI layout directory or a Docker 25+ tar, without the blobs `drop` names."""
    if kind == "layout":
        multi = fb.multi_platform_layout()
        gone = {fb.blob_path(digest) for digest in drop(multi)}
        files = {name: data for name, data in multi.files.items() if name not in gone}
        return fb.write_dir(tmp_path / "multi", files), multi
    entries, multi = fb.multi_platform_docker_save()
    gone = {fb.blob_path(digest) for digest in drop(multi)}
    return fb.write_tar(tmp_path / "multi.tar", [entry for entry in entries if entry.name not in gone]), multi


def load(path: Path, platform: Platform) -> Image:
    return load_oci_layout(str(path), platform) if path.is_dir() else load_docker_save(str(path), platform)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- loading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("platform", [AMD64, ARM64, Platform("linux", "arm64", "v8")], ids=str)
def test_multi_platform_fixture_loads_with_its_index_and_every_child(
    tmp_path: Path, kind: str, platform: Platform
) -> None:
    path, multi = write_multi(tmp_path, kind)
    image = load(path, platform)
    own, other = (multi.amd64, multi.arm64) if platform.architecture == "amd64" else (multi.arm64, multi.amd64)
    assert image.manifest.digest == own.manifest["digest"]
    assert [layer.digest for layer in image.layers] == own.layer_digests
    assert image.index is not None
    assert image.index.digest == multi.index_digest
    assert image.index.descriptor.media_type == OCI_INDEX
    assert blob_bytes(image.index) == multi.files[fb.blob_path(multi.index_digest)]
    assert [sibling.manifest.digest for sibling in image.siblings] == [
        other.manifest["digest"],
        multi.attestation.manifest["digest"],
    ]
    attestation = image.siblings[1]
    assert [layer.descriptor.media_type for layer in attestation.layers] == [fb.IN_TOTO]
    assert {(i.name, i.tag) for i in image.platform_images} == {NAMES[kind]}
    assert image.tagged is image.index
    assert_truthful(image)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "drop",
    [
        lambda m: [m.arm64.manifest["digest"]],
        lambda m: [m.attestation.manifest["digest"]],
        lambda m: [m.arm64.config_digest, *m.arm64.layer_digests],
    ],
    ids=["arm64-manifest", "attestation-manifest", "arm64-blobs"],
)
def test_fixture_missing_a_child_is_narrowed_to_the_platform(tmp_path: Path, kind: str, drop: Drop) -> None:
    """containerd-store `docker save` may keep only its own platform: a registry would refuse that index."""
    path, multi = write_multi(tmp_path, kind, drop)
    image = load(path, AMD64)
    assert (image.index, image.siblings) == (None, ())
    assert image.manifest.digest == multi.amd64.manifest["digest"]
    assert (image.name, image.tag) == NAMES[kind]
    assert_truthful(image)


def test_child_missing_for_the_wanted_platform_is_refused(tmp_path: Path) -> None:
    path, multi = write_multi(tmp_path, "layout", lambda m: [m.arm64.manifest["digest"]])
    with pytest.raises(FixtureError, match=re.escape(fb.blob_path(multi.arm64.manifest["digest"])) + ": missing"):
        load(path, ARM64)


def test_index_of_indexes_is_refused_when_pushed_whole(tmp_path: Path) -> None:
    layout = fb.Layout()
    amd64 = layout.image([fb.layer_tar({"arch": b"amd64\n"})], "amd64")
    inner = layout.index([{**amd64.manifest, "platform": {"architecture": "amd64", "os": "linux"}}])
    outer = layout.index([{**inner, "platform": {"architecture": "amd64", "os": "linux"}}])
    path = fb.write_dir(tmp_path / "nested", layout.files([outer]))
    pattern = re.escape(str(path / fb.blob_path(outer["digest"]))) + r" manifests\[0\]: nested indexes"
    with pytest.raises(FixtureError, match=pattern + " inside a multi-platform index are not supported"):
        load(path, AMD64)


def test_duplicate_names_rename_the_siblings_too(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    for name in ("a", "b"):
        fb.write_dir(fixtures / name, fb.multi_platform_layout().files)
    first, second = load_fixtures(str(fixtures), AMD64)
    assert {image.name for image in first.platform_images} == {"multi"}
    assert {image.name for image in second.platform_images} == {"multi-2"}


# --- pushing whole -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_multi_platform_fixture_is_pushed_whole(
    registry: LocalRegistry,
    client: RegistryClient,
    recorder: Recorder,
    run_skopeo: RunSkopeo,
    tmp_path: Path,
    kind: str,
) -> None:
    path, multi = write_multi(tmp_path, kind)
    image = load(path, AMD64)
    assert image.index is not None
    repository = f"multi/{kind}"
    push_image(client, repository, image.tag, image, "chunked", 1 << 20, 5)
    assert recorder.failures() == []
    puts = [event["context"]["reference"] for event in recorder.named("manifest-put")]
    assert puts == [*(i.manifest.digest for i in image.platform_images), image.tag]

    target = f"docker://{registry.host_port}/{repository}:{image.tag}"
    raw = run_skopeo("inspect", "--raw", "--tls-verify=false", target).stdout.encode()
    assert sha256(raw) == image.index.digest
    # skopeo verifies every digest it reads; --preserve-digests keeps it from gzipping our tar layers
    run_skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", target, f"oci:{tmp_path}/out")
    (copied,) = json.loads((tmp_path / "out" / "index.json").read_bytes())["manifests"]
    assert copied["digest"] == image.index.digest
    stored = {child.name for child in (tmp_path / "out" / "blobs" / "sha256").iterdir()}
    every_blob = [i.manifest for i in image.platform_images] + [b for i in image.platform_images for b in i.blobs]
    assert {blob.digest.partition(":")[2] for blob in every_blob} <= stored

    recorder.events.clear()
    pull_image(client, repository, image.tag, ARM64, 3)
    assert recorder.failures() == []
    references = [event["context"]["reference"] for event in recorder.named("manifest-get")]
    assert references == [image.tag, multi.arm64.manifest["digest"]]
    blobs = {event["context"]["digest"] for event in recorder.named("blob-get")}
    assert blobs == {multi.arm64.config_digest, *multi.arm64.layer_digests}
