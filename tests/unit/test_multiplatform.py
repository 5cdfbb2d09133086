"""Multi-platform fixtures: loaded with their index and every child, or narrowed to the platform when a child is
missing. Pushed whole and checked by skopeo: tests/system/test_multiplatform.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_tasks.image import OCI_INDEX, Platform
from registry_tasks.sources import FixtureError, load_fixtures

from ..support import fixture_builders as fb
from ..support.images import assert_truthful, blob_bytes, load_fixture

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
#: (repository, tag) each kind of fixture gets from its index.json entry
NAMES = {"layout": ("multi", "3.1"), "docker25": ("example/multi", "3.1")}

Drop = Callable[[fb.MultiPlatform], list[str]]


# --- loading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", fb.MULTI_PLATFORM_KINDS)
@pytest.mark.parametrize("platform", [AMD64, ARM64, Platform("linux", "arm64", "v8")], ids=str)
def test_multi_platform_fixture_loads_with_its_index_and_every_child(
    tmp_path: Path, kind: str, platform: Platform
) -> None:
    path, multi = fb.write_multi_platform(tmp_path, kind)
    image = load_fixture(path, platform)
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


@pytest.mark.parametrize("kind", fb.MULTI_PLATFORM_KINDS)
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
    path, multi = fb.write_multi_platform(tmp_path, kind, drop)
    image = load_fixture(path, AMD64)
    assert (image.index, image.siblings) == (None, ())
    assert image.manifest.digest == multi.amd64.manifest["digest"]
    assert (image.name, image.tag) == NAMES[kind]
    assert_truthful(image)


def test_child_missing_for_the_wanted_platform_is_refused(tmp_path: Path) -> None:
    path, multi = fb.write_multi_platform(tmp_path, "layout", lambda m: [m.arm64.manifest["digest"]])
    with pytest.raises(FixtureError, match=re.escape(fb.blob_path(multi.arm64.manifest["digest"])) + ": missing"):
        load_fixture(path, ARM64)


def test_index_of_indexes_is_refused_when_pushed_whole(tmp_path: Path) -> None:
    layout = fb.Layout()
    amd64 = layout.image([fb.layer_tar({"arch": b"amd64\n"})], "amd64")
    inner = layout.index([{**amd64.manifest, "platform": {"architecture": "amd64", "os": "linux"}}])
    outer = layout.index([{**inner, "platform": {"architecture": "amd64", "os": "linux"}}])
    path = fb.write_dir(tmp_path / "nested", layout.files([outer]))
    pattern = re.escape(str(path / fb.blob_path(outer["digest"]))) + r" manifests\[0\]: nested indexes"
    with pytest.raises(FixtureError, match=pattern + " inside a multi-platform index are not supported"):
        load_fixture(path, AMD64)


def test_duplicate_names_rename_the_siblings_too(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    for name in ("a", "b"):
        fb.write_dir(fixtures / name, fb.multi_platform_layout().files)
    first, second = load_fixtures(str(fixtures), AMD64)
    assert {image.name for image in first.platform_images} == {"multi"}
    assert {image.name for image in second.platform_images} == {"multi-2"}
