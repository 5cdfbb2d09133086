"""One typed, checked Settings object from Locust's parsed options and the YAML scenario file they name.

An option given on the command line, in the environment or in the web UI wins over the scenario, which wins
over the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..errors import RegistryTasksError
from ..image import Platform
from ..load import Shape
from ..load.capacity import Slo
from ..load.popularity import Popularity
from ..load.rollout import RolloutSpec
from .options import _BY_KEY, OPTIONS

MIB = 1 << 20


class SettingsError(RegistryTasksError, ValueError):
    """A bad option or scenario value; the message names the option or key and the file."""


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, checked and typed."""

    fixtures_dir: str = "fixtures"
    synthetic_images: str = ""
    synthetic_seed: int = 0
    chunk_size: int = 5 * MIB
    client_profile: str = ""
    client_mix: Mapping[str, int] = field(default_factory=dict)
    user_agent: str = ""
    upload_mode: str = ""
    verify_digests: bool = True
    repository_prefix: str = "loadtest"
    pull_parallel: int = 0
    push_parallel: int = 0
    unique_layers: bool = False
    platform: Platform = field(default_factory=lambda: Platform("linux", "amd64"))
    request_timeout: int = 120
    registry_username: str = ""
    registry_password: str = field(default="", repr=False)
    docker_config: str = "~/.docker/config.json"
    registry_ca_file: str = ""
    registry_insecure: bool = False
    pull_image: tuple[str, ...] = ()
    check_fail_ratio: float | None = None
    check_p95: Mapping[str, float] = field(default_factory=dict)
    check_p99: Mapping[str, float] = field(default_factory=dict)
    check_min_mbps: Mapping[str, float] = field(default_factory=dict)
    summary_file: str = ""
    cleanup: bool = False
    honor_retry_after: bool = False
    pushed_log: str = ""
    load_shape: Shape | None = None
    pull_push_ratio: tuple[int, ...] = ()
    image_mix: tuple[int, ...] = ()
    arrival_rate: Mapping[str, float] = field(default_factory=dict)
    arrivals: str = "poisson"
    max_in_flight: int = 1000
    rollout: RolloutSpec | None = None
    rollout_update: bool = False
    find_capacity: str = ""
    slo: Slo | None = None
    capacity_start: float = 10.0
    capacity_step_time: float = 30.0
    replay: tuple[str, ...] = ()
    replay_format: str = ""
    replay_speed: float = 1.0
    replay_window: tuple[float, float | None] = (0.0, None)
    replay_clients_scale: int = 1
    record: str = ""
    populate: tuple[int, int] | None = None
    popularity: Popularity = field(default_factory=Popularity)
    page_size: int = 100
    scenario: str = ""
    weights: Mapping[str, int] = field(default_factory=dict)
    user_weights: Mapping[str, int] = field(default_factory=dict)


def check_host(host: str) -> None:
    """-H/--host must be an http(s) URL naming a host: anything else would only fail every request."""
    try:
        parts = urlsplit(host)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number
        valid = False
    if not valid or any(character.isspace() for character in host):
        raise SettingsError(f"-H/--host {host!r}: expected http:// or https:// and a host, e.g. http://127.0.0.1:5000")


def load_scenario(path: str) -> dict[str, Any]:
    """Read a scenario file into {option key: raw value}, refusing unknown keys by name."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise SettingsError(f"scenario {path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(f"scenario {path}: not valid YAML{where}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise SettingsError(f"scenario {path}: expected a mapping of settings at the top level")
    values: dict[str, Any] = {}
    for raw_key, value in document.items():
        key = str(raw_key).replace("-", "_")
        if key not in _BY_KEY or key == "scenario":
            known = ", ".join(option.name for option in OPTIONS if option.key != "scenario")
            raise SettingsError(f"scenario {path}: unknown key {raw_key!r} (known: {known})")
        values[key] = value
    return values


def settings_from(parsed_options: Any) -> Settings:
    """Settings from Locust's parsed options (CLI, env, conf, web UI) and the scenario file they name."""
    given = {option.key: getattr(parsed_options, option.key, option.default) for option in OPTIONS if option.cli}
    if not given.get("registry_password"):  # a master overwrites workers' options: let them use their own env
        given["registry_password"] = os.environ.get("LOCUST_REGISTRY_PASSWORD", "")
    scenario_path = given.get("scenario") or ""
    scenario = load_scenario(scenario_path) if scenario_path else {}
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = given.get(option.key, option.default)
        source = f"--{option.name}"
        if option.key in scenario and raw == option.default:
            raw, source = scenario[option.key], f"scenario {scenario_path}: key {option.name!r}"
        try:
            values[option.key] = option.parse(raw)
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{source}: {exc}") from None
    return Settings(**values)
