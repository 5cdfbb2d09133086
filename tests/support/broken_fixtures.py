"""Broken and hostile image fixtures, as a table: how to build each (under a test's directory) and the message
its refusal must carry. tests/unit/test_sources.py loads each and expects a FixtureError; tests/system/test_bad_input.py
drops some into a --fixtures-dir of a real `locust` run and expects it to stop with one line.
"""

from __future__ import annotations

import gzip
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from registry_tasks.image import DOCKER_MANIFEST, OCI_LAYER_TAR, OCI_MANIFEST, Platform
from registry_tasks.sources import load_docker_save, load_fixtures, load_oci_layout

from . import fixture_builders as fb

AMD64 = Platform("linux", "amd64")


def hexof(digest: str) -> str:
    return digest.partition(":")[2]


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
