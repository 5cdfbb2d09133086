"""Registry auth without a registry: challenges, token answers, docker config credentials, secrets kept out of
reprs. Against real registries and a token server: tests/system/test_auth.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from registry_tasks.registry.auth import (
    Authenticator,
    AuthError,
    Credentials,
    docker_config_credentials,
    parse_challenges,
    read_token_answer,
)

from ..support.auth_servers import CREDENTIALS, PASSWORD


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
