"""Parsers of option and scenario values: each takes what a flag, a variable or YAML gave and returns the typed
value, or raises ValueError saying what is wrong with it (the caller names the option or key)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..image import ImageError, Platform, parse_size
from ..load import Shape
from ..load.arrivals import ARRIVAL_PROCESSES, parse_rate
from ..load.capacity import Slo
from ..load.popularity import Popularity
from ..load.rollout import RolloutSpec
from ..load.traces import FORMATS as TRACE_FORMATS
from ..registry.profiles import UPLOAD_STYLES, profile_named

UPLOAD_MODES = UPLOAD_STYLES
REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


def positive_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a size such as 5MiB, 512KiB or 1048576")
    size = value if isinstance(value, int) else parse_size(value)[0]
    if size <= 0:
        raise ValueError(f"{value!r} must be more than 0 bytes")
    return size


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if number <= 0:
        raise ValueError(f"{value!r} must be 1 or more")
    return number


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
        return value.lower() in ("true", "yes", "1", "on")
    raise ValueError(f"{value!r} is not true or false")


def upload_mode(value: Any) -> str:
    """An upload style, or "" for the client profile's."""
    if value not in ("", *UPLOAD_MODES):
        raise ValueError(f"{value!r} is not one of {', '.join(UPLOAD_MODES)} (or empty: the client profile's)")
    return str(value)


def count_or_profile(value: Any) -> int:
    """A whole number of things at once, 0 meaning "as the client profile does"."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if number < 0:
        raise ValueError(f"{value!r} must be 0 (the client profile's) or more")
    return number


def client_profile(value: Any) -> str:
    """A profile name (`docker`, `docker-20.10`, ...) or a profile file (`./ci.yaml`: read and checked now, before
    any load), or "" for the mode's own: docker for users and arrivals, containerd for a rollout."""
    if value == "":
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a client profile's name or file")
    profile_named(value, fresh=True)  # a file is read (again) whenever the options are
    return value


def client_mix(value: Any) -> dict[str, int]:
    """`containerd=80,docker=20` (text, repeated options, a YAML list) or a YAML mapping of profile -> share; a
    profile is a name or a file, as --client-profile takes (`containerd=80,./ci.yaml=20`)."""
    if value in ("", None, [], {}):
        return {}
    if isinstance(value, Mapping):
        pairs = [(str(name), share) for name, share in value.items()]
    else:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
            raise ValueError(f"{value!r} is not PROFILE=SHARE items, e.g. containerd=80,docker=20")
        texts = [part for item in items for part in item.replace(",", " ").split()]
        pairs = [(name, share) for name, _, share in (text.partition("=") for text in texts)]
        for (_, share), text in zip(pairs, texts, strict=True):
            if not share:
                raise ValueError(f"{text!r} is not PROFILE=SHARE, e.g. containerd=80")
    mix: dict[str, int] = {}
    for name, share in pairs:
        client_profile(name)
        if isinstance(share, bool) or not str(share).isdigit():
            raise ValueError(f"share of {name} must be a whole number >= 0, got {share!r}")
        mix[name] = int(share)
    if not sum(mix.values()):
        raise ValueError("shares sum to 0: no client would run")
    return mix


def repository_prefix(value: Any) -> str:
    if not isinstance(value, str) or not REPOSITORY.match(value):
        raise ValueError(f"{value!r} is not a repository path (lowercase a-z, 0-9, '.', '_', '-', '/')")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


def platform(value: Any) -> Platform:
    try:
        return Platform.parse(text(value))
    except ImageError as exc:
        raise ValueError(str(exc)) from None


def seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def existing_file(value: Any) -> str:
    path = text(value)
    if path and not os.path.isfile(os.path.expanduser(path)):
        raise ValueError(f"{path!r}: no such file")
    return path


def writable_file(value: Any) -> str:
    """A file we will append to: its directory must exist now, not fail at the first write mid-run."""
    path = text(value)
    if not path:
        return path
    full = os.path.expanduser(path)
    if os.path.isdir(full):
        raise ValueError(f"{path!r} is a directory, not a file")
    if not os.path.isdir(os.path.dirname(os.path.abspath(full))):
        raise ValueError(f"{path!r}: its directory does not exist")
    return path


def image_references(value: Any) -> tuple[str, ...]:
    """`repo:tag` / `repo@sha256:...` list (a YAML list, repeated options, or one comma/space-separated text)."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{value!r} is not a list of repository:tag references")
    references = []
    for item in items:
        for text in item.replace(",", " ").split():
            repository = re.split(r"[@:]", text, maxsplit=1)[0]
            if not REPOSITORY.match(repository) or text == repository:
                raise ValueError(f"{text!r} is not repository:tag or repository@digest")
            references.append(text)
    return tuple(references)


def as_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not {what}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not {what}") from None


def ratio(value: Any) -> float | None:
    """A failure ratio between 0 and 1; empty means no gate."""
    if value in ("", None):
        return None
    what = "a ratio between 0 and 1 (e.g. 0.01)"
    ratio = as_number(value, what)
    if not 0 <= ratio <= 1:
        raise ValueError(f"{value!r} is not {what}")
    return ratio


def entry_limits(unit: str, entries: tuple[str, ...]) -> Callable[[Any], dict[str, float]]:
    """`ENTRY=NUMBER` items (repeated options, comma-separated text, a YAML list) or a YAML mapping."""

    def limit(entry: Any, number: Any) -> float:
        if entry not in entries:
            raise ValueError(f"unknown entry {entry!r} (known: {', '.join(entries)})")
        value = as_number(number, f"a number of {unit} (limit of {entry})")
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


def load_shape(value: Any) -> Shape | None:
    return Shape.parse(text(value)) if value else None


def shares(count: int | None = None) -> Callable[[Any], tuple[int, ...]]:
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


def weights(names: tuple[str, ...]) -> Callable[[Any], dict[str, int]]:
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


def arrival_rates(entries: tuple[str, ...]) -> Callable[[Any], dict[str, float]]:
    """`ENTRY=R/s[,ENTRY=R/m...]` (repeated options, comma-separated text, a YAML list or mapping) -> per second."""

    def parse(value: Any) -> dict[str, float]:
        if value in ("", None, [], {}):
            return {}
        if isinstance(value, Mapping):
            pairs = [(str(entry), str(rate)) for entry, rate in value.items()]
        else:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
                raise ValueError(f"{value!r} is not ENTRY=RATE items, e.g. manifest-get=80/s")
            pairs = []
            for text in (part for item in items for part in item.replace(",", " ").split()):
                entry, separator, rate = text.partition("=")
                if not separator:
                    raise ValueError(f"{text!r} is not ENTRY=RATE, e.g. manifest-get=80/s")
                pairs.append((entry, rate))
        rates: dict[str, float] = {}
        for entry, rate in pairs:
            rates[task_entry(entries)(entry)] = parse_rate(rate) + rates.get(entry, 0.0)
        return rates

    return parse


def task_entry(entries: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in ("", *entries):
            raise ValueError(f"unknown task {value!r} (known: {', '.join(entries)})")
        return str(value)

    return parse


def arrival_process(value: Any) -> str:
    if value not in ARRIVAL_PROCESSES:
        raise ValueError(f"{value!r} is not one of {', '.join(ARRIVAL_PROCESSES)}")
    return str(value)


def rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a rate such as 10/s")
    return parse_rate(str(value))


def positive_seconds(value: Any) -> float:
    seconds = as_number(value, "a number of seconds")
    if seconds <= 0:
        raise ValueError(f"{value!r} must be more than 0 seconds")
    return seconds


def rollout(value: Any) -> RolloutSpec | None:
    if value in ("", None):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not NODES[@WINDOW], e.g. 2000@60s")
    return RolloutSpec.parse(str(value))


def slo(value: Any) -> Slo | None:
    return Slo.parse(text(value)) if value else None


def existing_files(value: Any) -> tuple[str, ...]:
    """Files that must exist now (repeated options, comma-separated text or a YAML list)."""
    if value in ("", None, []):
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{value!r} is not a list of files")
    paths = tuple(part for item in items for part in item.split(",") if part.strip())
    for path in paths:
        existing_file(path)
    return paths


def speed(value: Any) -> float:
    """A replay speed factor, or `max` (infinity: as fast as --max-in-flight allows)."""
    if isinstance(value, str) and value.strip().lower() == "max":
        return float("inf")
    factor = as_number(value, "a speed factor such as 2 or 0.5, or max")
    if factor <= 0:
        raise ValueError(f"{value!r} must be more than 0 (or max)")
    return factor


def window(value: Any) -> tuple[float, float | None]:
    """`START:END` seconds from the trace's first record (either may be empty): the slice to replay."""
    if value in ("", None):
        return (0.0, None)
    start_text, separator, end_text = text(value).partition(":")
    if not separator:
        raise ValueError(f"{value!r} is not START:END in seconds, e.g. 3600:7200 or :600")
    start = as_number(start_text or "0", f"a number of seconds (start of {value!r})")
    end = as_number(end_text, f"a number of seconds (end of {value!r})") if end_text else None
    if start < 0 or (end is not None and end <= start):
        raise ValueError(f"{value!r}: the end must come after the start, both 0 or more")
    return (start, end)


def trace_format(value: Any) -> str:
    if value not in ("", *TRACE_FORMATS):
        raise ValueError(f"{value!r} is not one of {', '.join(TRACE_FORMATS)} (or empty: detected)")
    return str(value)


def populate(value: Any) -> tuple[int, int] | None:
    """`REPOSxTAGS`, e.g. 500x20: that many repositories of that many tags each."""
    if value in ("", None):
        return None
    found = re.match(r"^\s*(\d+)\s*x\s*(\d+)\s*$", str(value)) if isinstance(value, (str, int)) else None
    if found is None:
        raise ValueError(f"{value!r} is not REPOSxTAGS, e.g. 500x20")
    repositories, tags = int(found.group(1)), int(found.group(2))
    if repositories < 1 or tags < 1:
        raise ValueError(f"{value!r}: needs at least 1 repository and 1 tag, e.g. 500x20")
    return repositories, tags


def popularity(value: Any) -> Popularity:
    return Popularity.parse(text(value))
