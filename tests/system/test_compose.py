"""docker-compose.yml stays valid without a Docker engine: docker-compose resolves it, and its services are wired.
The Dockerfile: tests/unit/test_dockerfile.py."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from ..support.helpers import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose_config(require_tool: Callable[[str], str]) -> dict[str, Any]:
    """The file as docker-compose resolves it (anchors merged, paths absolute); invalid files fail here."""
    command = [require_tool("docker-compose"), "-f", str(COMPOSE_FILE), "config"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_compose_file_is_valid(require_tool: Callable[[str], str]) -> None:
    command = [require_tool("docker-compose"), "-f", str(COMPOSE_FILE), "config", "-q"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr


def test_services_are_wired(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert services["registry"]["image"] == "registry:2"
    assert services["registry"]["environment"]["REGISTRY_STORAGE_DELETE_ENABLED"] == "true"
    assert "--master" in services["master"]["command"] and "http://registry:5000" in services["master"]["command"]
    assert "--master-host master" in services["worker"]["command"]
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker  # else --scale worker=N collides
    for name in ("master", "worker"):
        assert services[name]["environment"]["LOCUST_FIXTURES_DIR"] == "/home/locust/fixtures"
        assert any(v.endswith(":/home/locust/fixtures:ro") for v in services[name]["volumes"])
