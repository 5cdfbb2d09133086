"""Fixture sources: docker-save tarballs (legacy, Docker 25+), OCI layouts, synthetic images, fixtures directories,
and hostile or broken input (the table in tests/support/broken_fixtures.py). With skopeo and in other processes:
tests/system/test_sources.py."""

from __future__ import annotations

import io
import json
import random
import re
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from registry_tasks.image import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    FileSegment,
    Platform,
    SyntheticSegment,
)
from registry_tasks.sources import (
    BUILTIN_SPEC,
    FixtureError,
    load_docker_save,
    load_fixtures,
    load_oci_layout,
    synthetic_image,
)

from ..support import fixture_builders as fb
from ..support.broken_fixtures import BROKEN, LEGACY, Broken, hexof
from ..support.helpers import snapshot
from ..support.images import assert_truthful, blob_bytes

AMD64 = Platform("linux", "amd64")


# --- docker save -------------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_legacy_docker_save_resolves_duplicate_layer_links(tmp_path: Path, link: str) -> None:
    save = fb.legacy_docker_save(link=link)
    path = fb.write_tar(tmp_path / "app.tar", save.entries)
    image = load_docker_save(str(path), AMD64)
    assert (image.name, image.tag) == ("example/app", "1.0")
    assert image.manifest.descriptor.media_type == DOCKER_MANIFEST
    assert image.config.descriptor.media_type == DOCKER_CONFIG
    assert image.config.digest == save.config_digest
    assert [layer.digest for layer in image.layers] == save.layer_digests == save.diff_ids
    assert {layer.descriptor.media_type for layer in image.layers} == {DOCKER_LAYER_TAR}
    assert image.layers[2].body == image.layers[0].body
    assert_truthful(image)


def test_legacy_docker_save_is_read_in_place(tmp_path: Path) -> None:
    path = fb.write_tar(tmp_path / "app.tar", fb.legacy_docker_save().entries)
    image = load_docker_save(str(path), AMD64)
    for blob in (image.config, *image.layers):
        (segment,) = blob.body.segments
        assert isinstance(segment, FileSegment) and segment.path == str(path)


def test_legacy_gzip_layer_is_typed_gzip_and_raw_layers_tar(tmp_path: Path) -> None:
    save = fb.legacy_docker_save(gzip_layers=[1])
    path = fb.write_tar(tmp_path / "app.tar", save.entries)
    image = load_docker_save(str(path), AMD64)
    types = [layer.descriptor.media_type for layer in image.layers]
    assert types == [DOCKER_LAYER_TAR, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR]
    assert [layer.digest for layer in image.layers] == save.layer_digests
    assert image.layers[1].digest != save.diff_ids[1]
    assert_truthful(image)


@pytest.mark.parametrize(
    ("file_name", "repo_tags", "name", "tag"),
    [
        ("My_Image.v2.tar", (), "my_image.v2", "latest"),
        ("x.tar", ("localhost:5000/Team/App:v1",), "team/app", "v1"),
        ("x.tar", ("docker.io/library/busybox:1.36",), "busybox", "1.36"),
        ("x.tar", ("weird name!!/Thing:latest",), "weird-name/thing", "latest"),
        ("x.tar", ("example/app",), "example/app", "latest"),
    ],
)
def test_legacy_image_name_and_tag(
    tmp_path: Path, file_name: str, repo_tags: tuple[str, ...], name: str, tag: str
) -> None:
    path = fb.write_tar(tmp_path / file_name, fb.legacy_docker_save(repo_tags=repo_tags).entries)
    image = load_docker_save(str(path), AMD64)
    assert (image.name, image.tag) == (name, tag)


def test_docker25_save_is_read_as_an_oci_layout(tmp_path: Path) -> None:
    entries, built = fb.docker25_save()
    path = fb.write_tar(tmp_path / "app25.tar", entries)
    image = load_docker_save(str(path), AMD64)
    assert (image.name, image.tag) == ("example/app", "2.0")
    assert image.manifest.digest == built.manifest["digest"]
    assert image.manifest.descriptor.media_type == OCI_MANIFEST
    assert image.config.digest == built.config_digest
    assert [layer.digest for layer in image.layers] == built.layer_digests == built.diff_ids
    assert {layer.descriptor.media_type for layer in image.layers} == {OCI_LAYER_TAR}
    assert_truthful(image)


# --- OCI layouts -------------------------------------------------------------------------------


def test_oci_layout_directory(tmp_path: Path) -> None:
    files, built = fb.oci_layout()
    path = fb.write_dir(tmp_path / "My-Layout", files)
    image = load_oci_layout(str(path), AMD64)
    assert (image.name, image.tag) == ("my-layout", "latest")
    assert image.manifest.digest == built.manifest["digest"]
    assert blob_bytes(image.manifest) == files[f"blobs/sha256/{hexof(built.manifest['digest'])}"]
    assert image.config.descriptor.media_type == OCI_CONFIG
    assert [layer.digest for layer in image.layers] == built.layer_digests
    assert_truthful(image)


def test_oci_layout_keeps_gzip_layers_as_described(tmp_path: Path) -> None:
    layout = fb.Layout()
    built = layout.image(gzip_layers=[0])
    path = fb.write_dir(tmp_path / "layout", layout.files([built.manifest]))
    image = load_oci_layout(str(path), AMD64)
    assert [layer.digest for layer in image.layers] == built.layer_digests
    assert image.layers[0].descriptor.media_type == fb.OCI_LAYER_GZIP
    assert_truthful(image)


@pytest.mark.parametrize(
    ("platform", "expected"),
    [("linux/amd64", "amd64"), ("linux/arm64", "arm64"), ("linux/arm64/v8", "arm64")],
)
def test_multi_platform_layout_picks_the_platform(tmp_path: Path, platform: str, expected: str) -> None:
    multi = fb.multi_platform_layout()
    path = fb.write_dir(tmp_path / "multi", multi.files)
    image = load_oci_layout(str(path), Platform.parse(platform))
    built = multi.amd64 if expected == "amd64" else multi.arm64
    assert image.manifest.digest == built.manifest["digest"]
    assert [layer.digest for layer in image.layers] == built.layer_digests
    assert json.loads(blob_bytes(image.config))["architecture"] == expected
    assert (image.name, image.tag) == ("multi", "3.1")
    assert image.index is not None and image.index.digest == multi.index_digest  # pushed whole
    assert_truthful(image)


# --- synthetic images --------------------------------------------------------------------------


def test_synthetic_layers_are_single_file_tars() -> None:
    image = synthetic_image("2x3KiB,1x1000B", seed=5)
    assert (image.name, image.tag) == ("synthetic-2x3kib-1x1000b", "latest")
    assert image.manifest.descriptor.media_type == OCI_MANIFEST
    assert image.config.descriptor.media_type == OCI_CONFIG
    config = json.loads(blob_bytes(image.config))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer.digest for layer in image.layers]}
    assert (config["architecture"], config["os"], config["config"]) == ("amd64", "linux", {})
    for i, (layer, size) in enumerate(zip(image.layers, [3072, 3072, 1000], strict=True)):
        assert layer.descriptor.media_type == OCI_LAYER_TAR
        with tarfile.open(fileobj=io.BytesIO(blob_bytes(layer))) as archive:
            (member,) = archive.getmembers()
            assert (member.name, member.size, member.mtime, member.mode) == (f"layer-{i}/data", size, 0, 0o644)
            content = archive.extractfile(member)
            assert content is not None
            expected = SyntheticSegment(5, i, size)
            assert content.read() == b"".join(bytes(c) for c in expected.read(0, size, bytearray(1 << 16)))
    assert_truthful(image)


@pytest.mark.parametrize(
    ("spec", "sizes", "normalized"),
    [
        ("1B", [1], "1x1b"),
        ("2KB", [2000], "1x2kb"),
        ("3x1kib", [1024] * 3, "3x1kib"),
        ("1 x 1MB", [10**6], "1x1mb"),
        ("1x1MiB, 2X2b", [1 << 20, 2, 2], "1x1mib-2x2b"),
    ],
)
def test_synthetic_spec_units(spec: str, sizes: list[int], normalized: str) -> None:
    image = synthetic_image(spec, name="Load Test")
    assert [layer.body.segments[1].size for layer in image.layers] == sizes
    assert image.name == f"load-test-{normalized}"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "is not"),
        ("3x", "unknown unit 'x'"),
        ("x10MiB", "is not"),
        ("10", "needs a unit"),
        ("10XB", "unknown unit 'XB'"),
        ("1.5MiB", "is not"),
        ("0x1MiB", "at least 1"),
        ("1x0B", "at least 1"),
        ("1MiB,,2MiB", "is not"),
        ("-1MiB", "is not"),
        ("1x10GiB", "ustar"),
    ],
)
def test_bad_synthetic_spec(spec: str, problem: str) -> None:
    with pytest.raises(FixtureError, match=re.escape(f"synthetic spec {spec!r}") + ".*" + problem):
        synthetic_image(spec)


# --- fixtures directory ------------------------------------------------------------------------


def test_no_fixtures_directory_means_the_builtin_image() -> None:
    (image,) = load_fixtures(None, AMD64, seed=3)
    assert image.name == "builtin-2x1mib-1x256kib"
    assert image.manifest.digest == synthetic_image(BUILTIN_SPEC, 3).manifest.digest


def test_empty_fixtures_directory_means_the_builtin_image(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("drop fixtures here\n")
    (tmp_path / "not-a-layout").mkdir()
    assert [image.name for image in load_fixtures(str(tmp_path), AMD64)] == ["builtin-2x1mib-1x256kib"]


def test_fixtures_directory_loads_every_fixture_sorted(tmp_path: Path) -> None:
    files, _ = fb.oci_layout()
    fb.write_dir(tmp_path / "a-layout", files)
    fb.write_tar(tmp_path / "b-legacy.tar", fb.legacy_docker_save(repo_tags=("legacy/app:1",)).entries)
    fb.write_tar(tmp_path / "c-25.tar", fb.docker25_save(reference="docker.io/new/app:2")[0])
    (tmp_path / "README.md").write_text("notes\n")
    (tmp_path / "notes.txt").write_text("notes\n")
    images = load_fixtures(str(tmp_path), AMD64)
    assert [(image.name, image.tag) for image in images] == [
        ("a-layout", "latest"),
        ("legacy/app", "1"),
        ("new/app", "2"),
    ]


def test_duplicate_fixture_names_get_a_suffix(tmp_path: Path) -> None:
    for name in ("one.tar", "two.tar", "three.tar"):
        fb.write_tar(tmp_path / name, fb.legacy_docker_save().entries)
    assert [image.name for image in load_fixtures(str(tmp_path), AMD64)] == [
        "example/app",
        "example/app-2",
        "example/app-3",
    ]


# --- hostile and broken input ------------------------------------------------------------------


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_broken_fixture_is_refused_with_one_clear_message(tmp_path: Path, case: Broken) -> None:
    target = case.build(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(FixtureError, match=re.escape(str(target)) + ".*" + case.pattern) as caught:
        case.load(target)
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert snapshot(tmp_path) == before


def test_corrupted_tarballs_load_or_raise_fixture_error(tmp_path: Path) -> None:
    """Random byte flips and cuts: every outcome is a loaded image whose every digest verifies, or a FixtureError of
    one line naming the file, never a tarfile traceback; and each base meets both outcomes (else a change that
    refused everything, or loaded anything, would pass unseen)."""
    rng = random.Random(1)
    bases = {
        "legacy": fb.write_tar(tmp_path / "base.tar", LEGACY.entries).read_bytes(),
        "docker25": fb.write_tar(tmp_path / "base25.tar", fb.docker25_save()[0]).read_bytes(),
        "multi25": fb.write_tar(tmp_path / "multi25.tar", fb.multi_platform_docker_save()[0]).read_bytes(),
    }
    target = tmp_path / "mutant.tar"
    outcomes: dict[str, Counter[str]] = {kind: Counter() for kind in bases}
    for kind, base in bases.items():
        for _ in range(150):
            data = bytearray(base)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            target.write_bytes(data[: rng.randrange(len(data))] if rng.random() < 0.2 else data)
            try:
                image = load_docker_save(str(target), AMD64)
            except FixtureError as exc:
                assert str(target) in str(exc) and "\n" not in str(exc), str(exc)
                outcomes[kind]["refused"] += 1
                continue
            assert_truthful(image)  # outside the try: a FixtureError from reading it back is not a refusal
            outcomes[kind]["loaded"] += 1
    for kind, counted in outcomes.items():
        # with seed 1, 10 (legacy), 1 (docker25) and 12 (multi25) of the 150 load
        assert counted["loaded"] > 0 and counted["refused"] > 0, (kind, counted)
        assert counted["loaded"] + counted["refused"] == 150
