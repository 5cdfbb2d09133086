"""Multi-platform fixtures pushed whole to a real registry: the index and every child, checked by skopeo, and a
pull of another platform's child. Their loading: tests/unit/test_multiplatform.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_tasks.image import Platform
from registry_tasks.registry.client import RegistryClient
from registry_tasks.registry.workflows import pull_image, push_image
from registry_tasks.tools.local_registry import LocalRegistry

from ..support import fixture_builders as fb
from ..support.helpers import Recorder, RunSkopeo
from ..support.images import load_fixture

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")


@pytest.mark.parametrize("kind", fb.MULTI_PLATFORM_KINDS)
def test_multi_platform_fixture_is_pushed_whole(
    registry: LocalRegistry,
    client: RegistryClient,
    recorder: Recorder,
    run_skopeo: RunSkopeo,
    tmp_path: Path,
    kind: str,
) -> None:
    path, multi = fb.write_multi_platform(tmp_path, kind)
    image = load_fixture(path, AMD64)
    assert image.index is not None
    repository = f"multi/{kind}"
    push_image(client, repository, image.tag, image, "chunked", 1 << 20, 5)
    assert recorder.failures() == []
    puts = [event["context"]["reference"] for event in recorder.named("manifest-put")]
    assert puts == [*(i.manifest.digest for i in image.platform_images), image.tag]

    target = f"docker://{registry.host_port}/{repository}:{image.tag}"
    raw = run_skopeo("inspect", "--raw", "--tls-verify=false", target).stdout.encode()
    assert fb.digest(raw) == image.index.digest
    # skopeo verifies every digest it reads; --preserve-digests keeps it from gzipping our tar layers
    run_skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", target, f"oci:{tmp_path}/out")
    (copied,) = json.loads((tmp_path / "out" / "index.json").read_bytes())["manifests"]
    assert copied["digest"] == image.index.digest
    stored = {child.name for child in (tmp_path / "out" / "blobs" / "sha256").iterdir()}
    every_blob = [i.manifest for i in image.platform_images] + [b for i in image.platform_images for b in i.blobs]
    assert {blob.digest.partition(":")[2] for blob in every_blob} <= stored

    recorder.events.clear()
    pull_image(client, repository, image.tag, ARM64, 3)
    assert recorder.failures() == []
    references = [event["context"]["reference"] for event in recorder.named("manifest-get")]
    assert references == [image.tag, multi.arm64.manifest["digest"]]
    blobs = {event["context"]["digest"] for event in recorder.named("blob-get")}
    assert blobs == {multi.arm64.config_digest, *multi.arm64.layer_digests}
