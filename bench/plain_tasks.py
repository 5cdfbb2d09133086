"""Registry requests as a user writes them from the API docs, for the naive and raw FastHttpUser locustfiles.

HttpUser's and FastHttpUser's clients take the same calls, so (a) and (b) send exactly the same requests.
No digest checks, bodies buffered whole, upload data hashed once at import. Stats names match ours
(`manifest-get`, `blob-get`, `upload-finish`, `manifest-put`, ...) so the bench counts the same units.
The bench driver passes what to pull or push in `BENCH_*` environment variables.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Any

from locust import tag, task

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
OCTETS = {"Content-Type": "application/octet-stream"}

REPOSITORY = os.environ.get("BENCH_REPOSITORY", "")
TAG = os.environ.get("BENCH_TAG", "latest")
BLOB = os.environ.get("BENCH_BLOB", "")
PUSH_PREFIX = os.environ.get("BENCH_PUSH_PREFIX", "bench/plain")
CHUNK_SIZE = int(os.environ.get("BENCH_CHUNK_SIZE", str(5 << 20)))


def _sizes(name: str) -> list[int]:
    return [int(size) for size in os.environ.get(name, "").split(",") if size]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


UPLOAD = b"".join(os.urandom(size) for size in _sizes("BENCH_UPLOAD_SIZE"))
UPLOAD_DIGEST = sha256(UPLOAD)
PUSH_LAYERS = [os.urandom(size) for size in _sizes("BENCH_PUSH_LAYER_SIZES")]


def with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


@tag("manifest-get")
@task
def manifest_get(user: Any) -> None:
    user.client.get(f"/v2/{REPOSITORY}/manifests/{TAG}", headers={"Accept": MANIFEST_TYPE}, name="manifest-get")


@tag("blob-get")
@task
def blob_get(user: Any) -> None:
    user.client.get(f"/v2/{REPOSITORY}/blobs/{BLOB}", name="blob-get")


@tag("image-pull")
@task
def image_pull(user: Any) -> None:
    """Manifest, then config and layers one after another."""
    url = f"/v2/{REPOSITORY}/manifests/{TAG}"
    manifest = user.client.get(url, headers={"Accept": MANIFEST_TYPE}, name="manifest-get").json()
    for blob in [manifest["config"], *manifest["layers"]]:
        user.client.get(f"/v2/{REPOSITORY}/blobs/{blob['digest']}", name="blob-get")


def start_upload(user: Any, repository: str) -> str:
    return str(user.client.post(f"/v2/{repository}/blobs/uploads/", data=b"", name="upload-start").headers["Location"])


@tag("chunked-upload")
@task
def chunked_upload(user: Any) -> None:
    """POST, PATCH each chunk with Content-Range, PUT ?digest= to a new repository."""
    location = start_upload(user, f"{PUSH_PREFIX}/upload-{uuid.uuid4().hex}")
    for start in range(0, len(UPLOAD), CHUNK_SIZE):
        chunk = UPLOAD[start : start + CHUNK_SIZE]
        headers = {**OCTETS, "Content-Range": f"{start}-{start + len(chunk) - 1}"}
        location = user.client.patch(location, data=chunk, headers=headers, name="upload-chunk").headers["Location"]
    user.client.put(with_digest(location, UPLOAD_DIGEST), data=b"", headers=OCTETS, name="upload-finish")


@tag("upload")
@task
def upload(user: Any) -> None:
    """POST, then one PUT ?digest= carrying the bytes: the simplest upload there is, to a new repository."""
    location = start_upload(user, f"{PUSH_PREFIX}/upload-{uuid.uuid4().hex}")
    user.client.put(with_digest(location, UPLOAD_DIGEST), data=UPLOAD, headers=OCTETS, name="upload-finish")


@tag("image-push")
@task
def image_push(user: Any) -> None:
    """A new image per push (every layer gets a unique tail): HEAD, POST + monolithic PUT per blob, manifest."""
    token = uuid.uuid4().hex
    repository = f"{PUSH_PREFIX}/push-{token}"
    layers = [layer + token.encode() for layer in PUSH_LAYERS]
    layer_digests = [sha256(layer) for layer in layers]
    rootfs = {"type": "layers", "diff_ids": layer_digests}
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": rootfs, "config": {}}).encode()
    blobs = [
        (config, sha256(config), CONFIG_TYPE),
        *((b, d, LAYER_TYPE) for b, d in zip(layers, layer_digests, strict=True)),
    ]
    for data, digest, _ in blobs:
        with user.client.head(f"/v2/{repository}/blobs/{digest}", name="blob-head", catch_response=True) as head:
            if head.status_code == 404:
                head.success()
        if head.status_code == 200:
            continue
        location = start_upload(user, repository)
        user.client.put(with_digest(location, digest), data=data, headers=OCTETS, name="upload-finish")
    descriptors = [{"mediaType": kind, "digest": digest, "size": len(data)} for data, digest, kind in blobs]
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": descriptors[0], "layers": descriptors[1:]}
    user.client.put(
        f"/v2/{repository}/manifests/{TAG}",
        data=json.dumps(manifest).encode(),
        headers={"Content-Type": MANIFEST_TYPE},
        name="manifest-put",
    )


TASKS: list[Any] = [manifest_get, blob_get, image_pull, chunked_upload, upload, image_push]
