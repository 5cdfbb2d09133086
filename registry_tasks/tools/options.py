"""`python -m registry_tasks options`: every option of the plugin, grouped by purpose, with its flag, LOCUST_*
environment variable, default and help, from the one option table (`Settings` in config/settings.py, as
`config.options.OPTIONS`).

Locust prints `locust -f locustfile.py --help` before it loads the locustfile, so the plugin's options never show
there; this lists them without importing Locust. `--markdown` prints the docs site's options page instead
(docs/options.md is this output, and a test holds it so).
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
REGENERATE = "python -m registry_tasks options --markdown > docs/options.md"
PAGE = f"""\
# Options

<!-- Generated from registry_tasks/config/settings.py by `{REGENERATE}`:
edit the options there and run it again (tests/unit/test_tools_options.py fails while this page differs). -->

Every option is a `locust` flag, an environment variable, a key of a scenario file and a field in the web UI
(under "Custom parameters"). Locust prints `locust -f locustfile.py --help` before it loads the locustfile, so none
of them shows there; list them, grouped by purpose as below, each with its flag, variable, default and help:

```sh
python -m registry_tasks options
```

An option given on the command line, in the environment or in the web UI wins over the scenario file, which wins
over the defaults ([Scenario files](scenarios.md)). A scenario file's keys are the option names (dashes or
underscores); the two marked "scenario file only" have no flag. This page is generated from the option table
(`Settings` in `registry_tasks/config/settings.py`) by `{REGENERATE}`."""


def add_parser(subcommands: Any) -> None:
    parser = subcommands.add_parser("options", help="list every option of the plugin (locust --help cannot)")
    parser.add_argument("--group", choices=tuple(GROUPS), help="only the options of this group")
    parser.add_argument("--markdown", action="store_true", help="print the docs site's options page (markdown)")
    parser.set_defaults(run=run)


def flag(option: Option) -> str:
    if not option.cli:
        return f"{option.name}: (scenario file only)"
    if isinstance(option.default, bool):
        return f"--{option.name} / --no-{option.name}"
    return f"--{option.name} {option.metavar or option.key.upper()}"


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


def members(group: str) -> list[Option]:
    """The options of one group, in the table's order."""
    return [option for option in OPTIONS if option.group == group]


def lines(groups: tuple[str, ...]) -> Iterator[str]:
    yield HEADER
    for group in groups:
        yield ""
        yield f"{group}:"
        for option in members(group):
            yield f"  {flag(option)}"
            for text in (details(option), option.help):
                yield from textwrap.wrap(text, WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 8)


def cell(text: str) -> str:
    """Text as one markdown table cell: a `|` would end the cell."""
    return " ".join(text.split()).replace("|", "\\|")


def meaning(option: Option) -> str:
    """The page's text of an option: its fuller `doc` (else its help), then the values it takes."""
    text = option.doc or option.help
    choices = [f"`{choice}`" for choice in option.choices or () if choice]
    if not all(choice in text for choice in choices):
        text += f". One of {', '.join(choices)}"
    return cell(text)


def markdown_rows(option: Option) -> str:
    default = shown(option.default)
    return " | ".join(
        (
            f"| `{cell(flag(option))}`",
            f"`{option.env}`" if option.cli else "",
            "" if default == "none" else f"`{cell(default)}`",
            f"{meaning(option)} |",
        )
    )


def markdown() -> str:
    """The options page of the docs site: every option, a table per group."""
    parts = [PAGE]
    for group in GROUPS:
        parts += ["", f"## {group[0].upper()}{group[1:]}", "", "| option | env | default | meaning |"]
        parts += ["|---|---|---|---|", *(markdown_rows(option) for option in members(group))]
    return "\n".join(parts) + "\n"


def run(args: argparse.Namespace) -> int:
    groups = (args.group,) if args.group else tuple(GROUPS)
    text = markdown() if args.markdown else "\n".join(lines(groups)) + "\n"
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `... options | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
