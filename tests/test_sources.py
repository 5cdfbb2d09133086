"""Fixture sources: docker-save tarballs (legacy, Docker 25+, skopeo), OCI layouts, synthetic images, hostile input."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from registry_tasks.image import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    DOCKER_MANIFEST,
    GZIP_LAYER_TYPES,
    OCI_CONFIG,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    Blob,
    FileSegment,
    Image,
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

from . import fixture_builders as fb

AMD64 = Platform("linux", "amd64")
REPO_ROOT = Path(__file__).resolve().parents[1]
SKOPEO = shutil.which("skopeo")


def hexof(digest: str) -> str:
    return digest.partition(":")[2]


def blob_bytes(blob: Blob) -> bytes:
    return b"".join(bytes(chunk) for chunk in blob.body.chunks())


def assert_truthful(image: Image) -> None:
    """Every descriptor matches the bytes we would send, and no raw tar is typed gzip (or vice versa)."""
    for sibling in image.siblings:
        assert_truthful(sibling)
    for blob in (image.manifest, image.config, *image.layers, *([image.index] if image.index else [])):
        data = blob_bytes(blob)
        assert "sha256:" + hashlib.sha256(data).hexdigest() == blob.digest
        assert len(data) == blob.size
    for layer in image.layers:
        assert (layer.descriptor.media_type in GZIP_LAYER_TYPES) == blob_bytes(layer).startswith(b"\x1f\x8b")
    manifest = json.loads(blob_bytes(image.manifest))
    assert manifest["config"]["digest"] == image.config.digest
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in image.layers]
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        layer.descriptor.media_type for layer in image.layers
    ]


def snapshot(root: Path) -> list[tuple[str, int, int, int]]:
    """Every path under root with its mode, size and mtime: proof that a load wrote nothing."""
    out = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            info = os.lstat(os.path.join(directory, name))
            out.append((os.path.join(directory, name), info.st_mode, info.st_size, info.st_mtime_ns))
    return sorted(out)


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


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
def test_skopeo_docker_archive_loads(tmp_path: Path) -> None:
    """A real tool's docker-archive (legacy layout, symlinked layers) of a layout with a gzip layer."""
    layout = fb.Layout()
    built = layout.image([*fb.SAMPLE_LAYERS, fb.SAMPLE_LAYERS[0]], gzip_layers=[1])
    built.manifest["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    source = fb.write_dir(tmp_path / "layout", layout.files([built.manifest]))
    archive = tmp_path / "x.tar"
    command = [
        str(SKOPEO),
        "--insecure-policy",
        "copy",
        "-q",
        f"oci:{source}:latest",
        f"docker-archive:{archive}:example/x:1",
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    image = load_docker_save(str(archive), AMD64)
    assert (image.name, image.tag) == ("example/x", "1")
    assert image.config.digest == built.config_digest
    by_type = {DOCKER_LAYER_TAR: built.diff_ids, DOCKER_LAYER_GZIP: built.layer_digests}
    for i, layer in enumerate(image.layers):
        assert layer.digest == by_type[layer.descriptor.media_type][i]
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


SYNTHETIC_DIGEST = (
    "from registry_tasks.sources import synthetic_image; print(synthetic_image({!r}, {}).manifest.digest)"
)


def synthetic_digest_in_subprocess(spec: str, seed: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONHASHSEED": "random"}
    code = SYNTHETIC_DIGEST.format(spec, seed)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_synthetic_image_is_identical_in_every_process() -> None:
    first = synthetic_digest_in_subprocess(BUILTIN_SPEC, 7)
    second = synthetic_digest_in_subprocess(BUILTIN_SPEC, 7)
    assert first == second == synthetic_image(BUILTIN_SPEC, 7).manifest.digest
    assert synthetic_image(BUILTIN_SPEC, 8).manifest.digest != first


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

LEGACY = fb.legacy_docker_save()
LAYER0, LAYER1, LINKED = LEGACY.layer_names
CONFIG = LEGACY.config_name
OCI = fb.oci_layout()[1]
OCI_LAYER0 = f"blobs/sha256/{hexof(OCI.layer_digests[0])}"
OCI_MANIFEST_BLOB = f"blobs/sha256/{hexof(OCI.manifest['digest'])}"
D25 = fb.docker25_save()[1]
D25_LAYER0 = f"blobs/sha256/{hexof(D25.layer_digests[0])}"


def load_by_kind(target: Path) -> object:
    if target.suffix == ".tar":
        return load_docker_save(str(target), AMD64)
    return load_oci_layout(str(target), AMD64)


@dataclass(frozen=True)
class Broken:
    """A broken fixture: how to build it (returns the path the message must name) and what the message says."""

    build: Callable[[Path], Path]
    pattern: str
    load: Callable[[Path], object] = load_by_kind


def legacy_tar(mutate: Callable[[list[fb.Entry]], list[fb.Entry]]) -> Callable[[Path], Path]:
    return lambda tmp: fb.write_tar(tmp / "broken.tar", mutate(list(LEGACY.entries)))


def with_member(name: str, data: bytes) -> Callable[[Path], Path]:
    return legacy_tar(lambda entries: fb.replace_entry(entries, name, data))


def with_link(link: fb.Entry) -> Callable[[Path], Path]:
    return legacy_tar(lambda entries: [link if entry.name == link.name else entry for entry in entries])


def with_manifest_json(document: Any) -> Callable[[Path], Path]:
    return with_member("manifest.json", json.dumps(document).encode())


def with_config(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    config = json.loads(next(entry.data for entry in LEGACY.entries if entry.name == CONFIG))
    edit(config)
    return with_member(CONFIG, json.dumps(config).encode())


def truncated_in(member: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = fb.write_tar(tmp / "broken.tar", LEGACY.entries)
        with open(path, "r+b") as file:
            file.truncate(fb.member_offset(path, member) + 100)
        return path

    return build


def raw_file(data: bytes, name: str = "broken.tar") -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return build


def flipped(data: bytes) -> bytes:
    return bytes([data[0] ^ 0xFF]) + data[1:]


def docker25_tar(mutate: Callable[[list[fb.Entry]], list[fb.Entry]]) -> Callable[[Path], Path]:
    entries, _ = fb.docker25_save()
    return lambda tmp: fb.write_tar(tmp / "broken.tar", mutate(entries))


def layout_dir(mutate: Callable[[dict[str, bytes]], None]) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        files, _ = fb.oci_layout()
        mutate(files)
        return fb.write_dir(tmp / "layout", files)

    return build


def edit_index(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, bytes]], None]:
    def mutate(files: dict[str, bytes]) -> None:
        index = json.loads(files["index.json"])
        edit(index["manifests"][0])
        files["index.json"] = json.dumps(index).encode()

    return mutate


def set_bytes(name: str, data: bytes) -> Callable[[dict[str, bytes]], None]:
    return lambda files: files.update({name: data})


def layout_of(**image_options: Any) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        layout = fb.Layout()
        built = layout.image(**image_options)
        return fb.write_dir(tmp / "layout", layout.files([built.manifest]))

    return build


def manifest_blob(data: bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        layout = fb.Layout()
        descriptor = layout.add(OCI_MANIFEST, data)
        return fb.write_dir(tmp / "layout", layout.files([descriptor]))

    return build


def blob_symlink_outside(tmp: Path) -> Path:
    files, _ = fb.oci_layout()
    path = fb.write_dir(tmp / "layout", files)
    (tmp / "outside").write_bytes(files[OCI_LAYER0])
    (path / OCI_LAYER0).unlink()
    (path / OCI_LAYER0).symlink_to(tmp / "outside")
    return path


def without(name: str) -> Callable[[dict[str, bytes]], None]:
    def mutate(files: dict[str, bytes]) -> None:
        del files[name]

    return mutate


def fixtures_dir_with(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        (tmp / "fixtures").mkdir()
        (tmp / "fixtures" / name).write_bytes(data)
        return tmp / "fixtures" / name

    return build


def multi_platform(tmp: Path) -> Path:
    return fb.write_dir(tmp / "multi", fb.multi_platform_layout().files)


def set_field(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.update({key: value})


def drop_field(key: str) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        del document[key]

    return edit


LEGACY_MANIFEST = {"Config": CONFIG, "RepoTags": ["example/app:1.0"], "Layers": LEGACY.layer_names}
A_TAR = fb.layer_tar({"a": b"a"})

BROKEN = {
    # tar members we will not read
    "dotdot-member": Broken(legacy_tar(lambda e: [*e, fb.Entry("../evil", b"x")]), r"member \.\./evil: .*'\.\.'"),
    "absolute-member": Broken(legacy_tar(lambda e: [*e, fb.Entry("/etc/evil", b"x")]), "member /etc/evil: absolute"),
    "symlink-escapes": Broken(
        with_link(fb.symlink(LINKED, "../../outside/layer.tar")), f"member {LINKED}: link to .* leaves the archive"
    ),
    "absolute-symlink": Broken(with_link(fb.symlink(LINKED, "/etc/passwd")), f"member {LINKED}: link .* leaves"),
    "hardlink-escapes": Broken(with_link(fb.hardlink(LINKED, "../outside")), f"member {LINKED}: link .* leaves"),
    "symlink-to-missing": Broken(
        with_link(fb.symlink(LINKED, "../nope/layer.tar")), f"member {LINKED}: link target nope/layer.tar is missing"
    ),
    "hardlink-to-missing": Broken(
        with_link(fb.hardlink(LINKED, "nope")), f"member {LINKED}: link target nope is missing"
    ),
    "symlink-loop": Broken(with_link(fb.symlink(LINKED, "layer.tar")), f"member {LINKED}: more than .* links deep"),
    "fifo": Broken(legacy_tar(lambda e: [*e, fb.Entry("dev/f", type=tarfile.FIFOTYPE)]), "member dev/f: fifo"),
    "char-device": Broken(
        legacy_tar(lambda e: [*e, fb.Entry("dev/c", type=tarfile.CHRTYPE)]), "member dev/c: character device"
    ),
    "block-device": Broken(legacy_tar(lambda e: [*e, fb.Entry("dev/b", type=tarfile.BLKTYPE)]), "member dev/b: block"),
    "duplicate-member": Broken(
        legacy_tar(lambda e: [*e, fb.Entry("manifest.json", b"[]")]), "member manifest.json: appears twice"
    ),
    "truncated-member-data": Broken(truncated_in(LAYER1), f"member {LAYER1}: data ends at byte .* \\(truncated\\?\\)"),
    "not-a-tar": Broken(raw_file(b"this is not a tar archive" * 40), "not a readable tar at its first member"),
    "gzipped-tar": Broken(raw_file(gzip.compress(b"\0" * 1024)), r"gzip-compressed; decompress it first \(gunzip\)"),
    # legacy manifest.json and config
    "no-manifest-json": Broken(
        legacy_tar(lambda e: [x for x in e if x.name != "manifest.json"]), "member manifest.json missing"
    ),
    "manifest-json-bad-json": Broken(with_member("manifest.json", b"[{oops"), "member manifest.json: not valid JSON"),
    "manifest-json-not-a-list": Broken(
        with_manifest_json({"Config": CONFIG}), "member manifest.json: .*non-empty list"
    ),
    "manifest-json-empty": Broken(with_manifest_json([]), "member manifest.json: .*non-empty list"),
    "manifest-json-no-config": Broken(
        with_manifest_json([{"Layers": []}]), r"member manifest.json: \[0\]\.Config missing"
    ),
    "manifest-json-no-layers": Broken(
        with_manifest_json([{"Config": CONFIG}]), r"member manifest.json: \[0\]\.Layers missing"
    ),
    "manifest-json-bad-layer": Broken(
        with_manifest_json([{"Config": CONFIG, "Layers": [7]}]), r"member manifest.json: \[0\]\.Layers\[0\]"
    ),
    "config-member-missing": Broken(
        with_manifest_json([{**LEGACY_MANIFEST, "Config": "gone.json"}]), "member gone.json: missing"
    ),
    "layer-member-missing": Broken(
        with_manifest_json([{**LEGACY_MANIFEST, "Layers": [LAYER0, "nope/layer.tar"]}]),
        "member nope/layer.tar: missing",
    ),
    "layer-member-escapes": Broken(
        with_manifest_json([{**LEGACY_MANIFEST, "Layers": ["../x/layer.tar"]}]), r"member \.\./x/layer.tar: .*'\.\.'"
    ),
    "layer-is-a-directory": Broken(
        with_manifest_json([{**LEGACY_MANIFEST, "Layers": [LAYER0.split("/")[0]]}]), "not a regular file"
    ),
    "config-bad-json": Broken(with_member(CONFIG, b"{oops"), f"member {CONFIG}: not valid JSON"),
    "diff-id-mismatch": Broken(
        with_config(lambda c: c["rootfs"]["diff_ids"].__setitem__(0, "sha256:" + "0" * 64)),
        f"member {LAYER0}: hashes to sha256:.* rootfs.diff_ids\\[0\\]",
    ),
    "diff-ids-count": Broken(
        with_config(lambda c: c["rootfs"].update(diff_ids=[])), f"member {CONFIG}: rootfs.diff_ids has 0 entries"
    ),
    # Docker 25+ tar: the OCI layout checks, on tar members
    "docker25-blob-digest-mismatch": Broken(
        docker25_tar(lambda e: [replace(x, data=flipped(x.data)) if x.name == D25_LAYER0 else x for x in e]),
        f"member {D25_LAYER0}: content hashes to sha256:",
    ),
    "docker25-index-bad-json": Broken(
        docker25_tar(lambda e: fb.replace_entry(e, "index.json", b"{")), "member index.json: not valid JSON"
    ),
    # OCI layout directories
    "oci-blob-digest-mismatch": Broken(
        layout_dir(lambda f: f.update({OCI_LAYER0: flipped(f[OCI_LAYER0])})), f"{OCI_LAYER0}: content hashes to"
    ),
    "oci-blob-size-mismatch": Broken(
        layout_dir(lambda f: f.update({OCI_LAYER0: f[OCI_LAYER0] + b"\0"})),
        f"{OCI_LAYER0}: \\d+ bytes, but .* layers\\[0\\] says \\d+",
    ),
    "oci-descriptor-size-mismatch": Broken(
        layout_dir(edit_index(lambda d: d.update(size=d["size"] + 1))),
        f"{OCI_MANIFEST_BLOB}: \\d+ bytes, but .*index.json manifests\\[0\\] says",
    ),
    "oci-unknown-manifest-type": Broken(
        layout_dir(edit_index(set_field("mediaType", "application/vnd.example+json"))),
        "index.json manifests\\[0\\]: unknown manifest mediaType 'application/vnd.example\\+json'",
    ),
    "oci-manifest-type-disagrees": Broken(
        layout_dir(edit_index(set_field("mediaType", DOCKER_MANIFEST))),
        f"{OCI_MANIFEST_BLOB}: mediaType .* but .*index.json manifests\\[0\\] says",
    ),
    "oci-descriptor-without-digest": Broken(
        layout_dir(edit_index(drop_field("digest"))), r"index.json manifests\[0\]: digest missing"
    ),
    "oci-digest-smuggles-a-path": Broken(
        layout_dir(edit_index(set_field("digest", "sha256:../../../etc/passwd"))), "index.json.*not a sha256 digest"
    ),
    "oci-missing-oci-layout": Broken(layout_dir(without("oci-layout")), "oci-layout: missing"),
    "oci-missing-blob": Broken(layout_dir(without(OCI_LAYER0)), f"{OCI_LAYER0}: missing"),
    "oci-index-bad-json": Broken(layout_dir(set_bytes("index.json", b"{]")), "index.json: not valid JSON"),
    "oci-index-no-manifests": Broken(layout_dir(set_bytes("index.json", b"{}")), "index.json: index has no manifests"),
    "oci-manifest-bad-json": Broken(manifest_blob(b"{not json"), "blobs/sha256/.*: not valid JSON"),
    "oci-config-bad-json": Broken(layout_of(config=b"{nope"), "blobs/sha256/.*: not valid JSON"),
    "oci-raw-layer-typed-gzip": Broken(
        layout_of(layer_type=fb.OCI_LAYER_GZIP),
        r"blobs/sha256/\w+: .* layers\[0\] types it '.*gzip', but it is uncompressed",
    ),
    "oci-gzip-layer-typed-tar": Broken(
        layout_of(layers=[A_TAR], gzip_layers=[0], layer_type=OCI_LAYER_TAR),
        r"blobs/sha256/\w+: .* layers\[0\] types it .*tar', but it is gzip",
    ),
    "oci-blob-symlink-outside": Broken(blob_symlink_outside, f"{OCI_LAYER0}: symlink leads outside the layout"),
    "oci-no-platform-match": Broken(
        multi_platform,
        "no manifest for platform linux/s390x; present: linux/amd64, linux/arm64/v8",
        lambda target: load_oci_layout(str(target), Platform("linux", "s390x")),
    ),
    # fixtures directories
    "fixtures-tar-gz": Broken(
        fixtures_dir_with("x.tar.gz", b"\x1f\x8b"), "decompress it first", lambda t: load_fixtures(str(t.parent), AMD64)
    ),
    "fixtures-tgz": Broken(
        fixtures_dir_with("x.tgz", b"\x1f\x8b"), "decompress it first", lambda t: load_fixtures(str(t.parent), AMD64)
    ),
    "fixtures-missing-dir": Broken(
        lambda tmp: tmp / "nope", "fixtures directory does not exist", lambda t: load_fixtures(str(t), AMD64)
    ),
}


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
    """Random byte flips and cuts: every outcome is a loaded image or a FixtureError, never a tarfile traceback."""
    rng = random.Random(1)
    bases = [fb.write_tar(tmp_path / "base.tar", LEGACY.entries).read_bytes()]
    bases.append(fb.write_tar(tmp_path / "base25.tar", fb.docker25_save()[0]).read_bytes())
    bases.append(fb.write_tar(tmp_path / "multi25.tar", fb.multi_platform_docker_save()[0]).read_bytes())
    target = tmp_path / "mutant.tar"
    for base in bases:
        for _ in range(150):
            data = bytearray(base)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            target.write_bytes(data[: rng.randrange(len(data))] if rng.random() < 0.2 else data)
            try:
                assert_truthful(load_docker_save(str(target), AMD64))
            except FixtureError as exc:
                assert str(target) in str(exc)
