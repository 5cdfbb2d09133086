"""`measure` decides what is the registry's failure and what is a bug of ours: a real RegistryClient against a
loopback HTTP server answering what a registry may answer. Failures keep the answer's structure (status, codes,
temporary); a TypeError, a KeyError or a ValueError of our own raised in a measured block goes up as it is, and
nothing is reported for that block. The same with the shipped locustfile: tests/system/test_locust_run.py."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from typing import Any

import pytest

from registry_tasks.image import OCI_MANIFEST, ImageError, Platform
from registry_tasks.registry import names
from registry_tasks.registry.client import RegistryClient, RequestFailed
from registry_tasks.registry.errors import RegistryError
from registry_tasks.registry.workflows import pull_image
from registry_tasks.sources import synthetic_image

from ..support.helpers import Recorder, serve

Answer = tuple[int, dict[str, str], bytes]
CONFIG_DIGEST = "sha256:" + "c" * 64
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": CONFIG_DIGEST, "size": 2},
        "layers": [],
    }
).encode()


def spec_error(status: int, code: str, message: str, **headers: str) -> Answer:
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": "a/b"}]}).encode()
    return status, {"Content-Type": "application/json", **headers}, body


def registry_answering(answers: dict[str, Answer]) -> type[http.server.BaseHTTPRequestHandler]:
    """A server answering each path (query left out) as told; 404 for any other."""

    class Answers(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, body = answers.get(self.path.split("?")[0], (404, {}, b""))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = answer

    return Answers


@pytest.fixture
def registry() -> Iterator[str]:
    answers = {
        "/v2/": (200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}"),
        "/v2/app/tags/list": (200, {"Content-Type": "application/json"}, b'{"name": "app", "tags": ["v1"]}'),
        "/v2/html/tags/list": (200, {"Content-Type": "text/html"}, b"<html>a login page</html>"),
        "/v2/busy/manifests/v1": spec_error(503, "UNAVAILABLE", "service unavailable", **{"Retry-After": "2"}),
        "/v2/app/manifests/gone": spec_error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
        "/v2/app/manifests/v1": (200, {"Content-Type": OCI_MANIFEST}, MANIFEST),
        "/v2/app/manifests/bad": (200, {"Content-Type": OCI_MANIFEST}, b"{not json"),
        f"/v2/app/blobs/{CONFIG_DIGEST}": spec_error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
        "/v2/links/tags/list": (200, {"Link": '<http://[::1/v2/links/tags/list?last=a>; rel="next"'}, b"{}"),
        "/v2/bracket/blobs/uploads/": (202, {"Location": "http://[::1/upload"}, b""),
        "/v2/ftp/blobs/uploads/": (202, {"Location": "ftp://127.0.0.1/upload"}, b""),
    }
    with serve(registry_answering(answers)) as url:
        yield url


@pytest.mark.parametrize(
    "bug",
    [TypeError("unsupported operand"), KeyError("digest"), ValueError("ours"), ImageError("a fixture of ours")],
    ids=lambda bug: type(bug).__name__,
)
def test_a_bug_in_a_measured_block_goes_up_and_is_not_a_failure(registry: str, bug: Exception) -> None:
    """The registry answered well; our code then failed: Locust must see our exception (it logs the traceback
    and counts it under Exceptions), not a registry failure that hides it. Nothing is reported for the block."""
    recorder = Recorder()
    client = RegistryClient(registry, recorder)
    with pytest.raises(type(bug)) as raised, client.measure("GET", names.TAGS_WALK, repository="app"):
        client.tags_page("app", 10)
        raise bug
    assert raised.value is bug and not isinstance(raised.value, RequestFailed)
    assert [(event["name"], event["exception"]) for event in recorder.events] == [(names.TAGS_LIST, None)]
    client.ping()  # the client goes on, its measuring undisturbed: the next block is reported as usual
    ping = recorder.named(names.PING)[0]
    assert ping["exception"] is None and ping["url"] == f"{registry}/v2/"
    client.close()


def test_a_listing_that_is_not_json_is_the_registrys_failure(registry: str) -> None:
    recorder = Recorder()
    client = RegistryClient(registry, recorder)
    with pytest.raises(RequestFailed) as failed:
        client.tags_page("html", 10)
    assert recorder.failures() == ["tags-list: bad response: Expecting value: line 1 column 1 (char 0)"]
    assert (failed.value.status, failed.value.codes, failed.value.temporary) == (200, (), False)
    assert isinstance(failed.value.__cause__, RegistryError)
    client.close()


def test_a_registry_error_keeps_status_codes_and_retry_after(registry: str) -> None:
    recorder = Recorder()
    client = RegistryClient(registry, recorder)
    with pytest.raises(RequestFailed) as busy:
        client.get_manifest("busy", "v1")
    with pytest.raises(RequestFailed) as gone:
        client.get_manifest("app", "gone")
    assert recorder.failures() == [
        "manifest-get: 503 UNAVAILABLE: service unavailable",  # the detail (a name) stays out: they group
        "manifest-get: 404 MANIFEST_UNKNOWN: manifest unknown",
    ]
    assert (busy.value.status, busy.value.codes, busy.value.temporary) == (503, ("UNAVAILABLE",), True)
    assert (gone.value.status, gone.value.codes, gone.value.temporary) == (404, ("MANIFEST_UNKNOWN",), False)
    cause = recorder.events[0]["exception"].cause
    assert isinstance(cause, RegistryError) and cause.retry_after == 2.0
    client.close()


def test_a_pull_fails_with_the_structure_of_the_answer_that_failed_it(registry: str) -> None:
    """The image-pull around a blob-get that got a 404 fails with that 404 and its code, not retried (a real
    client does not retry a 404); a manifest that is not JSON fails the pull as a bad response."""
    recorder = Recorder()
    client = RegistryClient(registry, recorder)
    with pytest.raises(RequestFailed) as missing:
        pull_image(client, "app", "v1", Platform("linux", "amd64"))
    assert (missing.value.status, missing.value.codes, missing.value.temporary) == (404, ("BLOB_UNKNOWN",), False)
    with pytest.raises(RequestFailed) as bad:
        pull_image(client, "app", "bad", Platform("linux", "amd64"))
    assert bad.value.status == 200 and str(bad.value).startswith("bad response: manifest app:bad: not valid JSON")
    assert [message.split(":")[0] for message in recorder.failures()] == [
        names.BLOB_GET, names.IMAGE_PULL, names.IMAGE_PULL
    ]  # fmt: skip
    client.close()


def test_urls_the_registry_sends_that_we_cannot_follow_are_its_bad_responses(registry: str) -> None:
    """A Link or Location that does not parse (an IPv6 bracket not closed) or that we cannot send to (another
    scheme): urllib's ValueError, turned into the registry's failure where the URL is read, not an exception."""
    recorder = Recorder()
    client = RegistryClient(registry, recorder)
    with pytest.raises(RequestFailed):
        client.tags_page("links", 10)
    with pytest.raises(RequestFailed):
        client.start_upload("bracket")
    session = client.start_upload("ftp")  # taken as given: the PATCH to it is what fails
    with pytest.raises(RequestFailed) as patch:
        client.upload_chunk(session, synthetic_image("1x1KiB", 3).layers[0], 0, 1024)
    assert recorder.failures() == [
        "tags-list: bad response: unsupported URL",
        "upload-start: bad response: unsupported URL",
        "upload-chunk: bad response: unsupported URL",
    ]
    assert (patch.value.status, patch.value.temporary) == (None, False)
    client.close()
