"""`docker save` tarballs read in place: Docker 25+ ones as OCI layouts, older ones (and skopeo's
docker-archive) from manifest.json, with the config as-is and each layer typed by its first bytes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..image import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    DOCKER_MANIFEST,
    Blob,
    Body,
    Descriptor,
    FileSegment,
    Image,
    Platform,
    blob_from_body,
    build_image,
    sha256_digest,
)
from .documents import head_bytes, member_bytes, name_and_tag, read_json, read_object
from .members import GZIP_MAGIC, FixtureError, TarMembers, refusing
from .oci_layout import ZSTD_MAGIC, load_layout


def _legacy_entry(members: TarMembers) -> tuple[str, list[str], str | None]:
    """(Config, Layers, first RepoTag) of the first image in a legacy manifest.json."""
    where = members.where("manifest.json")
    document = read_json(member_bytes(members, "manifest.json")[1], where)
    if not isinstance(document, list) or not document or not isinstance(document[0], dict):
        raise FixtureError(f"{where}: expected a non-empty list of image objects")
    entry = document[0]
    config, layers, tags = entry.get("Config"), entry.get("Layers"), entry.get("RepoTags")
    if not isinstance(config, str) or not config:
        raise FixtureError(f"{where}: [0].Config missing or not a string")
    if not isinstance(layers, list):
        raise FixtureError(f"{where}: [0].Layers missing or not a list")
    for i, layer in enumerate(layers):
        if not isinstance(layer, str) or not layer:
            raise FixtureError(f"{where}: [0].Layers[{i}] is not a member name")
    tag = tags[0] if isinstance(tags, list) and tags and isinstance(tags[0], str) else None
    return config, layers, tag


def _legacy_layer(members: TarMembers, name: str, hashed: dict[FileSegment, Blob]) -> Blob:
    """A layer typed by its first bytes (raw tar or gzip, never a lie), hashed once per member."""
    segment = members.segment(name)
    if segment not in hashed:
        head = head_bytes(Body((segment,)))
        if head.startswith(ZSTD_MAGIC):
            raise FixtureError(f"{members.where(name)}: zstd-compressed; docker schema2 has no type for it")
        media_type = DOCKER_LAYER_GZIP if head.startswith(GZIP_MAGIC) else DOCKER_LAYER_TAR
        hashed[segment] = blob_from_body(media_type, Body((segment,)))
    return hashed[segment]


def _check_diff_ids(
    members: TarMembers, config_name: str, config: Mapping[str, Any], layers: list[str], blobs: list[Blob]
) -> None:
    """Each raw-tar layer must hash to the config's diff_id: otherwise the pushed image cannot be run."""
    where = members.where(config_name)
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(blobs):
        count = len(diff_ids) if isinstance(diff_ids, list) else "no"
        raise FixtureError(f"{where}: rootfs.diff_ids has {count} entries for {len(blobs)} layers")
    for i, (name, blob) in enumerate(zip(layers, blobs, strict=True)):
        if blob.descriptor.media_type == DOCKER_LAYER_TAR and diff_ids[i] != blob.digest:
            raise FixtureError(
                f"{members.where(name)}: hashes to {blob.digest}, but {config_name} rootfs.diff_ids[{i}] "
                f"says {diff_ids[i]}"
            )


def _load_legacy(members: TarMembers) -> Image:
    """A Docker <= 24 (or skopeo docker-archive) save: config as-is, layers as-is, schema2 manifest."""
    config_name, layer_names, reference = _legacy_entry(members)
    segment, data = member_bytes(members, config_name)
    config_document = read_object(data, members.where(config_name))
    config = Blob(Descriptor(DOCKER_CONFIG, sha256_digest(data), len(data)), Body((segment,)))
    hashed: dict[FileSegment, Blob] = {}
    layers = [_legacy_layer(members, name, hashed) for name in layer_names]
    _check_diff_ids(members, config_name, config_document, layer_names, layers)
    name, tag = name_and_tag(reference, members.path)
    return build_image(name, DOCKER_MANIFEST, config, layers, tag)


def load_docker_save(path: str, platform: Platform) -> Image:
    """A `docker save` tarball read in place: Docker 25+ as an OCI layout, older ones from manifest.json."""
    with refusing(path):
        members = TarMembers.scan(path)
        if members.has("index.json") and members.has("oci-layout"):
            return load_layout(members, platform)
        if not members.has("manifest.json"):
            raise FixtureError(f"{path}: member manifest.json missing (and no index.json + oci-layout)")
        return _load_legacy(members)
