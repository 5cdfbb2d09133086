"""Client profiles: what each real client sends, as data. Workflows read a profile; they never branch on its name.

Measured against distribution 2.8 from its own log, with the real programs run beside ours (tests/system:
test_real_clients.py, test_profiles.py), and read from their sources (docs/real-clients.md):

| | docker 20.10 | containerd 1.6 (ctr, the kubelet's CRI) | skopeo 1.9 | minimal |
|---|---|---|---|---|
| ping per image operation | yes | no | yes | no |
| manifest | HEAD tag, GET digest | HEAD tag, GET digest | GET tag | GET tag |
| config | with the layers | with the layers (ctr 1.6: layers first in 5 of 6) | with the layers | before |
| downloads / uploads at once | 3 / 5 | 3 / 3 | 6 / 6 | options |
| connections | new per request (DisableKeepAlives) | pooled | new per request | pooled |
| HEAD before upload | config only | every blob | every blob | none |
| upload | POST, one PATCH (chunked encoding), PUT | POST, PUT with the body | POST, one PATCH, PUT | --upload-mode |
| HEAD after upload | yes | no | no | no |
| manifest HEAD before PUT | no | yes | no | no |
| token | fetched anew per image operation | cached per host | fetched anew per image operation | cached |
| cut body | Range resume at once | Range resume at once | Range resume after 1 s | fails |
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .. import __version__
from ..image import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    OCI_INDEX,
    OCI_MANIFEST,
)

TAG = f"registry-tasks/{__version__}"
"""Our mark at the end of every profile's User-Agent, so that operators can tell the load apart."""

# How an upload session carries a blob's bytes (RegistryClient.upload_blob).
CHUNKED = "chunked"  # PATCH after PATCH with Content-Range (the spec's chunked upload), then PUT ?digest=
STREAM = "stream"  # one PATCH with Content-Length and no Content-Range, then PUT ?digest=
STREAM_ENCODED = "stream-encoded"  # one PATCH with Transfer-Encoding: chunked (size unknown), then PUT ?digest=
MONOLITHIC = "monolithic"  # POST, then one PUT ?digest= carrying the whole body
UPLOAD_STYLES = (CHUNKED, STREAM, STREAM_ENCODED, MONOLITHIC)

# Connection policies.
PER_REQUEST = "per-request"  # `Connection: close` on every request: a new TCP connection each time
POOLED = "pooled"  # keep-alive connections per simulated client
POOL_PER_OPERATION = "pool-per-operation"  # keep-alive within one image operation, a fresh pool for the next
CONNECTION_POLICIES = (PER_REQUEST, POOLED, POOL_PER_OPERATION)

# Which blobs get a HEAD before their upload.
HEAD_NONE, HEAD_CONFIG, HEAD_ALL = "none", "config", "all"


@dataclass(frozen=True)
class Retry:
    """How often a client tries a blob transfer, and how long it waits before try n (n = 2, 3, ...)."""

    attempts: int = 1
    first_wait: float = 0.0
    growth: float = 0.0  # wait before try n = first_wait + growth * (n - 2)

    def wait(self, attempt: int) -> float:
        return self.first_wait + self.growth * (attempt - 2)


@dataclass(frozen=True)
class ClientProfile:
    """What one kind of client sends for a whole image pull or push."""

    name: str
    user_agent: str
    accept: tuple[str, ...]
    accept_joined: bool  # one `Accept: a, b` line (containerd) or one line per type (Go's []string: docker, skopeo)
    ping: bool
    resolve_by_head: bool  # HEAD the tag, then GET the manifest by the digest it answers
    config_first: bool  # the config before the layers (else alongside them)
    download_parallel: int  # 0: the --pull-parallel option
    upload_parallel: int  # 0: the --push-parallel option
    connections: str
    head_before_upload: str
    upload_style: str  # "": the --upload-mode option
    head_after_upload: bool
    manifest_head_before_put: bool
    mounts: bool  # try a cross-repository mount for a blob this client pushed to another repository
    token_per_operation: bool
    retry: Retry = Retry()
    range_resume: bool = False  # after a body cut mid-way, ask for the rest (`Range: bytes=N-`) instead of it all
    resume_wait: float = 0.0  # seconds before that resume

    def with_user_agent(self, user_agent: str) -> ClientProfile:
        return replace(self, user_agent=user_agent) if user_agent else self


DOCKER_ACCEPT = (
    DOCKER_SCHEMA1_SIGNED, "application/json", DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX,
)  # fmt: skip
CONTAINERD_ACCEPT = (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX, "*/*")
SKOPEO_ACCEPT = (
    OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1, DOCKER_MANIFEST_LIST, OCI_INDEX,
)  # fmt: skip
MINIMAL_ACCEPT = (DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1)

DOCKER = ClientProfile(
    name="docker",
    user_agent=(
        f"docker/20.10.24+dfsg1 go/go1.19.8 git-commit/5d6db84 kernel/{platform.release()} os/linux arch/amd64 "
        f"UpstreamClient(Docker-Client/20.10.24+dfsg1 \\(linux\\)) ({TAG})"
    ),
    accept=DOCKER_ACCEPT,
    accept_joined=False,
    ping=True,
    resolve_by_head=True,
    config_first=False,
    download_parallel=3,
    upload_parallel=5,
    connections=PER_REQUEST,
    head_before_upload=HEAD_CONFIG,
    upload_style=STREAM_ENCODED,
    head_after_upload=True,
    manifest_head_before_put=False,
    mounts=True,
    token_per_operation=True,
    retry=Retry(attempts=5, first_wait=5.0, growth=5.0),  # xfer: 5 attempts, sleeping 5 s x attempt
    range_resume=True,  # transport/http_reader.go
)
CONTAINERD = ClientProfile(
    name="containerd",
    user_agent=f"containerd/1.6.20~ds1 ({TAG})",
    accept=CONTAINERD_ACCEPT,
    accept_joined=True,
    ping=False,
    resolve_by_head=True,
    config_first=False,  # measured: ctr 1.6 fetches the manifest's children at once, layers often first
    download_parallel=3,
    upload_parallel=3,
    connections=POOLED,
    head_before_upload=HEAD_ALL,
    upload_style=MONOLITHIC,
    head_after_upload=False,
    manifest_head_before_put=True,
    mounts=True,
    token_per_operation=False,
    retry=Retry(attempts=2, first_wait=1.0),  # 500/503/504 and transport errors retried once
    range_resume=True,  # remotes/docker/fetcher.go
)
SKOPEO = ClientProfile(
    name="skopeo",
    user_agent=f"skopeo/1.9.3 ({TAG})",
    accept=SKOPEO_ACCEPT,
    accept_joined=False,
    ping=True,
    resolve_by_head=False,
    config_first=False,
    download_parallel=6,
    upload_parallel=6,  # copy.go: one semaphore of 6 blob copies, either way
    connections=PER_REQUEST,
    head_before_upload=HEAD_ALL,
    upload_style=STREAM,
    head_after_upload=False,
    manifest_head_before_put=False,
    mounts=False,
    token_per_operation=True,
    retry=Retry(attempts=2, first_wait=1.0),  # a body cut mid-way is resumed after 1 s
    range_resume=True,  # docker/body_reader.go: after 1 s and jitter
    resume_wait=1.0,
)
MINIMAL = ClientProfile(
    name="minimal",
    user_agent=f"{TAG} (locust)",
    accept=MINIMAL_ACCEPT,
    accept_joined=True,
    ping=False,
    resolve_by_head=False,
    config_first=True,
    download_parallel=0,
    upload_parallel=0,
    connections=POOLED,
    head_before_upload=HEAD_NONE,
    upload_style="",
    head_after_upload=False,
    manifest_head_before_put=False,
    mounts=False,
    token_per_operation=False,
)

PROFILES: Mapping[str, ClientProfile] = {profile.name: profile for profile in (DOCKER, CONTAINERD, SKOPEO, MINIMAL)}
DEFAULT = DOCKER.name
