"""OCI image layouts: directories, and the Docker 25+ `docker save` tarballs that are layouts inside a tar.

Every blob used is verified once against its name and size; media types must tell the truth about compression.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..image import (
    GZIP_LAYER_TYPES,
    IMAGE_MANIFEST_TYPES,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_LAYER_ZSTD,
    TAR_LAYER_TYPES,
    Blob,
    Body,
    Descriptor,
    Image,
    ImageError,
    Platform,
    check_digest_syntax,
    manifest_references,
    platform_child,
)
from .documents import head_bytes, member_bytes, name_and_tag, read_object, small_bytes
from .members import GZIP_MAGIC, DirMembers, FixtureError, Members, refusing

MAX_INDEX_DEPTH = 4
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


def _blob_name(digest: str, where: str) -> str:
    algorithm, _, encoded = check_digest_syntax(digest, where).partition(":")
    return f"blobs/{algorithm}/{encoded}"


@dataclass
class Layout:
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
        document = read_object(small_bytes(blob.body, blob_where), blob_where)
        declared = document.get("mediaType", descriptor.media_type)
        if declared != descriptor.media_type:
            raise FixtureError(f"{blob_where}: mediaType {declared!r}, but {where} says {descriptor.media_type!r}")
        return blob, document

    def pick(self, children: Sequence[Descriptor], where: str) -> tuple[Descriptor, str]:
        """The entry for our platform (or the first one, when no entry names a platform), and where it is."""
        try:
            chosen = platform_child(children, self.platform, where)
        except ImageError as exc:
            raise FixtureError(str(exc)) from None
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
        read_object(small_bytes(config.body, config_where), config_where)
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
        head = head_bytes(blob.body)
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


def load_layout(members: Members, platform: Platform) -> Image:
    """An image from an OCI layout (directory or Docker 25+ tar), its manifests pushed byte-for-byte.

    When index.json leads to an image index (or manifest list), the image is `platform`'s child and
    carries the index and the other children, to be pushed whole; but if the layout lacks any child
    or blob of one, it is only that child (see `Layout.whole_index`).
    """
    _, layout_data = member_bytes(members, "oci-layout")
    layout_where = members.where("oci-layout")
    if not isinstance(read_object(layout_data, layout_where).get("imageLayoutVersion"), str):
        raise FixtureError(f"{layout_where}: imageLayoutVersion missing")
    index_where = members.where("index.json")
    index = read_object(member_bytes(members, "index.json")[1], index_where)
    layout = Layout(members, platform, {})
    top, top_where = layout.pick(manifest_references(OCI_INDEX, index, index_where), index_where)
    annotations = top.annotations or {}
    reference = next((annotations[key] for key in NAME_ANNOTATIONS if annotations.get(key)), None)
    name, tag = name_and_tag(reference, members.path)
    whole = layout.whole_index(top, top_where, name, tag) if top.media_type in INDEX_TYPES else None
    return whole if whole is not None else layout.image(top, top_where, name, tag)


def load_oci_layout(path: str, platform: Platform) -> Image:
    """An OCI image layout directory, every blob it uses verified against its digest and size."""
    with refusing(path):
        if not os.path.isdir(path):
            raise FixtureError(f"{path}: not a directory")
        return load_layout(DirMembers(path), platform)
