"""Keep secret options (`--registry-password`) out of the web UI's page source.

Locust renders every web UI option's current value into the start page, secret ones included: masked on
screen, in clear text in the HTML. We blank them there. A blank sent back from the form means "unchanged":
the value this process started with is kept in its own environment variable, where `settings_from` looks
when the option is empty (as a worker does with its own environment).
"""

from __future__ import annotations

import os

from locust.env import Environment

from ...config import OPTIONS

SECRETS = tuple(option for option in OPTIONS if option.secret)


def hide(environment: Environment) -> None:
    """At init: the secret options kept in this process's environment variables, blanked in the web UI's page."""
    for option in SECRETS:
        value = getattr(environment.parsed_options, option.key, "")
        if value:
            os.environ[option.env] = value
    web_ui = environment.web_ui
    if web_ui is None:
        return
    update = web_ui.update_template_args

    def update_without_secrets() -> None:
        update()
        extra_options = web_ui.template_args.get("extra_options") or {}
        for option in SECRETS:
            if option.key in extra_options:
                extra_options[option.key]["default_value"] = ""

    web_ui.update_template_args = update_without_secrets  # type: ignore[method-assign]
