"""The options, derived from the one table (`Settings` in config/settings.py): OPTIONS in its order, each with
its flag, LOCUST_* variable, web UI field and scenario key, and their registration in Locust's parser."""

from __future__ import annotations

import argparse
from typing import Any

from .option import GROUPS, Option, options_of
from .settings import GATE_ENTRIES, TOTAL, Settings

__all__ = ["GATE_ENTRIES", "GROUPS", "OPTIONS", "TOTAL", "Option", "add_arguments"]

OPTIONS = options_of(Settings)
"""Every option, in the table's order."""
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
