"""RegistryClient against a real registry (distribution 2.8), and through a proxy that corrupts what it serves.
Against small in-test servers: tests/unit/test_registry_client.py."""

from __future__ import annotations

import pytest

from registry_tasks.image import OCI_LAYER_TAR, Blob, Body, MemorySegment, SyntheticSegment, blob_from_body
from registry_tasks.registry.client import ClientConfig, RegistryClient, RequestFailed
from registry_tasks.tools.local_registry import LocalRegistry

from ..support.helpers import Recorder, proxy

MIB = 1 << 20


def synthetic_blob(size: int, stream: int = 0) -> Blob:
    return blob_from_body(OCI_LAYER_TAR, Body((SyntheticSegment(7, stream, size),)))


def test_chunked_upload_with_uneven_last_chunk(client: RegistryClient, recorder: Recorder) -> None:
    blob = synthetic_blob(2 * MIB + MIB // 2 + 3, stream=1)
    client.upload_blob("test/chunked", blob, "chunked", MIB)
    chunks = recorder.named("upload-chunk")
    assert [event["response_length"] for event in chunks] == [MIB, MIB, MIB // 2 + 3]
    assert [event["request_type"] for event in chunks] == ["PATCH"] * 3
    assert len(recorder.named("upload-start")) == 1
    assert recorder.named("upload-finish")[0]["response_length"] == 0
    assert client.blob_exists("test/chunked", blob.digest)
    assert client.get_blob("test/chunked", blob.digest, blob.size) == blob.size
    assert recorder.failures() == []


@pytest.mark.parametrize(("mode", "entry"), [("monolithic", "upload-finish"), ("stream", "upload-chunk")])
def test_single_request_upload_modes(client: RegistryClient, recorder: Recorder, mode: str, entry: str) -> None:
    blob = synthetic_blob(MIB + 17, stream=2 if mode == "stream" else 3)
    client.upload_blob(f"test/{mode}", blob, mode, MIB // 4)
    carrying = [event for event in recorder.events if event["response_length"] == blob.size]
    assert [event["name"] for event in carrying] == [entry]
    assert recorder.named("upload-chunk") == ([] if mode == "monolithic" else carrying)
    assert client.get_blob(f"test/{mode}", blob.digest) == blob.size
    assert recorder.failures() == []


def test_empty_blob_uploads(client: RegistryClient, recorder: Recorder) -> None:
    blob = blob_from_body(OCI_LAYER_TAR, Body((MemorySegment(b""),)))
    client.upload_blob("test/empty", blob, "chunked", MIB)
    assert client.blob_exists("test/empty", blob.digest)
    assert recorder.failures() == []


def test_cross_repository_mount(client: RegistryClient, recorder: Recorder) -> None:
    blob = synthetic_blob(4096, stream=4)
    client.upload_blob("test/mount-source", blob, "monolithic", MIB)
    assert client.mount_blob("test/mount-target", blob.digest, "test/mount-source") is True
    assert client.blob_exists("test/mount-target", blob.digest)
    missing = synthetic_blob(4096, stream=5)
    assert client.mount_blob("test/mount-target", missing.digest, "test/mount-source") is False
    assert recorder.failures() == []


def test_registry_error_codes_become_failure_messages(client: RegistryClient, recorder: Recorder) -> None:
    with pytest.raises(RequestFailed):
        client.get_manifest("test/nothing-here", "latest")
    with pytest.raises(RequestFailed):
        client.get_blob("test/nothing-here", "sha256:" + "0" * 64)
    assert recorder.failures() == [
        "manifest-get: 404 MANIFEST_UNKNOWN: manifest unknown",
        "blob-get: 404 BLOB_UNKNOWN: blob unknown to registry",
    ]
    assert all("nothing-here" not in message for message in recorder.failures())


def test_upload_to_a_stale_session_is_a_failure_with_the_code(client: RegistryClient, recorder: Recorder) -> None:
    """One upload session per blob: reusing a finished session is what seed scripts get wrong."""
    first, second = synthetic_blob(1000, stream=6), synthetic_blob(1000, stream=7)
    session = client.start_upload("test/stale")
    client.upload_chunk(session, first, 0, first.size)
    client.finish_upload(session, first)
    with pytest.raises(RequestFailed):
        client.upload_chunk(session, second, 0, second.size)
    assert recorder.failures() == ["upload-chunk: 404 BLOB_UPLOAD_UNKNOWN: blob upload unknown to registry"]


def test_corrupted_blob_byte_is_caught(registry: LocalRegistry, client: RegistryClient) -> None:
    blob = synthetic_blob(300_000, stream=8)
    client.upload_blob("test/corrupt", blob, "monolithic", MIB)

    def flip_one_byte(path: str, data: bytes) -> bytes:
        if "/blobs/" not in path or not data:
            return data
        return data[:1000] + bytes([data[1000] ^ 1]) + data[1001:]

    recorder = Recorder()
    with proxy(registry.url, flip_one_byte) as url:
        proxied = RegistryClient(url, recorder)
        with pytest.raises(RequestFailed):
            proxied.get_blob("test/corrupt", blob.digest, blob.size)
        proxied.close()
    assert recorder.failures() == ["blob-get: blob bytes do not match their digest"]
    assert recorder.events[0]["response_length"] == blob.size


def test_corrupted_blob_passes_when_verification_is_off(registry: LocalRegistry, client: RegistryClient) -> None:
    blob = synthetic_blob(5000, stream=9)
    client.upload_blob("test/unverified", blob, "monolithic", MIB)
    recorder = Recorder()
    with proxy(registry.url, lambda path, data: data[::-1] if "/blobs/" in path else data) as url:
        proxied = RegistryClient(url, recorder, ClientConfig(verify_digests=False))
        assert proxied.get_blob("test/unverified", blob.digest) == blob.size
        proxied.close()
    assert recorder.failures() == []
