"""System-test fixtures: a real registry (distribution 2.8) on loopback, skopeo as an independent client, and a
test CA for TLS registries and token servers.

A missing external tool skips the tests that need it on a developer machine, but fails them under CI
(`CI` set), so that a green CI run always means the real tests ran.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

from registry_tasks.registry.client import RegistryClient
from registry_tasks.tools.local_registry import LocalRegistry, RegistryStartError, find_binary, start_registry

from ..support.auth_servers import LocalCA
from ..support.helpers import Recorder, RunSkopeo, missing


@pytest.fixture(scope="session")
def require_tool() -> Callable[[str], str]:
    """`require_tool(name)` returns the tool's path, or skips (fails under CI) when it is not installed."""

    def require(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            missing(f"{name} is not installed (Debian: apt-get install {name})")
        return path

    return require


@pytest.fixture(scope="session")
def registry_binary() -> str:
    """Path of distribution's registry program; skips (fails under CI) when it is not installed."""
    try:
        return find_binary()
    except RegistryStartError as error:
        missing(str(error))


@pytest.fixture(scope="session")
def registry(registry_binary: str) -> Iterator[LocalRegistry]:
    """One registry for the whole session; tests use their own repository names to stay apart."""
    with start_registry(binary=registry_binary) as running:
        yield running


@pytest.fixture
def fresh_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    """An empty registry of its own, for tests that look at the catalog or at storage."""
    with start_registry(binary=registry_binary) as running:
        yield running


@pytest.fixture(scope="session")
def run_skopeo(require_tool: Callable[[str], str]) -> RunSkopeo:
    """`run_skopeo(*args, timeout=120)` runs `skopeo --insecure-policy *args`; a non-zero exit fails the test.

    The caller passes `--src-tls-verify=false` / `--dest-tls-verify=false` where it talks plain HTTP.
    """
    skopeo = require_tool("skopeo")

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [skopeo, "--insecure-policy", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            output = result.stderr.strip() or result.stdout.strip()
            raise AssertionError(f"{' '.join(command)} exited with {result.returncode}:\n{output}")
        return result

    return run


@pytest.fixture
def client(registry: LocalRegistry, recorder: Recorder) -> Iterator[RegistryClient]:
    """A RegistryClient on the session's registry, reporting to `recorder`."""
    registry_client = RegistryClient(registry.url, recorder)
    yield registry_client
    registry_client.close()


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    """A test CA and a server certificate for 127.0.0.1 it signed (TLS registries, token signing)."""
    return LocalCA(tmp_path_factory.mktemp("ca"))
