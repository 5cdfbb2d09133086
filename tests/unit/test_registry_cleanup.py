"""--cleanup's ledger (which pushes it keeps to delete) and its deletes against an in-test server that keeps a tag
after its digest is deleted, as go-containerregistry does. Deleting from a real registry: tests/system/test_cleanup.py
and tests/system/test_registries.py."""

from __future__ import annotations

import http.server

import pytest

from registry_tasks.registry.cleanup import PushLedger, delete_pushed
from registry_tasks.registry.client import RegistryClient

from ..support.helpers import Recorder, serve


def test_ledger_keeps_successful_manifest_puts_under_its_prefix() -> None:
    ledger = PushLedger()
    ledger.prefix = "lt/push-"
    ledger.record("manifest-put", None, {"repository": "lt/push-a", "reference": "latest"})
    ledger.record("manifest-put", RuntimeError("500"), {"repository": "lt/push-b", "reference": "latest"})
    ledger.record("manifest-put", None, {"repository": "lt/app-tags", "reference": "put-1"})
    ledger.record("manifest-get", None, {"repository": "lt/push-a", "reference": "latest"})
    assert ledger.take() == [("lt/push-a", "latest")]
    assert ledger.take() == []


def manifest_server(
    keeps_tags: bool, stored: dict[str, str], asked: list[str]
) -> type[http.server.BaseHTTPRequestHandler]:
    """Manifests of one repository as `stored` (reference -> digest): HEAD answers a reference's digest, DELETE
    removes the reference named and, unless `keeps_tags` (go-containerregistry v0.22), every tag of that digest."""

    class Manifests(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def answer(self, status: int, digest: str = "") -> None:
            self.send_response(status)
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            asked.append(f"HEAD {self.path}")
            reference = self.path.rsplit("/", 1)[1]
            self.answer(200, stored[reference]) if reference in stored else self.answer(404)

        def do_DELETE(self) -> None:
            asked.append(f"DELETE {self.path}")
            reference = self.path.rsplit("/", 1)[1]
            digest = stored.pop(reference)
            if not keeps_tags:
                for tag in [tag for tag, pointed in stored.items() if pointed == digest]:
                    del stored[tag]
            self.answer(202)

    return Manifests


@pytest.mark.parametrize("keeps_tags", [False, True], ids=["tags-go-with-the-digest", "tags-kept"])
def test_a_tag_that_outlives_its_digest_is_deleted_too(keeps_tags: bool) -> None:
    """Every pushed tag is gone after the cleanup: with its digest (distribution), or by a DELETE of its own where
    the registry deletes only what it is named (go-containerregistry)."""
    digest = "sha256:" + "a" * 64
    stored, asked, recorder = {"1.0": digest, digest: digest}, [], Recorder()
    with serve(manifest_server(keeps_tags, stored, asked)) as url:
        client = RegistryClient(url, recorder)
        assert delete_pushed(client, [("lt/push-a", "1.0")], 1) == 1
        client.close()
    assert stored == {} and recorder.failures() == []
    base = "/v2/lt/push-a/manifests"
    expected = [f"HEAD {base}/1.0", f"DELETE {base}/{digest}", f"HEAD {base}/1.0"]
    assert asked == expected + ([f"DELETE {base}/1.0"] if keeps_tags else [])
    assert [event["context"]["reference"] for event in recorder.named("manifest-delete")] == [
        digest,
        *(["1.0"] if keeps_tags else []),
    ]
