"""Auth and TLS against real registries: htpasswd behind TLS, token auth with a real token server. The parsing
underneath, and redirects to another host: tests/unit/test_registry_auth.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from registry_tasks.image import Platform
from registry_tasks.registry.auth import (
    Credentials,
)
from registry_tasks.registry.client import ClientConfig, RegistryClient, RequestFailed
from registry_tasks.registry.workflows import pull_image, push_image
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry, start_registry

from ..support.auth_servers import CREDENTIALS, USERNAME, LocalCA, TokenServer, htpasswd_config, token_server
from ..support.helpers import Recorder

AMD64 = Platform("linux", "amd64")


# --- htpasswd behind TLS ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_htpasswd_registry(
    registry_binary: str, local_ca: LocalCA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalRegistry]:
    config = {**local_ca.tls_config(), **htpasswd_config(tmp_path_factory.mktemp("htpasswd"))}
    with start_registry(binary=registry_binary, extra_config=config) as running:
        yield running


def roundtrip(client: RegistryClient, repository: str) -> None:
    image = synthetic_image("2x64KiB", seed=11)
    push_image(client, repository, "v1", image, "chunked", 32 << 10, parallel=3)
    pull_image(client, repository, "v1", AMD64, parallel=3)


def test_htpasswd_over_tls_with_the_ca_file(tls_htpasswd_registry: LocalRegistry, local_ca: LocalCA) -> None:
    assert tls_htpasswd_registry.url.startswith("https://")
    recorder = Recorder()
    config = ClientConfig(ca_file=str(local_ca.ca_file), credentials=CREDENTIALS)
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


def test_wrong_password_is_a_401_failure(tls_htpasswd_registry: LocalRegistry, local_ca: LocalCA) -> None:
    recorder = Recorder()
    config = ClientConfig(ca_file=str(local_ca.ca_file), credentials=Credentials(USERNAME, "wrong-password"))
    client = RegistryClient(tls_htpasswd_registry.url, recorder, config)
    with pytest.raises(RequestFailed):
        client.get_manifest("tls/basic", "v1")
    assert recorder.failures() == ["manifest-get: 401 UNAUTHORIZED: authentication required"]


def test_basic_auth_asked_without_credentials_is_a_401_with_its_code(
    tls_htpasswd_registry: LocalRegistry, local_ca: LocalCA
) -> None:
    """Our own refusal to answer the challenge still keeps the registry's answer: its 401 and its code."""
    recorder = Recorder()
    client = RegistryClient(tls_htpasswd_registry.url, recorder, ClientConfig(ca_file=str(local_ca.ca_file)))
    with pytest.raises(RequestFailed) as refused:
        client.get_manifest("tls/basic", "v1")
    assert recorder.failures() == ["manifest-get: 401 registry asks for Basic auth and no credentials were given"]
    assert (refused.value.status, refused.value.codes, refused.value.temporary) == (401, ("UNAUTHORIZED",), False)


# --- token auth ----------------------------------------------------------------------------------


@contextmanager
def token_registry(binary: str, ca: LocalCA, expires_in: int = 300) -> Iterator[tuple[TokenServer, LocalRegistry]]:
    """A registry in `token` auth mode and the token server it trusts."""
    with (
        token_server(ca, expires_in) as tokens,
        start_registry(binary=binary, extra_config=tokens.registry_config(ca)) as registry,
    ):
        yield tokens, registry


def test_token_auth_caches_tokens_per_scope(registry_binary: str, local_ca: LocalCA) -> None:
    with token_registry(registry_binary, local_ca) as (tokens, registry):
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


def test_short_lived_tokens_are_renewed_before_expiry(registry_binary: str, local_ca: LocalCA) -> None:
    with token_registry(registry_binary, local_ca, expires_in=2) as (tokens, registry):
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


def test_token_server_refusal_is_a_failure(registry_binary: str, local_ca: LocalCA) -> None:
    """The token server's 401 fails the request it was fetched for with its structure (status, code), and the
    check before a run says the credentials were refused (the 401 came from the token GET inside the ping)."""
    with token_registry(registry_binary, local_ca) as (tokens, registry):
        recorder = Recorder()
        config = ClientConfig(credentials=Credentials(USERNAME, "not-it"))
        client = RegistryClient(registry.url, recorder, config)
        with pytest.raises(RequestFailed) as refused:
            client.get_manifest("token/app", "v1")
        problem = RegistryClient(registry.url, Recorder(), config).api_problem()
    assert recorder.failures() == [
        "token: 401 UNAUTHORIZED: bad credentials",
        "manifest-get: 401 UNAUTHORIZED: bad credentials",
    ]
    assert (refused.value.status, refused.value.codes, refused.value.temporary) == (401, ("UNAUTHORIZED",), False)
    assert problem == (
        f"{registry.url}/v2/ answered 401: the registry refused the credentials (401 UNAUTHORIZED: bad credentials)"
    )
