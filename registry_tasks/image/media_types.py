"""Media types of manifests, configs and layers, and the groups the code asks about (OCI image-spec, docker)."""

from __future__ import annotations

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

IMAGE_MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
#: Every manifest type we can read, in the order containerd sends them (Accept header).
ACCEPTED_MANIFEST_TYPES = (*IMAGE_MANIFEST_TYPES, *INDEX_TYPES, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1)
TAR_LAYER_TYPES = (DOCKER_LAYER_TAR, OCI_LAYER_TAR)
GZIP_LAYER_TYPES = (DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER_GZIP, OCI_LAYER_GZIP)
