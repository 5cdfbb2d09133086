"""Auth and TLS against real registries (htpasswd behind TLS, token auth with a real token server),
redirects to another host, and the parsing underneath."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from registry_tasks.image import Platform
from registry_tasks.registry.auth import (
    Authenticator,
    AuthError,
    Credentials,
    docker_config_credentials,
    parse_challenges,
    read_token_answer,
)
from registry_tasks.registry.client import ClientConfig, RegistryClient, RequestFailed
from registry_tasks.registry.workflows import pull_image, push_image
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry, start_registry

from .auth_servers import PASSWORD, USERNAME, LocalCA, TokenServer, htpasswd_config, token_server
from .helpers import Recorder, serve

CREDENTIALS = Credentials(USERNAME, PASSWORD)
AMD64 = Platform("linux", "amd64")


# --- parsing -------------------------------------------------------------------------------------


def test_bearer_challenge_with_several_scopes() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"'
    )
    (challenge,) = parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.params["realm"] == "https://auth.example/token"
    assert challenge.scopes == ("repository:a/b:pull,push", "repository:c:pull")
    assert challenge.error == "insufficient_scope"


def test_several_challenges_and_bearer_is_preferred() -> None:
    challenges = parse_challenges('Basic realm="x, y", Bearer realm="https://t/token",service="s"')
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].params["realm"] == "x, y"
    auth = Authenticator(CREDENTIALS)
    assert auth.learn('Basic realm="x, y", Bearer realm="https://t/token",service="s"').scheme == "bearer"


def test_basic_challenge_without_credentials_is_refused() -> None:
    with pytest.raises(AuthError, match="no credentials were given"):
        Authenticator(None).learn('Basic realm="registry"')


def test_token_answer_forms() -> None:
    assert read_token_answer(b'{"access_token": "abc", "expires_in": 100}', now=0).renew_at == 90
    token = read_token_answer(b'{"token": "abc"}', now=10)
    assert token.value == "abc" and token.renew_at == 10 + 60 * 0.9
    with pytest.raises(AuthError, match="neither token nor access_token"):
        read_token_answer(b'{"expires_in": 5}', now=0)
    with pytest.raises(AuthError, match="not JSON"):
        read_token_answer(b"<html>", now=0)


def test_secrets_are_not_in_reprs() -> None:
    assert PASSWORD not in repr(CREDENTIALS)
    token = read_token_answer(b'{"token": "tok-123456"}', now=0)
    assert "tok-123456" not in repr(token)


@pytest.mark.parametrize("key", ["127.0.0.1:5000", "https://127.0.0.1:5000", "https://127.0.0.1:5000/v1/"])
def test_docker_config_credentials(tmp_path: Path, key: str) -> None:
    auth = base64.b64encode(b"me:pw:with:colons").decode()
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {key: {"auth": auth}, "other:1": {"auth": "eDp5"}}}))
    assert docker_config_credentials(str(path), "https://127.0.0.1:5000") == Credentials("me", "pw:with:colons")
    assert docker_config_credentials(str(path), "https://127.0.0.1:5001") is None


def test_broken_docker_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(AuthError, match=f"docker config {path}: cannot read it"):
        docker_config_credentials(str(path), "https://127.0.0.1:5000")
    assert docker_config_credentials(str(tmp_path / "missing.json"), "https://x") is None


# --- htpasswd behind TLS ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def tls_htpasswd_registry(
    registry_binary: str, test_ca: LocalCA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalRegistry]:
    config = {**test_ca.tls_config(), **htpasswd_config(tmp_path_factory.mktemp("htpasswd"))}
    with start_registry(binary=registry_binary, extra_config=config) as running:
        yield running


def roundtrip(client: RegistryClient, repository: str) -> None:
    image = synthetic_image("2x64KiB", seed=11)
    push_image(client, repository, "v1", image, "chunked", 32 << 10, parallel=3)
    pull_image(client, repository, "v1", AMD64, parallel=3)


def test_htpasswd_over_tls_with_the_ca_file(tls_htpasswd_registry: LocalRegistry, test_ca: LocalCA) -> None:
    assert tls_htpasswd_registry.url.startswith("https://")
    recorder = Recorder()
    config = ClientConfig(ca_file=str(test_ca.ca_file), credentials=CREDENTIALS)
    client = RegistryClient(tls_htpasswd_registry.url, recorder, config)
    roundtrip(client, "tls/basic")
    client.close()
    assert recorder.failures() == []
    assert len(recorder.named("image-pull")) == 1


def test_tls_is_verified_by_default(tls_htpasswd_registry: LocalRegistry) -> None:
    recorder = Recorder()
    client = RegistryClient(tls_htpasswd_registry.url, recorder, ClientConfig(credentials=CREDENTIALS))
    with pytest.raises(RequestFailed):
        client.get_manifest("tls/basic", "v1")
    (failure,) = recorder.failures()
    assert "CERTIFICATE_VERIFY_FAILED" in failure


def test_insecure_skips_verification(tls_htpasswd_registry: LocalRegistry) -> None:
    recorder = Recorder()
    config = ClientConfig(tls_verify=False, credentials=CREDENTIALS)
    client = RegistryClient(tls_htpasswd_registry.url, recorder, config)
    roundtrip(client, "tls/insecure")
    assert recorder.failures() == []


def test_wrong_password_is_a_401_failure(tls_htpasswd_registry: LocalRegistry, test_ca: LocalCA) -> None:
    recorder = Recorder()
    config = ClientConfig(ca_file=str(test_ca.ca_file), credentials=Credentials(USERNAME, "wrong-password"))
    client = RegistryClient(tls_htpasswd_registry.url, recorder, config)
    with pytest.raises(RequestFailed):
        client.get_manifest("tls/basic", "v1")
    assert recorder.failures() == ["manifest-get: 401 UNAUTHORIZED: authentication required"]


# --- token auth ----------------------------------------------------------------------------------


@contextmanager
def token_registry(binary: str, ca: LocalCA, expires_in: int = 300) -> Iterator[tuple[TokenServer, LocalRegistry]]:
    """A registry in `token` auth mode and the token server it trusts."""
    with (
        token_server(ca, expires_in) as tokens,
        start_registry(binary=binary, extra_config=tokens.registry_config(ca)) as registry,
    ):
        yield tokens, registry


def test_token_auth_caches_tokens_per_scope(registry_binary: str, test_ca: LocalCA) -> None:
    with token_registry(registry_binary, test_ca) as (tokens, registry):
        recorder = Recorder()
        client = RegistryClient(registry.url, recorder, ClientConfig(credentials=CREDENTIALS))
        roundtrip(client, "token/app")
        for _ in range(20):
            client.get_manifest("token/app", "v1")
        client.close()
    assert recorder.failures() == []
    fetched = recorder.named("token")
    # one token for pull,push on the repository (the push), one for pull (the pulls): all else reuses them
    assert len(fetched) == len(tokens.issued) == 2
    assert len(recorder.events) - len(fetched) > 30
    granted = sorted(sorted({a for access in claims["access"] for a in access["actions"]}) for claims in tokens.issued)
    assert granted == [["pull"], ["pull", "push"]]


def test_short_lived_tokens_are_renewed_before_expiry(registry_binary: str, test_ca: LocalCA) -> None:
    with token_registry(registry_binary, test_ca, expires_in=2) as (tokens, registry):
        recorder = Recorder()
        client = RegistryClient(registry.url, recorder, ClientConfig(credentials=CREDENTIALS))
        roundtrip(client, "token/short")
        deadline = time.monotonic() + 4.5
        while time.monotonic() < deadline:
            client.get_manifest("token/short", "v1")
            time.sleep(0.05)
        client.close()
    assert recorder.failures() == []
    pulls = [claims for claims in tokens.issued if claims["access"][0]["actions"] == ["pull"]]
    assert 2 <= len(pulls) <= 5  # renewed at 90% of 2 s over ~4.5 s, never per request


def test_token_server_refusal_is_a_failure(registry_binary: str, test_ca: LocalCA) -> None:
    with token_registry(registry_binary, test_ca) as (tokens, registry):
        recorder = Recorder()
        config = ClientConfig(credentials=Credentials(USERNAME, "not-it"))
        client = RegistryClient(registry.url, recorder, config)
        with pytest.raises(RequestFailed):
            client.get_manifest("token/app", "v1")
    assert recorder.failures() == [
        "token: 401 UNAUTHORIZED: bad credentials",
        "manifest-get: 401 UNAUTHORIZED: bad credentials",
    ]


# --- redirects -----------------------------------------------------------------------------------


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
