"""Registry authentication: WWW-Authenticate challenges, Basic, Bearer tokens cached per scope set, and
docker config.json credentials. It knows no HTTP client and no Locust: the client asks it for headers,
hands it challenges, and fetches tokens with the request it builds.

Secrets never leave this module in text form: `Credentials` and `Token` hide their values in repr.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..errors import RegistryTasksError

DEFAULT_TOKEN_LIFETIME = 60
#: A token is renewed when less than this share of its lifetime is left, so none expires in flight.
RENEW_SHARE = 0.1
_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9_.-]*)(?:\s+|$)")


class AuthError(RegistryTasksError, ValueError):
    """Unusable credentials or token answer; the message names the source, never the secret."""


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: scheme (lowercase) and its parameters."""

    scheme: str
    params: Mapping[str, str]

    @property
    def scopes(self) -> tuple[str, ...]:
        """Scopes asked for; several are space-separated (distribution's accesscontroller)."""
        return tuple(self.params.get("scope", "").split())

    @property
    def error(self) -> str:
        return self.params.get("error", "")


def parse_challenges(header: str) -> list[Challenge]:
    """Parse `Bearer realm="...",service="...",scope="a b", Basic realm="..."` into challenges."""
    challenges: list[Challenge] = []
    position = 0
    while position < len(header):
        scheme = _SCHEME.match(header, position)
        if scheme is None:
            break
        position = scheme.end()
        params: dict[str, str] = {}
        while position < len(header):
            param = _PARAM.match(header, position)
            if param is None or (param.group(2) is None and not param.group(3) and "=" not in param.group(0)):
                break
            name, quoted, bare = param.groups()
            params[name.lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            position = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), params))
        while position < len(header) and header[position] in ", ":
            position += 1
    return challenges


@dataclass(frozen=True)
class Credentials:
    """A username and password; the password is never shown."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def docker_config_credentials(path: str, registry_url: str) -> Credentials | None:
    """Credentials for the registry's host from a docker config.json `auths` entry, if any.

    Entries may be keyed `host:port`, `https://host:port` or `https://host:port/v1/`, as docker writes them.
    """
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AuthError(f"docker config {path}: cannot read it ({type(exc).__name__})") from None
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        return None
    wanted = urlsplit(registry_url).netloc
    for key, entry in auths.items():
        netloc = urlsplit(key if "://" in key else f"//{key}").netloc
        if netloc != wanted or not isinstance(entry, dict):
            continue
        if isinstance(entry.get("auth"), str):
            try:
                username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise AuthError(f"docker config {path}: auths[{key!r}].auth is not base64 of user:password") from None
            return Credentials(username, password)
        if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            return Credentials(entry["username"], entry["password"])
    return None


@dataclass
class Token:
    """A bearer token and when to renew it; the value is never shown."""

    value: str = field(repr=False)
    renew_at: float

    def fresh(self, now: float) -> bool:
        return now < self.renew_at


def read_token_answer(body: bytes, now: float) -> Token:
    """`{"token"|"access_token": ..., "expires_in": s}` -> Token, renewed before it expires."""
    try:
        document = json.loads(body)
    except ValueError:
        raise AuthError("token answer is not JSON") from None
    if not isinstance(document, dict):
        raise AuthError("token answer is not a JSON object")
    value = document.get("token") or document.get("access_token")
    if not isinstance(value, str) or not value:
        raise AuthError("token answer has neither token nor access_token")
    lifetime = document.get("expires_in")
    if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    return Token(value, now + lifetime * (1 - RENEW_SHARE))


def token_url(challenge: Challenge, scopes: tuple[str, ...]) -> str:
    """`realm?service=S&scope=A&scope=B`, one parameter per scope."""
    realm = challenge.params.get("realm")
    if not realm:
        raise AuthError("Bearer challenge without realm")
    query: list[tuple[str, str]] = []
    if "service" in challenge.params:
        query.append(("service", challenge.params["service"]))
    query += [("scope", scope) for scope in scopes]
    separator = "&" if urlsplit(realm).query else "?"
    return f"{realm}{separator}{urlencode(query)}" if query else realm


def scope_for(repository: str | None, push: bool) -> tuple[str, ...]:
    """The scope an operation needs before any challenge names it."""
    if repository is None:
        return ("registry:catalog:*",)
    return (f"repository:{repository}:{'pull,push' if push else 'pull'}",)


@dataclass
class Authenticator:
    """Per-user auth state: which scheme the registry wants, and tokens cached by scope set."""

    credentials: Credentials | None = None
    scheme: str | None = None
    challenge: Challenge | None = None
    tokens: dict[tuple[str, ...], Token] = field(default_factory=dict)
    clock: Any = time.monotonic

    def header(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization value to send up front, if we know one for these scopes."""
        if self.scheme == "basic" and self.credentials is not None:
            return self.credentials.basic()
        if self.scheme == "bearer":
            token = self.tokens.get(tuple(sorted(scopes)))
            if token is not None and token.fresh(self.clock()):
                return f"Bearer {token.value}"
        return None

    def learn(self, header: str | None) -> Challenge:
        """Take a 401's challenge; prefer Bearer, as docker does."""
        challenges = parse_challenges(header or "")
        by_scheme = {challenge.scheme: challenge for challenge in challenges}
        chosen = by_scheme.get("bearer") or by_scheme.get("basic")
        if chosen is None:
            raise AuthError(f"401 with no usable challenge ({', '.join(sorted(by_scheme)) or 'none'})")
        if chosen.scheme == "basic" and self.credentials is None:
            raise AuthError("registry asks for Basic auth and no credentials were given")
        self.scheme, self.challenge = chosen.scheme, chosen
        return chosen

    def forget(self, scopes: tuple[str, ...]) -> None:
        self.tokens.pop(tuple(sorted(scopes)), None)

    def store(self, scopes: tuple[str, ...], body: bytes) -> None:
        self.tokens[tuple(sorted(scopes))] = read_token_answer(body, self.clock())
