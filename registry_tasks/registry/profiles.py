"""Client profiles: what each real client sends, as data. Workflows read a profile; they never branch on its name.

Each built-in profile is a YAML file beside this module (profiles/docker-20.10.yaml, containerd-1.6.yaml,
skopeo-1.9.yaml, minimal.yaml), named by client and version, with the real program it was checked against; a user
may give a file of their own (`--client-profile ./my-client.yaml`). `read_profile` reads one into a frozen
`ClientProfile`, checking every field by name and type, refusing unknown keys, with one line naming the file and
the field. The bare names `docker`, `containerd` and `skopeo` mean the versions measured here (ALIASES).

Measured against distribution 2.8 from its own log, with the real programs run beside ours (tests/system:
test_real_clients.py, test_profiles.py), and read from their sources (docs/real-clients.md); every field side by
side, and what each was checked against: docs/client-profiles.md (held to the files by
tests/unit/test_registry_profiles.py).
"""

from __future__ import annotations

import dataclasses
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from ..errors import RegistryTasksError

TAG = f"registry-tasks/{__version__}"
"""Our mark at the end of every profile's User-Agent, so that operators can tell the load apart."""

# How an upload session carries a blob's bytes (RegistryClient.upload_blob).
CHUNKED = "chunked"  # PATCH after PATCH with Content-Range (the spec's chunked upload), then PUT ?digest=
STREAM = "stream"  # one PATCH with Content-Length and no Content-Range, then PUT ?digest=
STREAM_ENCODED = "stream-encoded"  # one PATCH with Transfer-Encoding: chunked (size unknown), then PUT ?digest=
MONOLITHIC = "monolithic"  # POST, then one PUT ?digest= carrying the whole body
UPLOAD_STYLES = (CHUNKED, STREAM, STREAM_ENCODED, MONOLITHIC)

# Connection policies.
PER_REQUEST = "per-request"  # `Connection: close` on every request: a new TCP connection each time
POOLED = "pooled"  # keep-alive connections per simulated client
POOL_PER_OPERATION = "pool-per-operation"  # keep-alive within one image operation, a fresh pool for the next
CONNECTION_POLICIES = (PER_REQUEST, POOLED, POOL_PER_OPERATION)

# Which blobs get a HEAD before their upload.
HEAD_NONE, HEAD_CONFIG, HEAD_ALL = "none", "config", "all"
HEAD_BEFORE_UPLOAD = (HEAD_NONE, HEAD_CONFIG, HEAD_ALL)


@dataclass(frozen=True)
class Retry:
    """How often a client tries a blob transfer, and how long it waits before try n (n = 2, 3, ...)."""

    attempts: int = 1
    first_wait: float = 0.0
    growth: float = 0.0  # wait before try n = first_wait + growth * (n - 2)

    def wait(self, attempt: int) -> float:
        return self.first_wait + self.growth * (attempt - 2)


@dataclass(frozen=True)
class ClientProfile:
    """What one kind of client sends for a whole image pull or push."""

    name: str
    user_agent: str
    accept: tuple[str, ...]
    accept_joined: bool  # one `Accept: a, b` line (containerd) or one line per type (Go's []string: docker, skopeo)
    ping: bool
    resolve_by_head: bool  # HEAD the tag, then GET the manifest by the digest it answers
    config_first: bool  # the config before the layers (else alongside them)
    download_parallel: int  # 0: the --pull-parallel option
    upload_parallel: int  # 0: the --push-parallel option
    connections: str
    head_before_upload: str
    upload_style: str  # "": the --upload-mode option
    head_after_upload: bool
    manifest_head_before_put: bool
    mounts: bool  # try a cross-repository mount for a blob this client pushed to another repository
    token_per_operation: bool
    retry: Retry = Retry()
    range_resume: bool = False  # after a body cut mid-way, ask for the rest (`Range: bytes=N-`) instead of it all
    resume_wait: float = 0.0  # seconds before that resume

    def with_user_agent(self, user_agent: str) -> ClientProfile:
        return replace(self, user_agent=user_agent) if user_agent else self


class ProfileError(RegistryTasksError, ValueError):
    """A client profile file that cannot be used; the message is one line naming the file and the field."""


BUILT_IN_DIR = Path(__file__).with_name("profiles")
"""The built-in profiles' files, shipped in the package (pyproject.toml: package-data)."""
CHECKED_AGAINST = "checked_against"
"""The one key of a profile file that is not a field of ClientProfile: the real program (and version) it was
measured against, and where."""
PLACEHOLDERS = {"tag": TAG, "kernel": platform.release()}
"""What `{tag}` and `{kernel}` in a profile's user_agent stand for: our mark, and the running kernel's release (as
`uname -r`, which docker sends)."""
ALIASES = {"docker": "docker-20.10", "containerd": "containerd-1.6", "skopeo": "skopeo-1.9"}
"""Bare client names -> the built-in profile they mean."""


def is_profile_file(value: str) -> bool:
    """Whether --client-profile names a file (a path: has a `/`, or ends in .yaml/.yml) rather than a profile."""
    return "/" in value or value.endswith((".yaml", ".yml"))


class _Refused(RegistryTasksError):
    """A field's value refused: what was expected."""


def _got(value: Any) -> str:
    """A refused value as the error line shows it: its repr, cut short."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Refused("expected text")
    return value


def _said(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Refused("expected text saying what the profile was checked against (or 'nothing yet')")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value):
        raise _Refused("expected a name of letters, digits, '.', '_' or '-'")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Refused("expected true or false")
    return value


def _whole(least: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise _Refused(f"expected a whole number >= {least}")
        return value

    return check


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise _Refused("expected a number of seconds >= 0")
    return float(value)


def _one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Refused("expected one of " + ", ".join(repr(choice) for choice in choices))
        return str(value)

    return check


def _accept(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
        raise _Refused("expected a list of one or more media types")
    return tuple(value)


def _user_agent(value: Any) -> str:
    text = _text(value)
    unknown = sorted(set(re.findall(r"\{(\w*)\}", text)) - set(PLACEHOLDERS))
    if unknown:
        raise _Refused(f"expected only the placeholders {{tag}} and {{kernel}}, not {{{unknown[0]}}}")
    for placeholder, meant in PLACEHOLDERS.items():
        text = text.replace(f"{{{placeholder}}}", meant)
    return text


RETRY_FIELDS: dict[str, Callable[[Any], Any]] = {
    "attempts": _whole(1),
    "first_wait": _seconds,
    "growth": _seconds,
}
"""The fields of `retry:` (all optional: Retry's defaults)."""
FIELDS: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "user_agent": _user_agent,
    "accept": _accept,
    "accept_joined": _flag,
    "ping": _flag,
    "resolve_by_head": _flag,
    "config_first": _flag,
    "download_parallel": _whole(0),
    "upload_parallel": _whole(0),
    "connections": _one_of(*CONNECTION_POLICIES),
    "head_before_upload": _one_of(*HEAD_BEFORE_UPLOAD),
    "upload_style": _one_of(*UPLOAD_STYLES, ""),
    "head_after_upload": _flag,
    "manifest_head_before_put": _flag,
    "mounts": _flag,
    "token_per_operation": _flag,
    "retry": lambda value: value,  # a mapping, checked field by field in _retry
    "range_resume": _flag,
    "resume_wait": _seconds,
}
"""Every field of ClientProfile and its check; a field with a default in ClientProfile may be left out."""
assert list(FIELDS) == [field.name for field in dataclasses.fields(ClientProfile)]
assert list(RETRY_FIELDS) == [field.name for field in dataclasses.fields(Retry)]
REQUIRED = tuple(
    [CHECKED_AGAINST]
    + [field.name for field in dataclasses.fields(ClientProfile) if field.default is dataclasses.MISSING]
)
"""The keys a profile file must have: every field without a default, and what it was checked against."""


def _keys(document: Any, where: str, what: str, known: list[str]) -> dict[str, Any]:
    """A YAML mapping's items by field name (`first-wait` as `first_wait`), refusing an unknown or doubled key."""
    if not isinstance(document, dict):
        raise ProfileError(f"{where}: expected a mapping of {what}, got {_got(document)}")
    items: dict[str, Any] = {}
    for raw, value in document.items():
        key = str(raw).replace("-", "_")
        if key not in known:
            raise ProfileError(f"{where}: unknown field {raw!r} (fields: {', '.join(known)})")
        if key in items:
            raise ProfileError(f"{where}: field {key!r} given twice")
        items[key] = value
    return items


def _retry(value: Any, where: str) -> Retry:
    if not isinstance(value, dict):
        fields = ", ".join(RETRY_FIELDS)
        raise ProfileError(f"{where}: field 'retry': expected a mapping of {fields}, got {_got(value)}")
    items = _keys(value, f"{where}: field 'retry'", "fields", list(RETRY_FIELDS))
    checked = {}
    for key, raw in items.items():
        try:
            checked[key] = RETRY_FIELDS[key](raw)
        except _Refused as refused:
            raise ProfileError(f"{where}: field 'retry.{key}': {refused}, got {_got(raw)}") from None
    return Retry(**checked)


def parse_profile(document: Any, shown: str) -> tuple[ClientProfile, str]:
    """A profile from a YAML document (`shown` names where it comes from): the profile and what it was checked
    against; raises ProfileError, one line naming the file and the field."""
    where = f"client profile {shown}"
    if document is None:
        raise ProfileError(f"{where}: empty; expected a mapping of fields ({', '.join(REQUIRED)}, ...)")
    items = _keys(document, where, "fields", [CHECKED_AGAINST, *FIELDS])
    missing = [key for key in REQUIRED if key not in items]
    if missing:
        more = f" (and {len(missing) - 1} more)" if missing[1:] else ""
        raise ProfileError(f"{where}: missing field {missing[0]!r}{more}")
    checked: dict[str, Any] = {}
    for key, raw in items.items():
        if key == "retry":
            checked[key] = _retry(raw, where)
            continue
        try:
            checked[key] = _said(raw) if key == CHECKED_AGAINST else FIELDS[key](raw)
        except _Refused as refused:
            raise ProfileError(f"{where}: field {key!r}: {refused}, got {_got(raw)}") from None
    checked_against = checked.pop(CHECKED_AGAINST)
    return ClientProfile(**checked), checked_against


def read_profile(path: str | Path, shown: str | None = None) -> tuple[ClientProfile, str]:
    """A profile file read and checked: the profile and what it was checked against."""
    where = f"client profile {shown or path}"
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise ProfileError(f"{where}: a directory, not a file") from None
    except OSError as exc:
        raise ProfileError(f"{where}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{where}: not UTF-8 text") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        raise ProfileError(f"{where}: not valid YAML{line}" + (f" ({problem})" if problem else "")) from None
    return parse_profile(document, shown or str(path))


_LOADED: dict[str, ClientProfile] = {}


def load_profile(path: str, fresh: bool = False) -> ClientProfile:
    """A user's profile file (as --client-profile names it): read when the options are parsed (`fresh`: a run
    started anew from the web UI reads it again), and kept for the users of the run."""
    if fresh or path not in _LOADED:
        _LOADED[path] = read_profile(path)[0]
    return _LOADED[path]


BUILT_IN_NAMES = (*ALIASES.values(), "minimal")
"""The built-in profiles, in the order pages list them: each is BUILT_IN_DIR/NAME.yaml."""


def _built_in() -> dict[str, tuple[ClientProfile, str]]:
    found = {}
    for name in BUILT_IN_NAMES:
        path = BUILT_IN_DIR / f"{name}.yaml"
        profile, checked_against = read_profile(path, f"registry_tasks/registry/profiles/{path.name}")
        if profile.name != name:
            raise ProfileError(f"client profile {path}: field 'name': expected {name!r}, got {profile.name!r}")
        found[name] = (profile, checked_against)
    return found


_FILES = _built_in()
BUILT_IN: Mapping[str, ClientProfile] = {name: profile for name, (profile, _) in _FILES.items()}
"""The built-in profiles by their names (client-version), in the order pages list them."""
CHECKED: Mapping[str, str] = {name: _FILES[name][1] for name in BUILT_IN}
"""What each built-in profile was checked against."""
PROFILES: Mapping[str, ClientProfile] = {
    **{alias: BUILT_IN[name] for alias, name in ALIASES.items()},
    "minimal": BUILT_IN["minimal"],
    **BUILT_IN,
}
"""Every name --client-profile and --client-mix take: the bare names, then the versioned ones."""
DOCKER, CONTAINERD, SKOPEO, MINIMAL = (PROFILES[name] for name in ("docker", "containerd", "skopeo", "minimal"))
DEFAULT = "docker"


def profile_named(value: str, fresh: bool = False) -> ClientProfile:
    """What --client-profile (or a --client-mix entry) names: a profile by name, or a file's (read again when
    `fresh`); raises ValueError (a ProfileError for a bad file)."""
    if is_profile_file(value):
        return load_profile(value, fresh)
    if value not in PROFILES:
        raise ValueError(f"{value!r} is not one of {', '.join(PROFILES)}, nor a file (./NAME.yaml)")
    return PROFILES[value]


def _cell(value: Any) -> str:
    """A profile file's value as a markdown table cell, as the file writes it (`{kernel}`, `{tag}` unfilled)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "<br>".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return "<br>".join(f"{key}: {_cell(item)}" for key, item in value.items())
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return str(value)


def side_by_side() -> str:
    """Every built-in profile's fields side by side, from the files as written: the table of
    docs/client-profiles.md (tests/unit/test_registry_profiles.py holds the page to it)."""
    documents = {name: yaml.safe_load((BUILT_IN_DIR / f"{name}.yaml").read_text(encoding="utf-8")) for name in BUILT_IN}
    rows = ["| field | " + " | ".join(f"`{name}`" for name in BUILT_IN) + " |", "|---" * (len(BUILT_IN) + 1) + "|"]
    rows.append("| aliases | " + " | ".join(
        ", ".join(f"`{alias}`" for alias, meant in ALIASES.items() if meant == name) for name in BUILT_IN
    ) + " |")  # fmt: skip
    for key in (CHECKED_AGAINST, *FIELDS):
        if key == "name":
            continue
        cells = [documents[name][key] if key == CHECKED_AGAINST else _cell(documents[name][key]) for name in BUILT_IN]
        rows.append(f"| `{key}` | " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"
