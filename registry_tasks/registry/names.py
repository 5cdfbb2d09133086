"""The names of the stats entries the registry layer reports: the one list that options, gates and reports use.

Each per-request name is the `name` of one `RegistryClient.measure` call; each per-operation name times a whole
workflow. The names are part of the user interface (gates, CSV, dashboards): keep them stable. Repository,
tag and digest go in the event's context, never in a name.
"""

from __future__ import annotations

PING = "ping"
MANIFEST_GET = "manifest-get"
MANIFEST_HEAD = "manifest-head"
MANIFEST_PUT = "manifest-put"
MANIFEST_DELETE = "manifest-delete"
BLOB_GET = "blob-get"
BLOB_HEAD = "blob-head"
BLOB_MOUNT = "blob-mount"
UPLOAD_START = "upload-start"
UPLOAD_CHUNK = "upload-chunk"
UPLOAD_FINISH = "upload-finish"
UPLOAD_STATUS = "upload-status"
TOKEN = "token"
TAGS_LIST = "tags-list"
CATALOG = "catalog"
REFERRERS_GET = "referrers-get"

IMAGE_PULL = "image-pull"
IMAGE_PUSH = "image-push"
TAGS_WALK = "tags-walk"
CATALOG_WALK = "catalog-walk"
ARTIFACT_PUSH = "artifact-push"

REQUEST_NAMES = (
    PING, MANIFEST_GET, MANIFEST_HEAD, MANIFEST_PUT, MANIFEST_DELETE, BLOB_GET, BLOB_HEAD, BLOB_MOUNT, UPLOAD_START,
    UPLOAD_CHUNK, UPLOAD_FINISH, UPLOAD_STATUS, TOKEN, TAGS_LIST, CATALOG, REFERRERS_GET,
)  # fmt: skip
"""One entry per HTTP request."""

OPERATION_NAMES = (IMAGE_PULL, IMAGE_PUSH, TAGS_WALK, CATALOG_WALK, ARTIFACT_PUSH)
"""One entry per whole operation (its requests are reported under their own names as well)."""

OPERATION_METHODS = {
    IMAGE_PULL: "PULL", IMAGE_PUSH: "PUSH", TAGS_WALK: "WALK", CATALOG_WALK: "WALK", ARTIFACT_PUSH: "PUSH",
}  # fmt: skip
"""The `request_type` of each operation entry: throughput counts their bytes once, under their requests."""

IMAGE_METHODS = (OPERATION_METHODS[IMAGE_PULL], OPERATION_METHODS[IMAGE_PUSH])
"""The operation entries that are whole images (images/s)."""

ENTRY_NAMES = (*REQUEST_NAMES, *OPERATION_NAMES)
"""Every name the registry layer can report."""
