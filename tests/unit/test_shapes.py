"""Load shapes: their option, and the users they ask for over time. A run that follows them:
tests/system/test_shapes.py."""

from __future__ import annotations

import argparse

import pytest

from registry_tasks.config import SettingsError, settings_from
from registry_tasks.load import Shape
from registry_tasks.plugin.open_model.shape_classes import OptionShape

from ..support.helpers import options


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("ramp", Shape("ramp", 50)),
        ("ramp:25%", Shape("ramp", 25)),
        ("step:3", Shape("step", 3)),
        ("spike", Shape("spike", 20)),
    ],
)
def test_shapes_parse(text: str, shape: Shape) -> None:
    assert settings_from(options(load_shape=text)).load_shape == shape


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("wave", r"^--load-shape: 'wave' is not ramp\[:UP%\], step\[:N\] or spike\[:BASE%\]$"),
        ("step:50%", r"^--load-shape: 'step:50%': step takes a number of steps, e.g. step:4$"),
        ("ramp:30", r"^--load-shape: 'ramp:30': ramp takes a percentage from 1% to 100%, e.g. ramp:50%$"),
        ("spike:0%", r"^--load-shape: 'spike:0%': spike takes a percentage"),
    ],
)
def test_bad_shapes_name_the_option(text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from(options(load_shape=text))


def test_users_over_a_100_second_run_peaking_at_10() -> None:
    def users(shape: str) -> list[int | None]:
        return [Shape.parse(shape).users(elapsed, 100, 10) for elapsed in (0, 10, 25, 45, 50, 55, 75, 99, 100)]

    assert users("ramp") == [0, 2, 5, 9, 10, 10, 10, 10, None]
    assert users("step:4") == [3, 3, 5, 5, 8, 8, 10, 10, None]
    assert users("spike:20%") == [2, 2, 2, 10, 10, 10, 2, 2, None]
    assert Shape.parse("ramp:50%").spawn_rate(100, 10, 3) == 1.0  # 10 users over 50 s: at least 1 a second
    assert Shape.parse("step").spawn_rate(100, 10, 3) == 3  # -r


def test_option_shape_reads_common_options_at_each_tick() -> None:
    given = argparse.Namespace(num_users=8, spawn_rate=4.0, run_time=60)
    shape = OptionShape(Shape.parse("step:2"), given)
    assert shape.tick() == (4, 4.0)
    given.num_users = 20  # as the web UI's field would
    assert shape.tick() == (10, 4.0)
    given.run_time = 0
    assert shape.tick() is None
