"""Load shapes and mixes: their options, the users they ask for over time, and a run that follows them."""

from __future__ import annotations

import argparse
import collections
import csv
import json
import random
from pathlib import Path

import pytest

from registry_tasks.config import OPTIONS, SettingsError, settings_from
from registry_tasks.load import Shape
from registry_tasks.plugin.seeding import seeded_target
from registry_tasks.plugin.shapes import OptionShape
from registry_tasks.plugin.state import RegistryRun
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry

from .helpers import run_locust


def options(**given: object) -> argparse.Namespace:
    values = {option.key: option.default for option in OPTIONS if option.cli}
    values.update(given)
    return argparse.Namespace(**values)


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


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"image_mix": "20/70/x"}, r"^--image-mix: '20/70/x' is not whole-number shares such as 20/70/10"),
        ({"image_mix": "0/0"}, r"^--image-mix: '0/0' is not whole-number shares"),
        ({"pull_push_ratio": "75/20/5"}, r"^--pull-push-ratio: '75/20/5' is not whole-number shares such as 50/50"),
    ],
)
def test_bad_mixes_name_the_option(given: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from(options(**given))


def test_image_mix_weighs_pushes_and_pulls_of_seeded_images() -> None:
    images = [synthetic_image(spec) for spec in ("1x1KiB", "1x2KiB", "1x3KiB")]
    run = RegistryRun(settings_from(options(image_mix="20/70/10")), images)
    run.targets = [seeded_target(run, image) for image in images]
    random.seed(5)
    pushed = collections.Counter(run.pick_image().name for _ in range(10_000))
    pulled = collections.Counter(run.pick_target().repository for _ in range(10_000))
    assert [round(pushed[image.name] / 1000) for image in images] == [2, 7, 1]
    assert [round(pulled[run.seed_repository(image)] / 1000) for image in images] == [2, 7, 1]


def test_mix_not_matching_the_images_stops_before_any_load(registry: LocalRegistry, tmp_path: Path) -> None:
    result = run_locust(tmp_path, "-H", registry.url, "-t", "3s", "--synthetic-images", "1x1KiB", "--image-mix", "1/1")
    assert result.returncode == 1
    assert "--image-mix: 2 shares for 1 images (synthetic-1x1kib)" in result.stderr
    assert "Traceback" not in result.stderr


def test_step_shape_and_mixes_steer_a_run(registry: LocalRegistry, tmp_path: Path) -> None:
    """Users follow step:2 (2, then 4); push users weighted 0 never start; only the second image is pulled."""
    prefix, summary = tmp_path / "shaped", tmp_path / "summary.json"
    result = run_locust(
        tmp_path,
        "-H", registry.url, "-u", "4", "-r", "100", "-t", "4s", "--load-shape", "step:2",
        "--pull-push-ratio", "100/0", "--synthetic-images", "1x10KiB 1x60KiB", "--image-mix", "0/100",
        "--tags", "blob-get", "image-push", "--repository-prefix", "shapes/step",
        "--csv", str(prefix), "--summary-file", str(summary),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with open(f"{prefix}_stats_history.csv", newline="") as handle:
        users = [int(row["User Count"]) for row in csv.DictReader(handle)]
    assert set(users) <= {0, 2, 4} and 2 in users and 4 in users
    assert users.index(4) > users.index(2)
    assert '"RegistryPushUser"' not in result.stderr
    entries = {entry["name"]: entry for entry in json.loads(summary.read_text())["entries"]}
    assert "image-push" not in entries
    blob_get = entries["blob-get"]
    assert (
        blob_get["bytes"] / blob_get["requests"] > 20_000
    )  # the 60 KiB image's layer and config, never the 10 KiB one
