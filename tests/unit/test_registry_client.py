"""RegistryClient against small in-test servers, for what a real registry does not do: dribble a body, refuse
connections, never accept one, redirect a blob to another host. Against a real registry: tests/system/test_client.py."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from registry_tasks.registry.client import ClientConfig, RegistryClient, RequestFailed, with_digest

from ..support.auth_servers import CREDENTIALS
from ..support.helpers import Recorder, serve, slow_blob_server


def test_with_digest_keeps_the_query() -> None:
    assert with_digest("http://r/v2/a/blobs/uploads/u?_state=x%3D", "sha256:ab") == (
        "http://r/v2/a/blobs/uploads/u?_state=x%3D&digest=sha256%3Aab"
    )
    assert (
        with_digest("http://r/v2/a/blobs/uploads/u", "sha256:ab") == "http://r/v2/a/blobs/uploads/u?digest=sha256%3Aab"
    )


def test_blob_time_covers_the_whole_body(recorder: Recorder) -> None:
    """Time to the last byte, not to the headers: a body dribbled over ~0.6 s must show >= 0.5 s."""
    body = bytes(range(256)) * 400
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    with serve(slow_blob_server(body, pieces=4, pause=0.15)) as url:
        slow = RegistryClient(url, recorder)
        assert slow.get_blob("test/slow", digest, len(body)) == len(body)
        slow.close()
    event = recorder.named("blob-get")[0]
    assert event["exception"] is None
    assert event["response_time"] >= 500
    assert event["response_length"] == len(body)


def test_refused_connection_is_a_failure_not_an_exception(recorder: Recorder) -> None:
    with serve(slow_blob_server(b"", 1, 0)) as url:
        pass  # the server is gone: its port now refuses connections
    gone = RegistryClient(url, recorder)
    with pytest.raises(RequestFailed):
        gone.get_manifest("test/x", "latest")
    (message,) = recorder.failures()
    assert message.startswith("manifest-get: ConnectionRefusedError")


@pytest.fixture
def listening_without_accepting() -> Iterator[str]:
    """A loopback port whose accept queue is full: new connections hang in SYN, as with a dead host."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers: list[socket.socket] = []
    with contextlib.suppress(TimeoutError):
        while len(fillers) < 8:
            fillers.append(socket.create_connection(server.getsockname(), timeout=0.3))
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    for sock in (*fillers, server):
        sock.close()


def test_connect_timeout_says_so(listening_without_accepting: str, recorder: Recorder) -> None:
    client = RegistryClient(listening_without_accepting, recorder, ClientConfig(connect_timeout=0.3))
    with pytest.raises(RequestFailed):
        client.get_manifest("faults/app", "latest")
    client.close()
    assert recorder.failures() == ["manifest-get: timeout: no connection within 0.3 s"]


def test_blob_redirect_to_another_host_drops_authorization() -> None:
    body = b"layer bytes " * 5000
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    seen: dict[str, Any] = {}

    class Storage(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen["authorization"] = self.headers.get("Authorization")
            if seen["authorization"]:
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serve(Storage) as storage_url:

        class Registry(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not self.headers.get("Authorization"):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(307)
                self.send_header("Location", f"{storage_url}/bucket/blob?X-Amz-Signature=abc")
                self.send_header("Content-Length", "0")
                self.end_headers()

        with serve(Registry) as registry_url:
            recorder = Recorder()
            client = RegistryClient(registry_url, recorder, ClientConfig(credentials=CREDENTIALS))
            assert client.get_blob("app", digest, len(body)) == len(body)
            client.close()
    assert seen["authorization"] is None
    (event,) = recorder.events
    assert event["name"] == "blob-get" and event["exception"] is None
    assert event["response_length"] == len(body)


class RefusingBasic(http.server.BaseHTTPRequestHandler):
    """distribution's htpasswd auth refusing every request, credentials or not (401, Basic challenge, its body)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n'
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="registry-tests"')
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_start_up_check_tells_refused_credentials_from_missing_ones() -> None:
    """Basic auth answers the retry with credentials by a 401 too: given, they were refused; without any, they are
    wanting. (Found with htpasswd on distribution 2.8 and 3: the check said "give --registry-username" to a wrong
    password, and "refused the credentials" when none were given.)"""
    with serve(RefusingBasic) as url:
        refused = RegistryClient(url, Recorder(), ClientConfig(credentials=CREDENTIALS)).api_problem()
        missing = RegistryClient(url, Recorder()).api_problem()
    why = "401 UNAUTHORIZED: authentication required"
    assert refused == f"{url}/v2/ answered 401: the registry refused the credentials ({why})"
    assert missing == f"{url}/v2/ answered 401: give --registry-username and --registry-password (or a docker config)"
