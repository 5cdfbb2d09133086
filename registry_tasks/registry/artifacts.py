"""OCI 1.1 artifacts: small manifests with a `subject` (signatures, SBOMs, attestations) and the referrers list.

Registries now serve as much supply-chain metadata as images: a signing or scanning pipeline pushes an artifact
per image and every admission check lists the image's referrers. `push_artifact` pushes one as oras and cosign
do (distribution-spec 1.1 "Pushing Manifests with Subject"): blobs, the manifest by digest, and where the
registry does not answer `OCI-Subject` (distribution 2.8 never does) the referrers fallback tag, updated by
read-modify-write. `get_referrers` lists them ("Listing Referrers"), through the API or, on its 404, the tag:
the same descriptors either way. Every request is reported under its own name; a push also as `artifact-push`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import gevent

from ..image import OCI_INDEX, OCI_MANIFEST, Blob, Descriptor, ImageError, blob_from_bytes, parse_manifest
from . import names
from .client import RegistryClient
from .errors import DigestMismatch, RegistryError
from .profiles import MONOLITHIC

EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = blob_from_bytes(EMPTY_MEDIA_TYPE, b"{}")
"""The config of an artifact that has none (image-spec 1.1): `{}`, sha256:44136fa3..., 2 bytes."""

CREATED = "org.opencontainers.image.created"
COSIGN_SIGNATURE = "dev.cosignproject.cosign/signature"
TAG_ATTEMPTS = 5
"""Reads and writes of the fallback tag before a push gives up on a tag others keep changing (412)."""
MAX_PAGES = 10_000
"""A registry that links referrers pages to each other forever is stopped here."""

_NOT_IN_TAG = re.compile(r"[^a-zA-Z0-9._-]")


@dataclass(frozen=True)
class ArtifactKind:
    """One kind of artifact a supply-chain tool attaches to an image: its type and its one layer's type."""

    name: str
    artifact_type: str
    layer_type: str


SIGNATURE = ArtifactKind(
    "signature", "application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.dev.cosign.simplesigning.v1+json"
)
SBOM = ArtifactKind("sbom", "application/spdx+json", "application/spdx+json")
ATTESTATION = ArtifactKind("attestation", "application/vnd.in-toto+json", "application/vnd.in-toto+json")

ARTIFACT_KINDS: dict[str, ArtifactKind] = {kind.name: kind for kind in (SIGNATURE, SBOM, ATTESTATION)}
"""The artifact kinds a push can make, by name: a cosign signature, an SPDX SBOM, an in-toto attestation."""


@dataclass(frozen=True)
class Artifact:
    """An artifact ready to push: its manifest (exact bytes) and its one layer."""

    kind: ArtifactKind
    manifest: Blob
    layer: Blob
    annotations: dict[str, str]

    @property
    def digest(self) -> str:
        return self.manifest.digest

    def referrer(self) -> dict[str, Any]:
        """Its entry in a referrers list: descriptor, artifactType and the manifest's annotations (spec 1.1)."""
        descriptor = self.manifest.descriptor
        return {
            "mediaType": descriptor.media_type,
            "digest": descriptor.digest,
            "size": descriptor.size,
            "artifactType": self.kind.artifact_type,
            "annotations": dict(self.annotations),
        }


def _payload(kind: ArtifactKind, repository: str, subject: Descriptor, token: str, created: str) -> bytes:
    """A small layer of the kind's real shape; `token` makes it (and so every digest above it) unique."""
    algorithm, _, encoded = subject.digest.partition(":")
    document: dict[str, Any]
    if kind is SIGNATURE:  # cosign's "simple signing" payload
        document = {
            "critical": {
                "identity": {"docker-reference": repository},
                "image": {"docker-manifest-digest": subject.digest},
                "type": "cosign container image signature",
            },
            "optional": {"token": token},
        }
    elif kind is SBOM:
        document = {
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": repository or "image",
            "documentNamespace": f"https://registry-tasks.invalid/spdx/{token}",
            "creationInfo": {"created": created, "creators": ["Tool: registry-tasks"]},
            "packages": [],
        }
    else:
        document = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": repository or "image", "digest": {algorithm: encoded}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"buildType": "registry-tasks", "externalParameters": {"token": token}}},
        }
    return json.dumps(document, separators=(",", ":")).encode()


def build_artifact(
    kind: str, subject: Descriptor, token: str, repository: str = "", created: str | None = None
) -> Artifact:
    """The artifact manifest of `kind` (a key of ARTIFACT_KINDS) referring to `subject`: empty config, one layer,
    `subject`, `artifactType` and a creation time; its bytes serialized once (they are hashed and PUT)."""
    try:
        chosen = ARTIFACT_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown artifact kind {kind!r} (known: {', '.join(ARTIFACT_KINDS)})") from None
    when = created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = _payload(chosen, repository, subject, token, when)
    layer = blob_from_bytes(chosen.layer_type, data)
    layer_json = layer.descriptor.to_json()
    if chosen is SIGNATURE:  # where cosign keeps the signature: this one has its shape, not its meaning
        layer_json["annotations"] = {COSIGN_SIGNATURE: base64.b64encode(hashlib.sha256(data).digest()).decode()}
    annotations = {CREATED: when}
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": chosen.artifact_type,
        "config": EMPTY_CONFIG.descriptor.to_json(),
        "layers": [layer_json],
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
        "annotations": annotations,
    }
    manifest = blob_from_bytes(OCI_MANIFEST, json.dumps(document, indent=3).encode())
    return Artifact(chosen, manifest, layer, annotations)


def referrers_tag(digest: str) -> str:
    """The referrers fallback tag of a digest: algorithm (32 characters at most), `-`, encoded part (64 at
    most), any character a tag may not hold replaced by `-` (spec 1.1 "Referrers Tag Schema")."""
    algorithm, _, encoded = digest.partition(":")
    return _NOT_IN_TAG.sub("-", f"{algorithm[:32]}-{encoded[:64]}")


def empty_index() -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


def _index(data: bytes, content_type: str, where: str) -> dict[str, Any] | None:
    """The OCI index in a referrers answer, or None for anything else (not JSON, another type, no list)."""
    try:
        document = parse_manifest(data, where)
    except ImageError:
        return None
    media_type = document.get("mediaType") or content_type.split(";")[0].strip()
    manifests = document.get("manifests")
    if media_type != OCI_INDEX or not isinstance(manifests, list):
        return None
    return document


def push_artifact(
    client: RegistryClient, repository: str, subject: Descriptor, kind: str, token: str, created: str | None = None
) -> str:
    """Push one artifact of `kind` referring to `subject`; returns its manifest digest. Blobs the registry lacks
    (a HEAD each), the manifest by digest, then, unless the registry answered `OCI-Subject`, the fallback tag."""
    artifact = build_artifact(kind, subject, token, repository, created)
    method = names.OPERATION_METHODS[names.ARTIFACT_PUSH]
    with client.measure(method, names.ARTIFACT_PUSH, repository=repository, subject=subject.digest) as outcome:
        client.begin_operation()
        if client.profile.ping:
            client.ping()
        for blob in (EMPTY_CONFIG, artifact.layer):
            if not client.blob_exists(repository, blob.digest):
                client.upload_blob(repository, blob, MONOLITHIC, max(blob.size, 1))
                outcome.length += blob.size
        data = artifact.manifest.body.read_all()
        headers = {"Content-Type": OCI_MANIFEST}
        tail = f"manifests/{artifact.digest}"
        answer = client.send(
            "PUT", names.MANIFEST_PUT, tail, repository, headers, data, (201,), reference=artifact.digest
        )
        outcome.length += len(data)
        announced = answer.headers.get("docker-content-digest")
        if announced and announced != artifact.digest:
            raise DigestMismatch("registry computed another manifest digest")
        processed = answer.headers.get("oci-subject")
        if processed and processed.strip() != subject.digest:
            raise RegistryError("registry answered OCI-Subject naming another subject")
        outcome.context.update(digest=artifact.digest, kind=kind, fallback=not processed)
        if not processed:
            outcome.length += add_referrer(client, repository, subject.digest, artifact.referrer())
        return artifact.digest


def add_referrer(client: RegistryClient, repository: str, subject_digest: str, referrer: dict[str, Any]) -> int:
    """List `referrer` in the fallback tag of `subject_digest` (a new index if the tag is absent), unless it is
    there already; returns the bytes PUT. Read-modify-write: the PUT carries `If-Match` with the read's ETag
    (`If-None-Match: *` when there was no tag), and a 412 (another writer came between) reads again."""
    tag = referrers_tag(subject_digest)
    tail = f"manifests/{tag}"
    for attempt in range(1, TAG_ATTEMPTS + 1):
        read = client.send(
            "GET", names.MANIFEST_GET, tail, repository, {"Accept": OCI_INDEX}, None, (200, 404), reference=tag
        )
        headers = {"Content-Type": OCI_INDEX}
        if read.status == 404:
            index: dict[str, Any] | None = empty_index()
            headers["If-None-Match"] = "*"
        else:
            index = _index(read.body, read.headers.get("content-type", ""), f"referrers tag {tag}")
            if read.headers.get("etag"):
                headers["If-Match"] = read.headers["etag"]
        if index is None:
            raise RegistryError("referrers tag holds something other than an OCI index")
        if any(isinstance(entry, dict) and entry.get("digest") == referrer["digest"] for entry in index["manifests"]):
            return 0
        index["manifests"].append(referrer)
        data = json.dumps(index, indent=3).encode()
        written = client.send("PUT", names.MANIFEST_PUT, tail, repository, headers, data, (201, 412), reference=tag)
        if written.status == 201:
            return len(data)
        gevent.sleep(random.uniform(0, 0.02 * attempt))  # apart from the writer we collided with
    raise RegistryError(f"referrers tag changed under every one of {TAG_ATTEMPTS} updates (412)")


def get_referrers(
    client: RegistryClient, repository: str, digest: str, artifact_type: str | None = None
) -> list[dict[str, Any]]:
    """The descriptors of the manifests referring to `digest` (only those of `artifact_type` when given): the
    referrers API page after page (`Link: rel="next"`), or, when it answers 404, the fallback tag (no tag: none).
    A filter the registry did not apply (no `OCI-Filters-Applied: artifactType`) is applied here."""
    query = f"?{urlencode({'artifactType': artifact_type})}" if artifact_type else ""
    url: str | None = f"referrers/{digest}{query}"
    found: list[dict[str, Any]] = []
    for page in range(MAX_PAGES):
        if url is None:
            return found
        expect = (200, 404) if page == 0 else (200,)
        answer = client.send(
            "GET", names.REFERRERS_GET, url, repository, {"Accept": OCI_INDEX}, None, expect, digest=digest
        )
        if answer.status == 404:
            return _from_tag(client, repository, digest, artifact_type)
        index = _index(answer.body, answer.headers.get("content-type", ""), "referrers answer")
        if index is None:
            raise RegistryError("referrers answer is not an OCI index")
        filtered = "artifacttype" in answer.headers.get("oci-filters-applied", "").replace(" ", "").lower().split(",")
        found += _matching(index["manifests"], None if filtered else artifact_type)
        url = answer.next_url
    raise RegistryError(f"more than {MAX_PAGES} pages of referrers")


def _from_tag(client: RegistryClient, repository: str, digest: str, artifact_type: str | None) -> list[dict[str, Any]]:
    """The referrers listed in the fallback tag; no tag, or a tag that is no OCI index, means none (spec 1.1)."""
    tag = referrers_tag(digest)
    accept = {"Accept": OCI_INDEX}
    answer = client.send(
        "GET", names.MANIFEST_GET, f"manifests/{tag}", repository, accept, None, (200, 404), reference=tag
    )
    index = _index(answer.body, answer.headers.get("content-type", ""), f"referrers tag {tag}")
    return [] if answer.status == 404 or index is None else _matching(index["manifests"], artifact_type)


def _matching(entries: list[Any], artifact_type: str | None) -> list[dict[str, Any]]:
    """The descriptors of a referrers list, of `artifact_type` only when given."""
    descriptors = [entry for entry in entries if isinstance(entry, dict)]
    return [entry for entry in descriptors if artifact_type is None or entry.get("artifactType") == artifact_type]
