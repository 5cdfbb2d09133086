"""The Dockerfile stays buildable without a Docker engine: its base image is pinned and every COPY source exists."""

from __future__ import annotations

import re

from ..support.helpers import ROOT


def test_dockerfile_copies_existing_sources() -> None:
    """A renamed module or missing locustfile breaks `docker compose build`; catch it without a Docker engine."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM locustio/locust:2\.47\.0$", dockerfile, re.M)
    sources = [source for line in re.findall(r"^COPY (.+)$", dockerfile, re.M) for source in line.split()[:-1]]
    assert {"pyproject.toml", "registry_tasks", "locustfile.py"} <= set(sources)  # else the loop below checks nothing
    for source in sources:
        if not any(ch in source for ch in "*?["):  # a glob may match nothing on purpose
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
