"""What one option is, and how the option table declares it: `option()` makes a field of the Settings dataclass
(config/settings.py) whose default is the parsed raw default and whose metadata carries the Option, named after
the field. Everything else (flags, LOCUST_* variables, web UI fields, scenario keys, the options page) derives
from that table (config/options.py)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CONNECTION_AND_AUTH = "connection and auth"
CLIENTS_AND_TRANSFERS = "clients and transfers"
IMAGES = "images"
WHAT_TO_RUN = "what to run"
ARRIVALS_OPEN_MODEL = "arrivals (open model)"
REPLAY = "replay"
GATES_AND_REPORTS = "gates and reports"
GROUPS = (
    CONNECTION_AND_AUTH, CLIENTS_AND_TRANSFERS, IMAGES, WHAT_TO_RUN, ARRIVALS_OPEN_MODEL, REPLAY, GATES_AND_REPORTS
)  # fmt: skip
"""The purposes options are listed under (`python -m registry_tasks options`, docs/options.md), in order."""
OPTION = "registry_tasks.option"
"""The key of a table field's metadata that holds its Option."""


@dataclass(frozen=True)
class Option:
    """One setting: its flag, default, parser, help; `cli` False for scenario-only keys. `metavar` names its value in
    listings; `doc` is its fuller text on the options page (docs/options.md, markdown), when the help is not all.
    Declared by `option()` as a field of the table, named after it by `options_of`."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    choices: tuple[str, ...] | None = None
    cli: bool = True
    secret: bool = False
    metavar: str = ""
    doc: str = ""
    group: str = ""
    """Its purpose, one of GROUPS."""

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return "LOCUST_" + self.key.upper()


def option(
    default: Any,
    parse: Callable[[Any], Any],
    help: str,
    choices: tuple[str, ...] | None = None,
    *,
    group: str,
    cli: bool = True,
    secret: bool = False,
    metavar: str = "",
    doc: str = "",
) -> Any:
    """A field of the option table, listed under `group`: `default` is the raw default (what a flag or a scenario
    key would give), its parsed value the field's default (made anew per instance when mutable); a secret one stays
    out of the repr. The Option in its metadata has no name yet: `options_of` names it after the field."""
    if group not in GROUPS:
        raise ValueError(f"option group {group!r} is not one of {GROUPS}")
    spec = Option("", default, parse, help, choices, cli, secret, metavar, doc, group)
    metadata = {OPTION: spec}
    value = parse(default)
    if type(value).__hash__ is None:  # a dict: each Settings gets its own
        return dataclasses.field(default_factory=functools.partial(parse, default), repr=not secret, metadata=metadata)
    return dataclasses.field(default=value, repr=not secret, metadata=metadata)


def options_of(table: type) -> tuple[Option, ...]:
    """The options a dataclass declares with `option()`, in declaration order, each named after its field
    (`chunk_size` -> `chunk-size`)."""
    found = []
    for field in dataclasses.fields(table):
        spec = field.metadata.get(OPTION)
        if not isinstance(spec, Option):
            raise TypeError(f"{table.__name__}.{field.name} is not declared with option()")
        found.append(dataclasses.replace(spec, name=field.name.replace("_", "-")))
    return tuple(found)
