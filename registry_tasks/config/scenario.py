"""One typed, checked Settings object from Locust's parsed options and the YAML scenario file they name.

An option given on the command line, in the environment or in the web UI wins over the scenario, which wins
over the defaults.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..errors import RegistryTasksError
from .options import _BY_KEY, OPTIONS
from .settings import Settings


class SettingsError(RegistryTasksError, ValueError):
    """A bad option or scenario value; the message names the option or key and the file."""


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
