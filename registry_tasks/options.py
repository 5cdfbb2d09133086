"""Command-line / web UI options and the YAML scenario file, turned into one typed Settings object.

Every option lives in Locust's own parser (so it shows in the web UI and has a LOCUST_* variable).
A scenario file sets the same values plus task weights; an option given on the command line, in the
environment or in the web UI wins over the scenario, which wins over the defaults.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from .images import ImageError, Platform
from .shapes import Shape
from .sizes import parse_size

MIB = 1 << 20
TASK_NAMES = ("manifest-get", "blob-get", "image-pull", "chunked-upload", "manifest-put", "image-push")
USER_NAMES = ("pull", "push")
UPLOAD_MODES = ("chunked", "monolithic", "stream")
# Stats entries a gate may name; `Aggregated` is Locust's total row.
ENTRY_NAMES = (
    "manifest-get", "manifest-head", "manifest-put", "manifest-delete", "blob-get", "blob-head", "upload-start",
    "upload-chunk", "upload-finish", "blob-mount", "tags-list", "catalog", "token", "image-pull", "image-push",
    "Aggregated",
)  # fmt: skip
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


class SettingsError(ValueError):
    """A bad option or scenario value; the message names the option or key and the file."""


def _positive_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a size such as 5MiB, 512KiB or 1048576")
    size = value if isinstance(value, int) else parse_size(value)[0]
    if size <= 0:
        raise ValueError(f"{value!r} must be more than 0 bytes")
    return size


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if number <= 0:
        raise ValueError(f"{value!r} must be 1 or more")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
        return value.lower() in ("true", "yes", "1", "on")
    raise ValueError(f"{value!r} is not true or false")


def _upload_mode(value: Any) -> str:
    if value not in UPLOAD_MODES:
        raise ValueError(f"{value!r} is not one of {', '.join(UPLOAD_MODES)}")
    return str(value)


def _repository_prefix(value: Any) -> str:
    if not isinstance(value, str) or not _REPOSITORY.match(value):
        raise ValueError(f"{value!r} is not a repository path (lowercase a-z, 0-9, '.', '_', '-', '/')")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


def _platform(value: Any) -> Platform:
    try:
        return Platform.parse(_text(value))
    except ImageError as exc:
        raise ValueError(str(exc)) from None


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def _existing_file(value: Any) -> str:
    path = _text(value)
    if path and not os.path.isfile(os.path.expanduser(path)):
        raise ValueError(f"{path!r}: no such file")
    return path


def _writable_file(value: Any) -> str:
    """A file we will append to: its directory must exist now, not fail at the first write mid-run."""
    path = _text(value)
    if not path:
        return path
    full = os.path.expanduser(path)
    if os.path.isdir(full):
        raise ValueError(f"{path!r} is a directory, not a file")
    if not os.path.isdir(os.path.dirname(os.path.abspath(full))):
        raise ValueError(f"{path!r}: its directory does not exist")
    return path


def _image_references(value: Any) -> tuple[str, ...]:
    """`repo:tag` / `repo@sha256:...` list (a YAML list, repeated options, or one comma/space-separated text)."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{value!r} is not a list of repository:tag references")
    references = []
    for item in items:
        for text in item.replace(",", " ").split():
            repository = re.split(r"[@:]", text, maxsplit=1)[0]
            if not _REPOSITORY.match(repository) or text == repository:
                raise ValueError(f"{text!r} is not repository:tag or repository@digest")
            references.append(text)
    return tuple(references)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not {what}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not {what}") from None


def _ratio(value: Any) -> float | None:
    """A failure ratio between 0 and 1; empty means no gate."""
    if value in ("", None):
        return None
    what = "a ratio between 0 and 1 (e.g. 0.01)"
    ratio = _number(value, what)
    if not 0 <= ratio <= 1:
        raise ValueError(f"{value!r} is not {what}")
    return ratio


def _entry_limits(unit: str) -> Callable[[Any], dict[str, float]]:
    """`ENTRY=NUMBER` items (repeated options, comma-separated text, a YAML list) or a YAML mapping."""

    def limit(entry: Any, number: Any) -> float:
        if entry not in ENTRY_NAMES:
            raise ValueError(f"unknown entry {entry!r} (known: {', '.join(ENTRY_NAMES)})")
        value = _number(number, f"a number of {unit} (limit of {entry})")
        if value < 0:
            raise ValueError(f"limit of {entry} must be 0 or more {unit}, got {number!r}")
        return value

    def parse(value: Any) -> dict[str, float]:
        if isinstance(value, Mapping):
            return {str(entry): limit(entry, number) for entry, number in value.items()}
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
            raise ValueError(f"{value!r} is not a list of ENTRY=LIMIT items")
        limits: dict[str, float] = {}
        for text in (part for item in items for part in item.replace(",", " ").split()):
            entry, separator, number = text.partition("=")
            if not separator:
                raise ValueError(f"{text!r} is not ENTRY=LIMIT, e.g. manifest-get=200")
            limits[entry] = limit(entry, number)
        return limits

    return parse


def _load_shape(value: Any) -> Shape | None:
    return Shape.parse(_text(value)) if value else None


def _shares(count: int | None = None) -> Callable[[Any], tuple[int, ...]]:
    """Relative shares as `20/70/10` (or a YAML list); `count` fixes how many there must be."""
    example = "/".join(["50"] * count) if count else "20/70/10"

    def parse(value: Any) -> tuple[int, ...]:
        if value in ("", None, []):
            return ()
        parts = value.split("/") if isinstance(value, str) else value
        try:
            if isinstance(parts, (str, bytes)) or any(isinstance(part, (bool, float)) for part in parts):
                raise TypeError
            shares = tuple(int(part) for part in parts)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not whole-number shares such as {example}") from None
        if (count and len(shares) != count) or any(share < 0 for share in shares) or not sum(shares):
            raise ValueError(f"{value!r} is not whole-number shares such as {example}")
        return shares

    return parse


def _weights(names: tuple[str, ...]) -> Callable[[Any], dict[str, int]]:
    def parse(value: Any) -> dict[str, int]:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a mapping of {', '.join(names)} to whole numbers")
        out: dict[str, int] = {}
        for name, weight in value.items():
            if name not in names:
                raise ValueError(f"unknown name {name!r} (known: {', '.join(names)})")
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise ValueError(f"weight of {name!r} must be a whole number >= 0, got {weight!r}")
            out[name] = weight
        if out and sum(out.values()) == 0:
            raise ValueError("weights sum to 0: nothing would run")
        return out

    return parse


@dataclass(frozen=True)
class Option:
    """One setting: its flag, default, parser, help; `cli` False for scenario-only keys."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    choices: tuple[str, ...] | None = None
    cli: bool = True
    secret: bool = False

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return "LOCUST_" + self.key.upper()


OPTIONS = (
    Option("fixtures-dir", "fixtures", _text, "Directory of image fixtures: docker save tarballs, OCI layouts"),
    Option("synthetic-images", "", _text, "Use synthetic images instead of fixtures, e.g. '3x10MiB 1x50MiB'"),
    Option("synthetic-seed", 0, _seed, "Seed of synthetic image bytes (same seed, same bytes everywhere)"),
    Option("chunk-size", "5MiB", _positive_size, "Bytes per PATCH in chunked uploads (e.g. 5MiB)"),
    Option("upload-mode", "chunked", _upload_mode, "Blob upload shape in image-push", UPLOAD_MODES),
    Option("verify-digests", True, _boolean, "Hash every downloaded blob and manifest against its digest"),
    Option("repository-prefix", "loadtest", _repository_prefix, "Repository namespace for seeded and pushed images"),
    Option("pull-parallel", 3, _positive_int, "Layers downloaded at once per image-pull (docker: 3)"),
    Option("push-parallel", 5, _positive_int, "Blobs uploaded at once per image-push (docker: 5)"),
    Option("unique-layers", False, _boolean, "Make every pushed image's layers new bytes, so nothing deduplicates"),
    Option("platform", "linux/amd64", _platform, "Platform chosen from manifest lists and OCI indexes"),
    Option("request-timeout", 120, _positive_int, "Seconds a request may wait for the registry (connect and read)"),
    Option("registry-username", "", _text, "Registry user (Basic, or for the token server)"),
    Option("registry-password", "", _text, "Registry password; workers may read it from their own env", secret=True),
    Option("docker-config", "~/.docker/config.json", _text, "docker config.json whose auths entry gives credentials"),
    Option("registry-ca-file", "", _existing_file, "PEM bundle of the CA that signed the registry's certificate"),
    Option("registry-insecure", False, _boolean, "Do not verify the registry's TLS certificate (warns)"),
    Option("pull-image", [], _image_references, "Pull this existing repository:tag instead of seeding (repeatable)"),
    Option("check-fail-ratio", "", _ratio, "Gate: fail the run (exit 3) when more than this ratio of requests failed"),
    Option("check-p95", [], _entry_limits("ms"), "Gate: ENTRY=MS, fail the run when ENTRY's 95th percentile is above"),
    Option("check-p99", [], _entry_limits("ms"), "Gate: ENTRY=MS, fail the run when ENTRY's 99th percentile is above"),
    Option("check-min-mbps", [], _entry_limits("MB/s"), "Gate: ENTRY=X, fail the run when ENTRY moved under X MB/s"),
    Option("summary-file", "", _text, "Write a JSON summary (per-entry figures, gate results) here at the end"),
    Option("cleanup", False, _boolean, "At test stop, delete the images this test's image-push stored"),
    Option("honor-retry-after", False, _boolean, "After a 429/503 with Retry-After, that user waits as told"),
    Option("pushed-log", "", _writable_file, "Append one JSON line per successful image-push here (for `audit`)"),
    Option("load-shape", "", _load_shape, "ramp[:UP%], step[:N] or spike[:BASE%] over -t, peaking at -u users"),
    Option("pull-push-ratio", "", _shares(2), "Shares of pull and push users, e.g. 75/25 (as user-weights)"),
    Option("image-mix", "", _shares(), "Shares of the images in their order, e.g. 20/70/10 for 3 synthetic images"),
    Option("scenario", "", _text, "YAML scenario file setting these values plus task and user weights"),
    Option("weights", {}, _weights(TASK_NAMES), "Task weights by task name", cli=False),
    Option("user-weights", {}, _weights(USER_NAMES), "User class weights (pull, push)", cli=False),
)
_BY_KEY = {option.key: option for option in OPTIONS}


def add_arguments(parser: Any) -> None:
    """Register our options in Locust's parser (call from `events.init_command_line_parser`)."""
    for option in OPTIONS:
        if not option.cli:
            continue
        kwargs: dict[str, Any] = {
            "default": option.default,
            "help": f"{option.help} (default {option.default!r})",
            "env_var": option.env,
            "include_in_web_ui": True,
        }
        if isinstance(option.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = type(option.default)
        if option.choices:
            kwargs["choices"] = option.choices
        if option.secret:
            kwargs["is_secret"] = True
        if isinstance(option.default, list):
            kwargs["action"] = "append"
            kwargs["type"] = str
        parser.add_argument(f"--{option.name}", **kwargs)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, checked and typed."""

    fixtures_dir: str = "fixtures"
    synthetic_images: str = ""
    synthetic_seed: int = 0
    chunk_size: int = 5 * MIB
    upload_mode: str = "chunked"
    verify_digests: bool = True
    repository_prefix: str = "loadtest"
    pull_parallel: int = 3
    push_parallel: int = 5
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
