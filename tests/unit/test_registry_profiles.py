"""Client profiles are data: well-formed records, chosen by --client-profile or drawn from --client-mix, and bad
values refused with one line naming the option."""

from __future__ import annotations

import collections
import random
from pathlib import Path

import pytest

from registry_tasks import __version__
from registry_tasks.config import SettingsError, client_config, settings_from
from registry_tasks.plugin.run.state import RegistryRun, load_run
from registry_tasks.registry.profiles import (
    CONNECTION_POLICIES,
    HEAD_ALL,
    HEAD_CONFIG,
    HEAD_NONE,
    PROFILES,
    TAG,
    UPLOAD_STYLES,
)
from registry_tasks.sources import synthetic_image

from ..support.helpers import options


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_each_profile_is_a_well_formed_record(name: str) -> None:
    profile = PROFILES[name]
    assert profile.name == name
    assert profile.user_agent.split("/")[0] == ("registry-tasks" if name == "minimal" else name)
    assert TAG in profile.user_agent and f"registry-tasks/{__version__}" == TAG
    assert profile.connections in CONNECTION_POLICIES
    assert profile.head_before_upload in (HEAD_NONE, HEAD_CONFIG, HEAD_ALL)
    assert profile.upload_style in ("", *UPLOAD_STYLES)
    assert profile.retry.attempts >= 1 and profile.accept


def test_the_default_is_docker_and_the_user_agent_option_replaces_the_profiles() -> None:
    settings = settings_from(options())
    assert settings.client_profile == ""  # the mode's own: docker for users and arrivals, containerd for rollouts
    run = RegistryRun(settings, [synthetic_image("1x1KiB")])
    assert run.pick_profile() is PROFILES["docker"]
    assert run.pick_profile("containerd") is PROFILES["containerd"]
    told = RegistryRun(settings_from(options(client_profile="docker")), [synthetic_image("1x1KiB")])
    assert told.pick_profile("containerd") is PROFILES["docker"]
    custom = settings_from(options(user_agent="acme-ci/2.0"))
    assert client_config(custom, "http://r", PROFILES["containerd"]).user_agent == "acme-ci/2.0"
    assert client_config(settings, "http://r", PROFILES["containerd"]).user_agent.startswith("containerd/1.6.20")


def test_client_mix_draws_profiles_in_its_shares() -> None:
    run = RegistryRun(settings_from(options(client_mix=["containerd=80,docker=20"])), [synthetic_image("1x1KiB")])
    random.seed(3)
    drawn = collections.Counter(run.pick_profile().name for _ in range(10_000))
    assert set(drawn) == {"containerd", "docker"}
    assert round(drawn["containerd"] / 1000) == 8


def test_client_mix_in_a_scenario_is_a_mapping(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("client-mix: {containerd: 3, skopeo: 1}\n")
    assert settings_from(options(scenario=str(scenario))).client_mix == {"containerd": 3, "skopeo": 1}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"client_profile": "podman"}, r"^--client-profile: 'podman' is not one of docker, containerd, skopeo, min"),
        ({"client_mix": ["podman=5"]}, r"^--client-mix: 'podman' is not one of docker, containerd"),
        ({"client_mix": ["docker=x"]}, r"^--client-mix: share of docker must be a whole number >= 0, got 'x'"),
        ({"client_mix": ["docker"]}, r"^--client-mix: 'docker' is not PROFILE=SHARE"),
        ({"client_mix": ["docker=0,skopeo=0"]}, r"^--client-mix: shares sum to 0"),
        ({"upload_mode": "sideways"}, r"^--upload-mode: 'sideways' is not one of chunked, stream, stream-encoded"),
    ],
)
def test_bad_profile_options_name_the_option(given: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from(options(**given))


def test_a_mix_and_a_profile_together_are_refused() -> None:
    with pytest.raises(SettingsError, match="--client-mix and --client-profile both choose the clients: keep one"):
        load_run(None, options(client_mix=["docker=1"], client_profile="skopeo", synthetic_images="1x1KiB"))
