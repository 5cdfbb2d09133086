"""Options and scenario files: typed values, defaults that agree with Settings', precedence, and one clear error
per bad input."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from locust.argument_parser import LocustArgumentParser

from registry_tasks.config import OPTIONS, Option, Settings, SettingsError, add_arguments, settings_from
from registry_tasks.image import Platform, parse_size
from registry_tasks.load import RolloutSpec

from ..support.helpers import options


def scenario(tmp_path: Path, text: str) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "size"),
    [("5MiB", 5 << 20), ("512KiB", 512 << 10), ("1048576", 1 << 20), ("2mb", 2_000_000), ("1 GiB", 1 << 30)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text)[0] == size


def test_defaults() -> None:
    settings = settings_from(options())
    assert settings.chunk_size == 5 << 20
    assert settings.upload_mode == ""
    assert settings.verify_digests is True
    assert settings.platform == Platform("linux", "amd64")
    assert (settings.pull_parallel, settings.push_parallel) == (0, 0)


def test_every_settings_field_has_one_option() -> None:
    keys = [option.key for option in OPTIONS]
    assert len(keys) == len(set(keys))
    assert set(keys) == {field.name for field in dataclasses.fields(Settings)}


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
def test_option_default_parses_to_the_settings_default(option: Option) -> None:
    """A default that parsed to something else would make `--help` and `Settings()` (the API's) disagree."""
    parsed, default = option.parse(option.default), getattr(Settings(), option.key)
    assert (type(parsed), parsed) == (type(default), default)


def test_nothing_given_is_the_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("LOCUST_")]:
        monkeypatch.delenv(name)
    parser = LocustArgumentParser()
    add_arguments(parser)
    given = parser.parse_args([])
    assert given == options()  # what the tests' options() stands for: Locust's parse of an empty command line
    assert settings_from(given) == Settings()


def test_web_ui_strings_are_parsed() -> None:
    """The web UI hands values back as strings of the default's type (or raw text)."""
    settings = settings_from(options(chunk_size="1MiB", pull_parallel="4", unique_layers=True))
    assert settings.chunk_size == 1 << 20
    assert settings.pull_parallel == 4
    assert settings.unique_layers is True


def test_scenario_sets_values_and_weights(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "chunk-size: 1MiB\nupload_mode: stream\nunique-layers: true\n"
        "weights: {manifest-get: 5, image-push: 1}\nuser-weights: {pull: 2, push: 1}\n",
    )
    settings = settings_from(options(scenario=path))
    assert settings.chunk_size == 1 << 20
    assert settings.upload_mode == "stream"
    assert settings.unique_layers is True
    assert settings.weights == {"manifest-get": 5, "image-push": 1}
    assert settings.user_weights == {"pull": 2, "push": 1}


def test_scenario_sets_the_open_model(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "arrival-rate: {manifest-get: 80/s, image-pull: 30/m}\narrivals: constant\nmax-in-flight: 50\n",
    )
    settings = settings_from(options(scenario=path))
    assert settings.arrival_rate == {"manifest-get": 80.0, "image-pull": 0.5}
    assert (settings.arrivals, settings.max_in_flight) == ("constant", 50)
    listed = settings_from(options(scenario=scenario(tmp_path, "arrival-rate: [blob-get=2/s, blob-get=1/s]\n")))
    assert listed.arrival_rate == {"blob-get": 3.0}  # one task named twice: its rates add up
    searched = settings_from(options(find_capacity="blob-get", slo="p95=200,fail=0.01", capacity_start="5/s"))
    assert searched.slo is not None and searched.slo.p95_ms == 200 and searched.capacity_start == 5.0
    assert settings_from(options(rollout="60@3s")).rollout == RolloutSpec(60, 3.0)


def test_command_line_wins_over_scenario(tmp_path: Path) -> None:
    path = scenario(tmp_path, "upload-mode: stream\n")
    assert settings_from(options(scenario=path, upload_mode="monolithic")).upload_mode == "monolithic"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chunk-size: -3\n", r"key 'chunk-size': -3 must be more than 0 bytes"),
        ("chunk-size: 0\n", r"key 'chunk-size': 0 must be more than 0 bytes"),
        ("upload-mode: sideways\n", r"key 'upload-mode': 'sideways' is not one of chunked, stream, stream-enc"),
        ("pull-parallel: two\n", r"key 'pull-parallel': .*not a whole number|invalid literal"),
        ("verify-digests: maybe\n", r"key 'verify-digests': 'maybe' is not true or false"),
        ("bogus: 1\n", r"unknown key 'bogus'"),
        ("weights: {manifest-get: 0, blob-get: 0}\n", r"key 'weights': weights sum to 0"),
        ("weights: {fly: 1}\n", r"key 'weights': unknown name 'fly'"),
        ("weights: [1, 2]\n", r"key 'weights': expected a mapping"),
        ("platform: linux\n", r"key 'platform': platform 'linux': expected os/architecture"),
        ("repository-prefix: Bad Name\n", r"key 'repository-prefix': 'Bad Name' is not a repository path"),
        ("- a list\n", r"expected a mapping of settings at the top level"),
        ("arrival-rate: {push: 1/s}\n", r"key 'arrival-rate': unknown task 'push'"),
        ("arrival-rate: {blob-get: fast}\n", r"key 'arrival-rate': 'fast' is not a rate"),
        ("arrivals: bursty\n", r"key 'arrivals': 'bursty' is not one of poisson, constant"),
        ("rollout: 0@5s\n", r"key 'rollout': '0@5s': a rollout needs at least 1 node"),
        ("capacity-step-time: 0\n", r"key 'capacity-step-time': 0 must be more than 0 seconds"),
        ("chunk-size: [unclosed\n", r"not valid YAML at line \d+"),
    ],
)
def test_bad_scenarios_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = scenario(tmp_path, text)
    with pytest.raises(SettingsError, match=message) as caught:
        settings_from(options(scenario=path))
    assert path in str(caught.value)


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"scenario .*nope.yaml: cannot read it"):
        settings_from(options(scenario=str(tmp_path / "nope.yaml")))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"chunk_size": "0"}, r"--chunk-size: '0' must be more than 0 bytes"),
        ({"chunk_size": "lots"}, r"--chunk-size: 'lots' is not a size"),
        ({"platform": "windows"}, r"--platform: platform 'windows'"),
        ({"push_parallel": "-1"}, r"--push-parallel: '-1' must be 0 \(the client profile's\) or more"),
        ({"image_mix": "20/70/x"}, r"^--image-mix: '20/70/x' is not whole-number shares such as 20/70/10"),
        ({"image_mix": "0/0"}, r"^--image-mix: '0/0' is not whole-number shares"),
        ({"pull_push_ratio": "75/20/5"}, r"^--pull-push-ratio: '75/20/5' is not whole-number shares such as 50/50"),
    ],
)
def test_bad_options_name_the_option(given: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from(options(**given))


def test_worker_reads_the_password_from_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A master overwrites workers' options with its own: an empty password there must not win."""
    monkeypatch.setenv("LOCUST_REGISTRY_PASSWORD", "from-worker-env")
    assert settings_from(options(registry_password="")).registry_password == "from-worker-env"
    assert settings_from(options(registry_password="given")).registry_password == "given"
    assert "from-worker-env" not in repr(settings_from(options()))
