"""Image fixtures: `docker save` tarballs, OCI layouts and synthetic specs; this knows no HTTP and no Locust.

Every blob is a byte range of the original file (tar members are read in place: nothing is extracted
or written) and every digest is checked or computed once at load, so that a broken or hostile fixture
fails before the test starts, with one message naming the file, the member and the problem.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import stat
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

from registry_tasks.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    DOCKER_MANIFEST,
    GZIP_LAYER_TYPES,
    IMAGE_MANIFEST_TYPES,
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_TAR,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    TAR_BLOCK,
    TAR_END,
    TAR_LAYER_TYPES,
    Blob,
    Body,
    Descriptor,
    FileSegment,
    Image,
    ImageError,
    MemorySegment,
    Platform,
    SyntheticSegment,
    blob_from_body,
    blob_from_bytes,
    build_image,
    check_digest_syntax,
    choose_platform,
    is_attestation,
    manifest_references,
    sha256_digest,
)
from registry_tasks.sizes import parse_size

BUILTIN_SPEC = "2x1MiB,1x256KiB"
MAX_JSON_SIZE = 16 << 20
MAX_LINK_DEPTH = 16
MAX_INDEX_DEPTH = 4
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
SEPARATOR_PATTERN = re.compile(r"\.|_|__|-+")
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
SPEC_PART = re.compile(r"(?:(\d+)\s*[xX]\s*)?(\d+\s*[A-Za-z]*)")


class FixtureError(ImageError):
    """A fixture that cannot be used; the message names the file, the member or field, and what is wrong."""


@contextmanager
def _refusing(path: str) -> Iterator[None]:
    """Turn the image model's and the OS's errors into FixtureError, so callers catch one type."""
    try:
        yield
    except FixtureError:
        raise
    except ImageError as exc:
        raise FixtureError(str(exc)) from None
    except OSError as exc:
        raise FixtureError(f"{exc.filename or path}: {exc.strerror or exc}") from None


# --- where a fixture's files live: a directory or a tar read in place ----------------------------


class Members(Protocol):
    """The files of a fixture by relative name, so that one OCI-layout reader serves dirs and tars."""

    @property
    def path(self) -> str: ...

    def where(self, name: str) -> str:
        """How to name this member in an error message."""
        ...

    def has(self, name: str) -> bool:
        """Whether the fixture holds an entry of that name (which `segment` may still refuse)."""
        ...

    def segment(self, name: str) -> FileSegment:
        """The member's bytes in place; FixtureError if it is missing, not a file or leaves the fixture."""
        ...


@dataclass(frozen=True)
class DirMembers:
    """An OCI layout directory; symlinks inside it may not lead outside it."""

    path: str

    def where(self, name: str) -> str:
        return os.path.join(self.path, name)

    def has(self, name: str) -> bool:
        return _clean(name) is not None and os.path.lexists(self.where(name))

    def segment(self, name: str) -> FileSegment:
        full = self.where(name)
        if not os.path.lexists(full):
            raise FixtureError(f"{full}: missing")
        root, real = os.path.realpath(self.path), os.path.realpath(full)
        if os.path.commonpath([root, real]) != root:
            raise FixtureError(f"{full}: symlink leads outside the layout directory (to {real})")
        if not os.path.exists(real):
            raise FixtureError(f"{full}: symlink to a missing file ({real})")
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise FixtureError(f"{full}: not a regular file")
        return FileSegment(real, 0, info.st_size)


def _clean(name: str) -> str | None:
    """A member path without `./` and `//`; None if it is absolute or uses `..` at all."""
    if name.startswith("/"):
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


def _link_target(name: str, member: tarfile.TarInfo) -> str | None:
    """Where a link member points, as a member name; None if that is outside the archive."""
    if member.islnk():
        return _clean(member.linkname)
    if member.linkname.startswith("/"):
        return None
    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
    return None if target == ".." or target.startswith("../") else _clean(target)


def _member_kind(member: tarfile.TarInfo) -> str:
    kinds = ((member.ischr, "character device"), (member.isblk, "block device"), (member.isfifo, "fifo"))
    return next((kind for test, kind in kinds if test()), f"type {member.type!r}")


def _check_member(path: str, member: tarfile.TarInfo, file_size: int) -> str | None:
    """The cleaned name of a member we can use in place, or FixtureError; None for the root entry."""
    where = f"{path}: member {member.name}"
    name = _clean(member.name)
    if name is None:
        raise FixtureError(f"{where}: absolute path or '..' would leave the archive")
    if member.issparse():
        raise FixtureError(f"{where}: sparse files are not supported")
    if member.isreg():
        end = member.offset_data + member.size
        if end > file_size:
            raise FixtureError(f"{where}: data ends at byte {end} but the file has {file_size} bytes (truncated?)")
    elif not (member.isdir() or member.issym() or member.islnk()):
        raise FixtureError(f"{where}: {_member_kind(member)} members are not allowed")
    if not name and not member.isdir():
        raise FixtureError(f"{where}: empty member name")
    return name or None


@dataclass(frozen=True)
class TarMembers:
    """A tar archive's members, read in place; links are resolved inside the archive only."""

    path: str
    entries: Mapping[str, tarfile.TarInfo]

    @classmethod
    def scan(cls, path: str) -> TarMembers:
        """Index every member, refusing anything we would not dare to read (see `_check_member`)."""
        file_size = os.path.getsize(path)
        with open(path, "rb") as file:
            if file.read(2) == GZIP_MAGIC:
                raise FixtureError(f"{path}: gzip-compressed; decompress it first (gunzip): tars are read in place")
        entries: dict[str, tarfile.TarInfo] = {}
        last = None
        try:
            with tarfile.open(path, mode="r:") as archive:
                for member in archive:
                    name = _check_member(path, member, file_size)
                    if name is not None and name in entries and not member.isdir():
                        raise FixtureError(f"{path}: member {member.name}: appears twice")
                    if name is not None:
                        entries[name] = member
                    last = member.name
        except (tarfile.TarError, EOFError) as exc:
            after = f"after member {last}" if last else "at its first member"
            raise FixtureError(f"{path}: not a readable tar {after} ({exc})") from None
        members = cls(path, entries)
        for name, member in entries.items():
            if member.issym() or member.islnk():
                members._resolve(name)
        return members

    def where(self, name: str) -> str:
        return f"{self.path}: member {name}"

    def has(self, name: str) -> bool:
        cleaned = _clean(name)
        return cleaned is not None and cleaned in self.entries

    def _resolve(self, name: str) -> tarfile.TarInfo:
        """Follow symlinks and hardlinks to the member they name, never outside the archive."""
        current = name
        for _ in range(MAX_LINK_DEPTH):
            member = self.entries.get(current)
            if member is None:
                missing = "missing" if current == name else f"link target {current} is missing"
                raise FixtureError(f"{self.where(name)}: {missing}")
            if not (member.issym() or member.islnk()):
                return member
            target = _link_target(current, member)
            if target is None:
                raise FixtureError(f"{self.where(current)}: link to {member.linkname!r} leaves the archive")
            current = target
        raise FixtureError(f"{self.where(name)}: more than {MAX_LINK_DEPTH} links deep (a loop?)")

    def segment(self, name: str) -> FileSegment:
        cleaned = _clean(name)
        if cleaned is None:
            raise FixtureError(f"{self.where(name)}: absolute path or '..' would leave the archive")
        member = self._resolve(cleaned)
        if not member.isreg():
            raise FixtureError(f"{self.where(name)}: not a regular file")
        return FileSegment(self.path, member.offset_data, member.size)


# --- small helpers shared by the formats ---------------------------------------------------------


def _head(body: Body, size: int = 4) -> bytes:
    """The first bytes of a blob: enough to tell gzip and zstd from raw tar."""
    return b"".join(bytes(chunk) for chunk in body.chunks(0, min(size, body.size)))


def _small_bytes(body: Body, where: str) -> bytes:
    """A JSON document's bytes, refusing huge ones before they are read into memory."""
    if body.size > MAX_JSON_SIZE:
        raise FixtureError(f"{where}: {body.size} bytes is too large for JSON metadata (limit {MAX_JSON_SIZE})")
    return body.read_all()


def _read_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise FixtureError(f"{where}: not valid JSON ({exc})") from None


def _read_object(data: bytes, where: str) -> dict[str, Any]:
    document = _read_json(data, where)
    if not isinstance(document, dict):
        raise FixtureError(f"{where}: not a JSON object")
    return document


def _member_bytes(members: Members, name: str) -> tuple[FileSegment, bytes]:
    """A small member (JSON metadata) in memory."""
    segment = members.segment(name)
    return segment, _small_bytes(Body((segment,)), members.where(name))


def _sanitize_repository(text: str) -> str:
    """A valid repository path: lowercase components of [a-z0-9] joined by `.`, `_`, `__` or dashes."""
    components = []
    for part in text.lower().split("/"):
        part = re.sub(r"[^a-z0-9._-]+", "-", part)
        part = re.sub(r"[._-]+", lambda m: m[0] if SEPARATOR_PATTERN.fullmatch(m[0]) else "-", part)
        if part := part.strip("._-"):
            components.append(part)
    return "/".join(components)


def _split_reference(reference: str) -> tuple[str | None, str | None]:
    """(repository without registry host, tag) of `host/repo:tag@digest`; a bare word is a tag."""
    reference = reference.split("@", 1)[0]
    if "/" not in reference and ":" not in reference:
        return None, reference
    repository, tag = reference, None
    if reference.rfind(":") > reference.rfind("/"):
        repository, _, tag = reference.rpartition(":")
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        repository = rest.removeprefix("library/") if first in ("docker.io", "index.docker.io") else rest
    return repository, tag


def _name_and_tag(reference: str | None, path: str) -> tuple[str, str]:
    """The image's repository and tag from its reference, else from the file name and `latest`."""
    repository, tag = _split_reference(reference) if reference else (None, None)
    name = _sanitize_repository(repository or "")
    if not name:
        stem = os.path.basename(os.path.normpath(path))
        name = _sanitize_repository(stem[:-4] if stem.lower().endswith(".tar") else stem) or "image"
    return name, tag if tag and TAG_PATTERN.fullmatch(tag) else "latest"


def _dedupe_names(images: Sequence[Image]) -> list[Image]:
    """Give images whose names collide a numeric suffix, so that each pushes to its own repository."""
    seen: set[str] = set()
    out = []
    for image in images:
        name, number = image.name, 2
        while name in seen:
            name, number = f"{image.name}-{number}", number + 1
        seen.add(name)
        siblings = tuple(replace(sibling, name=name) for sibling in image.siblings)
        out.append(image if name == image.name else replace(image, name=name, siblings=siblings))
    return out


# --- OCI layout (directories and Docker 25+ tarballs) --------------------------------------------


def _blob_name(digest: str, where: str) -> str:
    algorithm, _, encoded = check_digest_syntax(digest, where).partition(":")
    return f"blobs/{algorithm}/{encoded}"


@dataclass
class _Layout:
    """One pass over an OCI layout: verifies each blob it uses once."""

    members: Members
    platform: Platform
    verified: dict[str, Blob]

    def blob_where(self, descriptor: Descriptor, where: str) -> str:
        """How to name the blob file a descriptor (found at `where`) points at."""
        return self.members.where(_blob_name(descriptor.digest, where))

    def has_blob(self, descriptor: Descriptor, where: str) -> bool:
        """Whether the layout holds the blob a descriptor names (`blob` still verifies it)."""
        return descriptor.digest in self.verified or self.members.has(_blob_name(descriptor.digest, where))

    def blob(self, descriptor: Descriptor, where: str) -> Blob:
        """The blob a descriptor names, after checking its size and that it hashes to its name."""
        if descriptor.digest not in self.verified:
            blob_where = self.blob_where(descriptor, where)
            segment = self.members.segment(_blob_name(descriptor.digest, where))
            if segment.size != descriptor.size:
                raise FixtureError(f"{blob_where}: {segment.size} bytes, but {where} says {descriptor.size}")
            body = Body((segment,))
            actual = body.digest()
            if actual != descriptor.digest:
                raise FixtureError(f"{blob_where}: content hashes to {actual}, not to its name")
            self.verified[descriptor.digest] = Blob(descriptor, body)
        return Blob(descriptor, self.verified[descriptor.digest].body)

    def document(self, descriptor: Descriptor, where: str) -> tuple[Blob, dict[str, Any]]:
        """A verified manifest or index blob and its JSON, whose own mediaType must agree."""
        blob = self.blob(descriptor, where)
        blob_where = self.blob_where(descriptor, where)
        document = _read_object(_small_bytes(blob.body, blob_where), blob_where)
        declared = document.get("mediaType", descriptor.media_type)
        if declared != descriptor.media_type:
            raise FixtureError(f"{blob_where}: mediaType {declared!r}, but {where} says {descriptor.media_type!r}")
        return blob, document

    def pick(self, children: Sequence[Descriptor], where: str) -> tuple[Descriptor, str]:
        """The entry for our platform (or the first one, when no entry names a platform), and where it is."""
        candidates = [child for child in children if not is_attestation(child)]
        if not candidates:
            raise FixtureError(f"{where}: lists no image manifest")
        named = any(child.platform for child in candidates)
        chosen = choose_platform(candidates, self.platform) if named else candidates[0]
        if chosen is None:
            present = ", ".join(sorted({str(child.platform) for child in candidates if child.platform}))
            raise FixtureError(f"{where}: no manifest for platform {self.platform}; present: {present}")
        position = next(i for i, child in enumerate(children) if child is chosen)
        return chosen, f"{where} manifests[{position}]"

    def image_manifest(self, descriptor: Descriptor, where: str) -> tuple[Blob, dict[str, Any], str]:
        """Descend through nested indexes to the image manifest for our platform; `where` names the entry."""
        for _ in range(MAX_INDEX_DEPTH):
            if descriptor.media_type in IMAGE_MANIFEST_TYPES:
                blob, document = self.document(descriptor, where)
                return blob, document, self.blob_where(descriptor, where)
            if descriptor.media_type not in INDEX_TYPES:
                raise FixtureError(f"{where}: unknown manifest mediaType {descriptor.media_type!r}")
            _, document = self.document(descriptor, where)
            index_where = self.blob_where(descriptor, where)
            children = manifest_references(descriptor.media_type, document, index_where)
            descriptor, where = self.pick(children, index_where)
        raise FixtureError(f"{where}: indexes nested more than {MAX_INDEX_DEPTH} deep")

    def complete(self, descriptor: Descriptor, where: str) -> bool:
        """Whether an index's child is in the layout with every blob its manifest names."""
        if not self.has_blob(descriptor, where):
            return False
        if descriptor.media_type not in IMAGE_MANIFEST_TYPES:
            return True  # a nested index or an unknown type: refused with a message when loaded
        _, document = self.document(descriptor, where)
        manifest_where = self.blob_where(descriptor, where)
        references = manifest_references(descriptor.media_type, document, manifest_where)
        return all(self.has_blob(reference, manifest_where) for reference in references)

    def image(self, descriptor: Descriptor, where: str, name: str, tag: str) -> Image:
        """The image an entry leads to (through indexes, to our platform), its manifest kept byte-for-byte."""
        manifest, document, manifest_where = self.image_manifest(descriptor, where)
        references = manifest_references(manifest.descriptor.media_type, document, manifest_where)
        config = self.blob(references[0], f"{manifest_where} config")
        config_where = self.blob_where(config.descriptor, manifest_where)
        _read_object(_small_bytes(config.body, config_where), config_where)
        layers = [self.layer(d, f"{manifest_where} layers[{i}]") for i, d in enumerate(references[1:])]
        plain = Descriptor(manifest.descriptor.media_type, manifest.digest, manifest.size)
        return Image(name, Blob(plain, manifest.body), config, tuple(layers), tag)

    def whole_index(self, descriptor: Descriptor, where: str, name: str, tag: str) -> Image | None:
        """Our platform's image carrying the index and every other child (attestations too), to push it whole.

        None when a child, or a blob of one, is missing from the layout (a containerd-store `docker save`
        may hold only its own platform): a registry refuses an index whose children it lacks, so such a
        fixture is narrowed to the platform's image instead.
        """
        index, document = self.document(descriptor, where)
        index_where = self.blob_where(descriptor, where)
        children = manifest_references(descriptor.media_type, document, index_where)
        entries = [(child, f"{index_where} manifests[{i}]") for i, child in enumerate(children)]
        if not all(self.complete(child, child_where) for child, child_where in entries):
            return None
        for child, child_where in entries:
            if child.media_type in INDEX_TYPES:
                raise FixtureError(f"{child_where}: nested indexes inside a multi-platform index are not supported")
        chosen, _ = self.pick(children, index_where)
        images = [(child, self.image(child, child_where, name, tag)) for child, child_where in entries]
        own = next(image for child, image in images if child is chosen)
        siblings = tuple(image for child, image in images if child is not chosen)
        plain = Descriptor(descriptor.media_type, index.digest, index.size)
        return replace(own, index=Blob(plain, index.body), siblings=siblings)

    def layer(self, descriptor: Descriptor, where: str) -> Blob:
        """A verified layer whose media type tells the truth about its compression."""
        blob = self.blob(descriptor, where)
        head = _head(blob.body)
        gzipped, zstd = head.startswith(GZIP_MAGIC), head.startswith(ZSTD_MAGIC)
        media_type = descriptor.media_type
        lies = (
            (media_type in GZIP_LAYER_TYPES and not gzipped)
            or (media_type in TAR_LAYER_TYPES and (gzipped or zstd))
            or (media_type == OCI_LAYER_ZSTD and not zstd)
        )
        if lies:
            found = "gzip" if gzipped else "zstd" if zstd else "uncompressed"
            raise FixtureError(
                f"{self.blob_where(descriptor, where)}: {where} types it {media_type!r}, but it is {found}"
            )
        return blob


def _load_layout(members: Members, platform: Platform) -> Image:
    """An image from an OCI layout (directory or Docker 25+ tar), its manifests pushed byte-for-byte.

    When index.json leads to an image index (or manifest list), the image is `platform`'s child and
    carries the index and the other children, to be pushed whole; but if the layout lacks any child
    or blob of one, it is only that child (see `_Layout.whole_index`).
    """
    _, layout_data = _member_bytes(members, "oci-layout")
    layout_where = members.where("oci-layout")
    if not isinstance(_read_object(layout_data, layout_where).get("imageLayoutVersion"), str):
        raise FixtureError(f"{layout_where}: imageLayoutVersion missing")
    index_where = members.where("index.json")
    index = _read_object(_member_bytes(members, "index.json")[1], index_where)
    layout = _Layout(members, platform, {})
    top, top_where = layout.pick(manifest_references(OCI_INDEX, index, index_where), index_where)
    annotations = top.annotations or {}
    reference = next((annotations[key] for key in NAME_ANNOTATIONS if annotations.get(key)), None)
    name, tag = _name_and_tag(reference, members.path)
    whole = layout.whole_index(top, top_where, name, tag) if top.media_type in INDEX_TYPES else None
    return whole if whole is not None else layout.image(top, top_where, name, tag)


def load_oci_layout(path: str, platform: Platform) -> Image:
    """An OCI image layout directory, every blob it uses verified against its digest and size."""
    with _refusing(path):
        if not os.path.isdir(path):
            raise FixtureError(f"{path}: not a directory")
        return _load_layout(DirMembers(path), platform)


# --- docker save ---------------------------------------------------------------------------------


def _legacy_entry(members: TarMembers) -> tuple[str, list[str], str | None]:
    """(Config, Layers, first RepoTag) of the first image in a legacy manifest.json."""
    where = members.where("manifest.json")
    document = _read_json(_member_bytes(members, "manifest.json")[1], where)
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
        head = _head(Body((segment,)))
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
    segment, data = _member_bytes(members, config_name)
    config_document = _read_object(data, members.where(config_name))
    config = Blob(Descriptor(DOCKER_CONFIG, sha256_digest(data), len(data)), Body((segment,)))
    hashed: dict[FileSegment, Blob] = {}
    layers = [_legacy_layer(members, name, hashed) for name in layer_names]
    _check_diff_ids(members, config_name, config_document, layer_names, layers)
    name, tag = _name_and_tag(reference, members.path)
    return build_image(name, DOCKER_MANIFEST, config, layers, tag)


def load_docker_save(path: str, platform: Platform) -> Image:
    """A `docker save` tarball read in place: Docker 25+ as an OCI layout, older ones from manifest.json."""
    with _refusing(path):
        members = TarMembers.scan(path)
        if members.has("index.json") and members.has("oci-layout"):
            return _load_layout(members, platform)
        if not members.has("manifest.json"):
            raise FixtureError(f"{path}: member manifest.json missing (and no index.json + oci-layout)")
        return _load_legacy(members)


# --- synthetic images ----------------------------------------------------------------------------


def _parse_spec(spec: str) -> list[tuple[int, int, str]]:
    """(count, size, normalized text) per comma-separated `[N x]SIZE` part of a synthetic spec."""
    parts = []
    for text in spec.split(","):
        match = SPEC_PART.fullmatch(text.strip())
        if match is None:
            raise FixtureError(f"synthetic spec {spec!r}: part {text.strip()!r} is not [N x]SIZE, e.g. 3x10MiB")
        count_text, size_text = match.groups()
        try:
            size, label = parse_size(size_text, unit_required=True)
        except ValueError as exc:
            raise FixtureError(f"synthetic spec {spec!r}: part {text.strip()!r}: {exc}") from None
        count = int(count_text) if count_text else 1
        if count < 1 or size < 1:
            raise FixtureError(f"synthetic spec {spec!r}: part {text.strip()!r} needs a count and size of at least 1")
        parts.append((count, size, f"{count}x{label}"))
    return parts


def _synthetic_layer(seed: int, index: int, size: int, spec: str) -> Blob:
    """A valid uncompressed tar holding one file of synthetic bytes, its header and padding in memory."""
    info = tarfile.TarInfo(f"layer-{index}/data")
    info.size, info.mtime, info.mode = size, 0, 0o644
    try:
        header = info.tobuf(format=tarfile.USTAR_FORMAT)
    except ValueError as exc:
        raise FixtureError(
            f"synthetic spec {spec!r}: layer {index} of {size} bytes cannot be a ustar entry ({exc})"
        ) from None
    tail = b"\0" * (-size % TAR_BLOCK) + TAR_END
    body = Body((MemorySegment(header), SyntheticSegment(seed, index, size), MemorySegment(tail)))
    return blob_from_body(OCI_LAYER_TAR, body)


def synthetic_image(spec: str, seed: int = 0, name: str = "synthetic") -> Image:
    """An OCI image of incompressible layers, byte-identical in every process for the same (spec, seed)."""
    parts = _parse_spec(spec)
    sizes = [size for count, size, _ in parts for _ in range(count)]
    layers = [_synthetic_layer(seed, index, size, spec) for index, size in enumerate(sizes)]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "config": {},
    }
    config_blob = blob_from_bytes(OCI_CONFIG, json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    normalized = ",".join(text for _, _, text in parts)
    repository = _sanitize_repository(f"{name}-{normalized.lower()}") or "synthetic"
    return build_image(repository, OCI_MANIFEST, config_blob, layers, "latest")


# --- a fixtures directory ------------------------------------------------------------------------


def _load_entry(path: str, platform: Platform) -> Image | None:
    """The image in one directory entry, or None for files that are not fixtures (README.md, ...)."""
    name = os.path.basename(path).lower()
    if name.startswith("."):
        return None
    if os.path.isdir(path):
        return load_oci_layout(path, platform) if os.path.lexists(os.path.join(path, "oci-layout")) else None
    if name.endswith((".tar.gz", ".tgz")):
        raise FixtureError(f"{path}: compressed tarball; decompress it first (gunzip): tars are read in place")
    return load_docker_save(path, platform) if name.endswith(".tar") else None


def load_fixtures(directory: str | None, platform: Platform, seed: int = 0) -> list[Image]:
    """Every fixture directly inside `directory`, sorted by name; the built-in synthetic image if none."""
    images: list[Image] = []
    if directory is not None:
        if not os.path.isdir(directory):
            raise FixtureError(f"{directory}: fixtures directory does not exist")
        with _refusing(directory):
            names = sorted(os.listdir(directory))
        entries = (_load_entry(os.path.join(directory, name), platform) for name in names)
        images = [image for image in entries if image is not None]
    return _dedupe_names(images) or [synthetic_image(BUILTIN_SPEC, seed, name="builtin")]
