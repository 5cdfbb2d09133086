"""Fixtures shared by unit and system tests. The system tests' own (a real registry, skopeo, a test CA) are in
tests/system/conftest.py, so that a unit test cannot ask for a registry: tests/unit runs with none installed.
Support code that is not a fixture (recorder, `locust` runs, fault proxy, fixture builders) is in tests/support/.
"""

from __future__ import annotations

import locust  # noqa: F401  - first: it monkey-patches ssl and sockets before any test module imports them
import pytest

from .support.helpers import Recorder


@pytest.fixture
def recorder() -> Recorder:
    """Collects the request events a client fires."""
    return Recorder()
