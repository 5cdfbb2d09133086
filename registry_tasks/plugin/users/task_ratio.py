"""`locust -f locustfile.py --show-task-ratio` with the run's own weights.

Locust prints the task ratio and exits before its `init` event, where the user classes are chosen
(users/choice.py), so it would show every class at its declared weight (browse, churn and artifact users
included, which run only when asked). When that flag is given, the choice is made as the plugin is imported,
from the same command line, environment and config files Locust reads next.
"""

from __future__ import annotations

import sys

from locust.argument_parser import get_parser

from ...config import SettingsError, settings_from
from .choice import decide
from .classes import USER_CLASSES

FLAGS = ("--show-task-ratio", "--show-task-ratio-json")


def choose_for_task_ratio(argv: list[str]) -> None:
    """Apply the options' weights and task lists to our classes when the task ratio is asked; a bad option
    gets its one line and exit 1, as it would at init."""
    if not any(flag in argv for flag in FLAGS):
        return
    options = get_parser().parse_args(argv[1:])
    try:
        named = set(getattr(options, "user_classes", None) or ())
        ours = [cls for cls in USER_CLASSES.values() if not named or cls.__name__ in named]
        choice = decide(ours, settings_from(options), options)
    except SettingsError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(1)
    choice.apply()
    for user_class in ours:  # Locust leaves weight-0 classes out of what it prints
        if user_class not in choice.classes:
            user_class.weight = 0
