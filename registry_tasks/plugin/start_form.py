"""The web UI's start form, checked before Locust starts anything.

Locust's `/swarm` takes the form's option values into `parsed_options` and starts the run; a bad value
(`chunk_size=-5`) was refused only at `test_start`, in the log, with the run stuck in CLEANUP and the form
saying it had started. We read the same form the same way first: a bad value, a missing host, or a change of
what decides the user classes (chosen when Locust started: users/choice.py) answers `/swarm` with
`{"success": false, "message": ...}`, which the UI shows under the form, and nothing starts.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from flask import jsonify, request
from locust.env import Environment

from ..config import SettingsError, check_host
from .run.checks import STARTUP_ERRORS, check_open_model
from .run.state import RegistryRun, load_run
from .users import choice as user_choice

log = logging.getLogger("registry_tasks.plugin.start_form")
LOCUST_OWN = frozenset({"user_count", "spawn_rate", "host", "user_classes", "run_time", "profile", "shape_class"})
"""Form fields Locust checks itself."""


def form_options(parsed: Any, form: Any) -> argparse.Namespace:
    """The options as Locust's /swarm will set them from this form (the same conversions, web.py)."""
    values = dict(vars(parsed)) if parsed is not None else {}
    for key, value in form.items():
        if key in LOCUST_OWN or key not in values:
            continue
        current = values[key]
        if isinstance(current, bool):
            values[key] = value == "true"
        elif current is None:
            values[key] = value
        elif isinstance(current, list):
            values[key] = value.split(",") if "," in value else form.getlist(key)
        else:
            try:
                values[key] = type(current)(value)
            except ValueError:
                raise SettingsError(f"--{key.replace('_', '-')} {value!r}: expected {type(current).__name__}") from None
    return argparse.Namespace(**values)


def problem(environment: Environment, form: Any, run: RegistryRun | None) -> str | None:
    """Why this form must not start a run, in one line; None when it may."""
    host = str(form.get("host", environment.host or "")).replace("<", "").replace(">", "")
    try:
        if not host:
            raise SettingsError("no registry to load: enter its URL as Host, e.g. http://127.0.0.1:5000")
        check_host(host)
        options = form_options(environment.parsed_options, form)
        options.user_classes = getattr(environment.parsed_options, "user_classes", None)
        candidate = load_run(host, options)
        check_open_model(environment, candidate.settings)
        chosen = user_choice.decide(user_choice.locustfile_classes(environment), candidate.settings, options)
        if run is not None and run.choice is not None and not same_users(run.choice, chosen):
            return (
                "the user classes and their weights were chosen from the options Locust started with "
                f"({run.choice.describe()}); --scenario, --pull-push-ratio and the open-model options that change "
                "them take effect on a restart of Locust"
            )
        picked = form.getlist("user_classes")
        weights = dict(chosen.weights)
        offered: dict[str, Any] = dict(environment.available_user_classes or {})
        idle = [name for name in picked if name in offered and weights.get(offered[name], 1) == 0]
        if picked and len(idle) == len(picked):
            return f"{', '.join(idle)} run only when asked: start Locust with --tags naming their tasks"
    except STARTUP_ERRORS as exc:
        return str(exc)
    return None


def same_users(first: user_choice.UserChoice, second: user_choice.UserChoice) -> bool:
    return (first.classes, first.weights, first.task_lists) == (second.classes, second.weights, second.task_lists)


def install(environment: Environment, current: Callable[[], RegistryRun | None]) -> None:
    """At init: /swarm answers a form that must not start a run (`current`: the run Locust started with)."""
    app = environment.web_ui.app if environment.web_ui is not None else None
    if app is None:
        return

    def check_start() -> Any:
        if (request.endpoint or "").rsplit(".", 1)[-1] != "swarm" or request.method != "POST":  # "locust.swarm"
            return None
        reason = problem(environment, request.form, current())
        if reason is None:
            return None
        log.error("not started: %s", reason)
        return jsonify({"success": False, "message": reason, "host": environment.host})

    app.before_request(check_start)
