"""Real auth set-ups for tests: TLS certificates from a test CA, an htpasswd file, and a small token server
that signs JWTs the way distribution's `token` auth expects (x5c chain to the `rootcertbundle`)."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bcrypt
import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from registry_tasks.registry.auth import Credentials

from .helpers import serve

USERNAME = "loadtester"
PASSWORD = "s3cret-Pa55word-7781"
CREDENTIALS = Credentials(USERNAME, PASSWORD)
SERVICE = "registry-tests"
ISSUER = "registry-tests-token-server"


@dataclass
class LocalCA:
    """A CA, a server certificate for 127.0.0.1, and their files."""

    directory: Path
    ca: trustme.CA = field(default_factory=lambda: trustme.CA(key_type=trustme.KeyType.RSA))

    def __post_init__(self) -> None:
        self.server = self.ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
        self.ca_file = self.directory / "ca.pem"
        self.cert_file = self.directory / "server.pem"
        self.key_file = self.directory / "server.key"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.server.cert_chain_pems[0].write_to_path(str(self.cert_file))
        self.server.private_key_pem.write_to_path(str(self.key_file))

    def tls_config(self) -> dict[str, Any]:
        return {"http": {"tls": {"certificate": str(self.cert_file), "key": str(self.key_file)}}}


def htpasswd_config(directory: Path) -> dict[str, Any]:
    path = directory / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    path.write_text(f"{USERNAME}:{hashed}\n")
    return {"auth": {"htpasswd": {"realm": "registry-tests", "path": str(path)}}}


@dataclass
class TokenServer:
    """Issues tokens for any scope to USERNAME/PASSWORD; counts what it issued."""

    url: str
    issued: list[dict[str, Any]]

    def registry_config(self, ca: LocalCA) -> dict[str, Any]:
        return {
            "auth": {
                "token": {
                    "realm": f"{self.url}/token",
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(ca.ca_file),
                }
            }
        }


def _access(scopes: list[str]) -> list[dict[str, Any]]:
    access = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        access.append({"type": kind, "name": name, "actions": actions.split(",")})
    return access


@contextmanager
def token_server(ca: LocalCA, expires_in: int = 300) -> Iterator[TokenServer]:
    """A token server signing with a leaf of the test CA; the registry trusts it through `rootcertbundle`."""
    signer = ca.ca.issue_cert("token-signer", key_type=trustme.KeyType.RSA)
    key = signer.private_key_pem.bytes()
    leaf = x509.load_pem_x509_certificate(signer.cert_chain_pems[0].bytes())
    chain = [base64.b64encode(leaf.public_bytes(Encoding.DER)).decode()]
    issued: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                return
            query = parse_qs(urlsplit(self.path).query)
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "sub": USERNAME,
                "aud": query.get("service", [""])[0],
                "exp": now + expires_in,
                "nbf": now - 5,
                "iat": now,
                "jti": uuid.uuid4().hex,
                "access": _access(query.get("scope", [])),
            }
            token = jwt.encode(claims, key, algorithm="RS256", headers={"x5c": chain})
            with lock:
                issued.append({**claims, "token": token})
            self._answer(200, {"token": token, "expires_in": expires_in})

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serve(Handler) as url:
        yield TokenServer(url, issued)
