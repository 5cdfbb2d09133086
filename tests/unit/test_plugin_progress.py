"""Progress lines of the phases before the load: count and bytes, done or in progress."""

from __future__ import annotations

import logging

import pytest

from registry_tasks.plugin import progress


def test_progress_counts_and_logs_the_last_item(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="registry_tasks.plugin.progress")
    progress.begin("seeding", 3, 3_000_000, "images")
    progress.advance(1, 1_000_000)
    assert progress.line() == "seeding (in progress): 1 of 3 images, 1 MB of 3 MB"
    progress.advance(2, 2_000_000)
    assert progress.line() == "seeding (done): 3 of 3 images, 3 MB of 3 MB"
    assert caplog.messages[-1] == "seeding (done): 3 of 3 images, 3 MB of 3 MB"


def test_a_phase_without_a_known_byte_total_prints_none() -> None:
    """--populate: tags already there move nothing, so the bytes to move are not known before the end."""
    progress.begin("populate", 100, None, "tags")
    progress.advance(100, 24_900)
    assert progress.line() == "populate (done): 100 of 100 tags, 24.9 KB moved"
