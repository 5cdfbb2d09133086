"""Progress lines of the phases before the load: count and bytes, done or in progress."""

from __future__ import annotations

import logging

import pytest

from registry_tasks.plugin.run.progress import Phases, human_bytes


def test_progress_counts_and_logs_the_last_item(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="registry_tasks.plugin.progress")
    phases = Phases()
    assert phases.line() is None
    phases.begin("seeding", 3, 3_000_000, "images")
    phases.advance(1, 1_000_000)
    assert phases.line() == "seeding (in progress): 1 of 3 images, 1 MB of 3 MB"
    phases.advance(2, 2_000_000)
    assert phases.line() == "seeding (done): 3 of 3 images, 3 MB of 3 MB"
    assert caplog.messages[-1] == "seeding (done): 3 of 3 images, 3 MB of 3 MB"


def test_a_phase_without_a_known_byte_total_prints_none() -> None:
    """--populate: tags already there move nothing, so the bytes to move are not known before the end."""
    phases = Phases()
    phases.begin("populate", 100, None, "tags")
    phases.advance(100, 24_900)
    assert phases.line() == "populate (done): 100 of 100 tags, 24.9 KB moved"


def test_each_run_has_phases_of_its_own() -> None:
    """Two environments in one process (tests, a library user) do not see each other's progress."""
    first, second = Phases(), Phases()
    first.begin("seeding", 1, 10, "images")
    assert second.line() is None
    second.advance()  # nothing begun: nothing counted
    assert first.current is not None and first.current.done == 0


def test_bytes_are_in_decimal_units() -> None:
    assert human_bytes(4_292_178_943) == "4.29 GB"
    assert human_bytes(999) == "999 B"
