"""docker-compose.yml and Dockerfile stay valid without a Docker engine: compose parses them, COPY sources exist."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose_config(require_tool: Callable[[str], str]) -> dict[str, Any]:
    """The file as docker-compose resolves it (anchors merged, paths absolute); invalid files fail here."""
    command = [require_tool("docker-compose"), "-f", str(COMPOSE_FILE), "config"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_compose_file_is_valid(require_tool: Callable[[str], str]) -> None:
    command = [require_tool("docker-compose"), "-f", str(COMPOSE_FILE), "config", "-q"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False)
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


def test_dockerfile_copies_existing_sources() -> None:
    """A renamed module or missing locustfile breaks `docker compose build`; catch it without a Docker engine."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM locustio/locust:2\.47\.0$", dockerfile, re.M)
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        for source in line.split()[:-1]:
            if not any(ch in source for ch in "*?["):  # a glob may match nothing on purpose
                assert (REPO_ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
