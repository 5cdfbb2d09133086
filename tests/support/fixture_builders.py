"""Builders of image fixtures for tests: docker-save tarballs (legacy and Docker 25+) and OCI layouts.

Everything is built with tarfile/json/hashlib from small real tar layers, deterministically, and kept
as plain data (`Entry` lists, path -> bytes dicts) so that a test can break one piece before writing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
IN_TOTO = "application/vnd.in-toto+json"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(data: bytes) -> str:
    return "sha256:" + sha256_hex(data)


def to_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, indent=2).encode()


def layer_tar(files: Mapping[str, bytes]) -> bytes:
    """A small, deterministic, uncompressed layer tar."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


SAMPLE_LAYERS = (
    layer_tar({"etc/hello": b"hello\n", "bin/tool": b"#!/bin/sh\necho tool\n"}),
    layer_tar({"var/data": bytes(range(256)) * 40}),
)


# --- tar members -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One tar member to write: a file, a directory, a link or something hostile."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""


def symlink(name: str, target: str) -> Entry:
    return Entry(name, type=tarfile.SYMTYPE, linkname=target)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, type=tarfile.LNKTYPE, linkname=target)


def directory(name: str) -> Entry:
    return Entry(name, type=tarfile.DIRTYPE)


def file_entries(files: Mapping[str, bytes]) -> list[Entry]:
    """Files plus their parent directories, in the order tar tools write them."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for name in sorted(files):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent not in seen:
                seen.add(parent)
                entries.append(directory(parent))
        entries.append(Entry(name, files[name]))
    return entries


def write_tar(path: Path, entries: Iterable[Entry]) -> Path:
    """Write entries verbatim (no name checks: hostile names are the point of some tests)."""
    with tarfile.open(path, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type, info.linkname, info.mtime = entry.type, entry.linkname, 0
            info.mode = 0o755 if entry.type == tarfile.DIRTYPE else 0o644
            info.size = len(entry.data) if entry.type == tarfile.REGTYPE else 0
            archive.addfile(info, io.BytesIO(entry.data) if info.size else None)
    return path


def write_dir(root: Path, files: Mapping[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def replace_entry(entries: Sequence[Entry], name: str, data: bytes) -> list[Entry]:
    return [replace(entry, data=data) if entry.name == name else entry for entry in entries]


def member_offset(path: Path, name: str) -> int:
    """Where a member's data starts in a tar (to truncate it mid-member)."""
    with tarfile.open(path) as archive:
        return archive.getmember(name).offset_data


# --- legacy docker save (Docker <= 24, skopeo docker-archive) ------------------------------------


@dataclass
class LegacySave:
    """A legacy `docker save` as members, with what the loader should find."""

    entries: list[Entry]
    config_name: str
    config_digest: str
    layer_names: list[str]
    layer_digests: list[str]
    diff_ids: list[str]


def image_config(diff_ids: Sequence[str], architecture: str = "amd64") -> bytes:
    return to_json(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
            "history": [{"created_by": f"step {i}"} for i in range(len(diff_ids))],
        }
    )


def legacy_docker_save(
    layers: Sequence[bytes] = (*SAMPLE_LAYERS, SAMPLE_LAYERS[0]),
    repo_tags: Sequence[str] = ("example/app:1.0",),
    link: str = "symlink",
    gzip_layers: Iterable[int] = (),
) -> LegacySave:
    """Docker <= 24's layout: `<id>/layer.tar` per layer, a repeated layer as a link to the first copy."""
    gzip_set = set(gzip_layers)
    stored = [gzipped(data) if i in gzip_set else data for i, data in enumerate(layers)]
    diff_ids = [digest(data) for data in layers]
    config = image_config(diff_ids)
    config_name = sha256_hex(config) + ".json"
    files: dict[str, bytes] = {config_name: config}
    links: list[Entry] = []
    names: list[str] = []
    first: dict[bytes, str] = {}
    for i, data in enumerate(stored):
        layer_id = sha256_hex(f"{i}:{diff_ids[i]}".encode())
        name = f"{layer_id}/layer.tar"
        files[f"{layer_id}/VERSION"] = b"1.0"
        files[f"{layer_id}/json"] = to_json({"id": layer_id})
        if data in first:
            target = f"../{first[data]}" if link == "symlink" else first[data]
            links.append(symlink(name, target) if link == "symlink" else hardlink(name, target))
        else:
            first[data] = name
            files[name] = data
        names.append(name)
    manifest = [{"Config": config_name, "RepoTags": list(repo_tags), "Layers": names}]
    files["manifest.json"] = json.dumps(manifest).encode()
    files["repositories"] = b"{}"
    return LegacySave(
        file_entries(files) + links,
        config_name,
        digest(config),
        names,
        [digest(data) for data in stored],
        diff_ids,
    )


# --- OCI layouts (directories, Docker 25+ saves) -------------------------------------------------


@dataclass
class BuiltImage:
    """One image written into a layout: its manifest's descriptor and its parts' digests."""

    manifest: dict[str, Any]
    config_digest: str
    layer_digests: list[str]
    diff_ids: list[str]


@dataclass
class Layout:
    """The blobs of an OCI layout being built; `files()` gives every path and its bytes."""

    blobs: dict[str, bytes] = field(default_factory=dict)

    def add(self, media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
        self.blobs[sha256_hex(data)] = data
        return {"mediaType": media_type, "digest": digest(data), "size": len(data), **extra}

    def image(
        self,
        layers: Sequence[bytes] = SAMPLE_LAYERS,
        architecture: str = "amd64",
        gzip_layers: Iterable[int] = (),
        layer_type: str | None = None,
        config: bytes | None = None,
    ) -> BuiltImage:
        """An OCI image manifest; `layer_type` and `config` let a test make it lie or break."""
        gzip_set = set(gzip_layers)
        diff_ids = [digest(data) for data in layers]
        config_descriptor = self.add(OCI_CONFIG, config if config is not None else image_config(diff_ids, architecture))
        layer_descriptors = []
        for i, data in enumerate(layers):
            stored = gzipped(data) if i in gzip_set else data
            media_type = layer_type or (OCI_LAYER_GZIP if i in gzip_set else OCI_LAYER_TAR)
            layer_descriptors.append(self.add(media_type, stored))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_descriptor,
            "layers": layer_descriptors,
        }
        descriptor = self.add(OCI_MANIFEST, to_json(manifest))
        layer_digests = [layer["digest"] for layer in layer_descriptors]
        return BuiltImage(descriptor, config_descriptor["digest"], layer_digests, diff_ids)

    def index(self, manifests: Sequence[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
        return self.add(
            OCI_INDEX, to_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}), **extra
        )

    def files(self, manifests: Sequence[Mapping[str, Any]]) -> dict[str, bytes]:
        """Every file of the layout, `index.json` listing `manifests`."""
        files = {f"blobs/sha256/{hex_digest}": data for hex_digest, data in self.blobs.items()}
        files["oci-layout"] = to_json({"imageLayoutVersion": "1.0.0"})
        files["index.json"] = to_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(manifests)})
        return files


def ref_annotations(reference: str) -> dict[str, str]:
    """What Docker 25 writes on an index.json entry for `docker save <reference>`."""
    return {"io.containerd.image.name": reference, "org.opencontainers.image.ref.name": reference.rpartition(":")[2]}


def oci_layout(
    layers: Sequence[bytes] = SAMPLE_LAYERS, ref_name: str = "latest"
) -> tuple[dict[str, bytes], BuiltImage]:
    """A single-image OCI layout, as `skopeo copy ... oci:dir:latest` writes it."""
    layout = Layout()
    built = layout.image(layers)
    built.manifest["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
    return layout.files([built.manifest]), built


@dataclass
class MultiPlatform:
    files: dict[str, bytes]
    amd64: BuiltImage
    arm64: BuiltImage
    attestation: BuiltImage
    index_digest: str


def blob_path(digest_text: str) -> str:
    """Where a blob lives in an OCI layout."""
    return f"blobs/sha256/{digest_text.partition(':')[2]}"


def multi_platform_layout(annotations: Mapping[str, str] | None = None) -> MultiPlatform:
    """index.json -> a nested index of linux/amd64, linux/arm64 and a buildx attestation manifest.

    `annotations` go on the index.json entry (default: ref name `multi:3.1`).
    """
    layout = Layout()
    amd64 = layout.image([layer_tar({"arch": b"amd64\n"})], "amd64")
    arm64 = layout.image([layer_tar({"arch": b"arm64\n"})], "arm64")
    statement = b'{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document"}'
    attestation = layout.image([statement], "unknown", layer_type=IN_TOTO)
    children = [
        {**amd64.manifest, "platform": {"architecture": "amd64", "os": "linux"}},
        {**arm64.manifest, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        {
            **attestation.manifest,
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {
                "vnd.docker.reference.digest": amd64.manifest["digest"],
                "vnd.docker.reference.type": "attestation-manifest",
            },
        },
    ]
    entry = dict(annotations or {"org.opencontainers.image.ref.name": "multi:3.1"})
    index = layout.index(children, annotations=entry)
    return MultiPlatform(layout.files([index]), amd64, arm64, attestation, index["digest"])


def with_legacy_manifest(files: Mapping[str, bytes], built: BuiltImage, reference: str) -> list[Entry]:
    """The members of a Docker 25+ save: the layout plus the legacy manifest.json pointing into blobs/."""
    legacy = {
        "Config": blob_path(built.config_digest),
        "RepoTags": [reference.removeprefix("docker.io/")],
        "Layers": [blob_path(d) for d in built.layer_digests],
    }
    return file_entries({**files, "manifest.json": json.dumps([legacy]).encode(), "repositories": b"{}"})


def multi_platform_docker_save(reference: str = "docker.io/example/multi:3.1") -> tuple[list[Entry], MultiPlatform]:
    """Docker 25+'s `docker save` of a multi-platform image (containerd store, every platform pulled)."""
    multi = multi_platform_layout(ref_annotations(reference))
    return with_legacy_manifest(multi.files, multi.amd64, reference), multi


MULTI_PLATFORM_KINDS = ("layout", "docker25")
"""The two forms a multi-platform fixture comes in: an OCI layout directory, a Docker 25+ `docker save` tar."""


def write_multi_platform(
    directory: Path, kind: str, drop: Callable[[MultiPlatform], Sequence[str]] = lambda multi: []
) -> tuple[Path, MultiPlatform]:
    """The multi-platform fixture as an OCI layout directory or a Docker 25+ tar (one of MULTI_PLATFORM_KINDS) under
    `directory`, without the blobs whose digests `drop` names."""
    if kind == "layout":
        multi = multi_platform_layout()
        gone = {blob_path(digest) for digest in drop(multi)}
        files = {name: data for name, data in multi.files.items() if name not in gone}
        return write_dir(directory / "multi", files), multi
    entries, multi = multi_platform_docker_save()
    gone = {blob_path(digest) for digest in drop(multi)}
    return write_tar(directory / "multi.tar", [entry for entry in entries if entry.name not in gone]), multi


def docker25_save(
    layers: Sequence[bytes] = SAMPLE_LAYERS, reference: str = "docker.io/example/app:2.0"
) -> tuple[list[Entry], BuiltImage]:
    """Docker 25+'s `docker save`: an OCI layout plus the legacy manifest.json pointing into blobs/."""
    layout = Layout()
    built = layout.image(layers)
    built.manifest["annotations"] = ref_annotations(reference)
    return with_legacy_manifest(layout.files([built.manifest]), built, reference), built
