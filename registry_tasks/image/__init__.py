"""The image model: descriptors, manifests and their bytes, streamed bodies, digests, unique-layer templates.

It knows no HTTP and no Locust: sources/ build these objects from fixtures, registry/ sends and checks them.
"""

from .bodies import (
    READ_BUFFER_SIZE,
    Body,
    BodyReader,
    FileSegment,
    FileSpan,
    MemorySegment,
    Segment,
    SyntheticSegment,
    memory_body,
)
from .digests import ImageError, check_digest_syntax, hasher_digest, sha256_digest
from .media_types import (
    ACCEPTED_MANIFEST_TYPES,
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER_GZIP,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    GZIP_LAYER_TYPES,
    IMAGE_MANIFEST_TYPES,
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_LAYER_TAR,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    TAR_LAYER_TYPES,
)
from .model import (
    Blob,
    Descriptor,
    Image,
    blob_from_body,
    blob_from_bytes,
    build_image,
    manifest_references,
    parse_manifest,
    serialize_manifest,
)
from .platforms import Platform, choose_platform, is_attestation, platform_child, platform_rank
from .sizes import parse_size
from .unique import TAR_BLOCK, TAR_END, UniqueImageTemplate, UniqueLayerTemplate, tar_entry

__all__ = [
    "ACCEPTED_MANIFEST_TYPES", "DOCKER_CONFIG", "DOCKER_FOREIGN_LAYER_GZIP", "DOCKER_LAYER_GZIP", "DOCKER_LAYER_TAR",
    "DOCKER_MANIFEST", "DOCKER_MANIFEST_LIST", "DOCKER_SCHEMA1", "DOCKER_SCHEMA1_SIGNED", "GZIP_LAYER_TYPES",
    "IMAGE_MANIFEST_TYPES", "INDEX_TYPES", "OCI_CONFIG", "OCI_INDEX", "OCI_LAYER_GZIP", "OCI_LAYER_TAR",
    "OCI_LAYER_ZSTD", "OCI_MANIFEST", "READ_BUFFER_SIZE", "TAR_BLOCK", "TAR_END", "TAR_LAYER_TYPES", "Blob", "Body",
    "BodyReader", "Descriptor", "FileSegment", "FileSpan", "Image", "ImageError", "MemorySegment", "Platform",
    "Segment", "SyntheticSegment", "UniqueImageTemplate", "UniqueLayerTemplate", "blob_from_body", "blob_from_bytes",
    "build_image", "check_digest_syntax", "choose_platform", "hasher_digest", "is_attestation", "manifest_references",
    "memory_body", "parse_manifest", "parse_size", "platform_child", "platform_rank", "serialize_manifest",
    "sha256_digest", "tar_entry",
]  # fmt: skip
