"""`python -m registry_tasks options`: every option of the plugin, grouped by purpose, with its flag, LOCUST_*
environment variable, default and help, from the one option table (`config.options.OPTIONS`).

Locust prints `locust -f locustfile.py --help` before it loads the locustfile, so the plugin's options never show
there; this lists them without importing Locust.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

from ..config.options import GROUPS, OPTIONS, Option

HEADER = """\
Options of registry-tasks, by purpose. Each is a locust flag, a LOCUST_* environment variable, a key of a
--scenario YAML file (the name, dashes or underscores) and a field under "Custom parameters" in the web UI.
Precedence: command line, environment or web UI, then the scenario, then the default."""
WIDTH = 100
BY_NAME = {option.name: option for option in OPTIONS}


def add_parser(subcommands: Any) -> None:
    parser = subcommands.add_parser("options", help="list every option of the plugin (locust --help cannot)")
    parser.add_argument("--group", choices=tuple(GROUPS), help="only the options of this group")
    parser.set_defaults(run=run)


def flag(option: Option) -> str:
    if not option.cli:
        return f"{option.name}: (scenario file only)"
    if isinstance(option.default, bool):
        return f"--{option.name} / --no-{option.name}"
    return f"--{option.name} {option.key.upper()}"


def shown(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if default in ("", [], {}):
        return "none"
    return str(default)


def details(option: Option) -> str:
    parts = [f"env {option.env}"] if option.cli else []
    parts.append(f"default {shown(option.default)}")
    if option.choices:
        parts.append("one of " + ", ".join(choice or '""' for choice in option.choices))
    if isinstance(option.default, list) and option.cli:
        parts.append("repeatable")
    if option.secret:
        parts.append("secret (kept out of the web UI's page)")
    return "; ".join(parts)


def lines(groups: tuple[str, ...]) -> Iterator[str]:
    yield HEADER
    for group in groups:
        yield ""
        yield f"{group}:"
        for option in (BY_NAME[name] for name in GROUPS[group]):
            yield f"  {flag(option)}"
            for text in (details(option), option.help):
                yield from textwrap.wrap(text, WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 8)


def run(args: argparse.Namespace) -> int:
    text = "\n".join(lines((args.group,) if args.group else tuple(GROUPS))) + "\n"
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `... options | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
