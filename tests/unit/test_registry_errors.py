"""What can go wrong talking to a registry, as values: Retry-After headers. The faults themselves, from a proxy in
front of a real registry: tests/system/test_faults.py."""

from __future__ import annotations

import time
from email.utils import formatdate

from registry_tasks.registry.errors import retry_after_seconds


def test_retry_after_values() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("999999") == 300.0  # capped
    assert 8 <= (retry_after_seconds(formatdate(time.time() + 10, usegmt=True)) or 0) <= 10
    assert retry_after_seconds(formatdate(time.time() - 10, usegmt=True)) == 0.0
