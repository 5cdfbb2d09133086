"""One RegistryPlugin per Locust environment: made at `init` by the one hook importing the plugin adds, holding
that environment's run; nothing of a run is shared between environments (there is no module-level state)."""

from __future__ import annotations

from typing import Any

import pytest
from locust import User, task
from locust.env import Environment
from locust.event import Events

from registry_tasks.plugin.registry_plugin import RegistryPlugin, plugin_of, register
from registry_tasks.plugin.run.state import run_of

from ..support.helpers import options


class OwnUser(User):
    """A class of a user's own locustfile: choosing it changes none of ours."""

    @task
    def nothing(self) -> None:
        """Never run."""


def environment(events: Events, **given: Any) -> Environment:
    parsed = options(**{"synthetic_images": "1x1KiB", **given})
    return Environment(user_classes=[OwnUser], events=events, parsed_options=parsed, host="http://127.0.0.1:1")


def test_registering_twice_adds_one_init_listener() -> None:
    events = Events()
    register(events)
    register(events)
    made: list[RegistryPlugin | None] = []
    events.init.add_listener(lambda environment, **_: made.append(plugin_of(environment)))
    env = environment(events)
    events.init.fire(environment=env, runner=None, web_ui=None)
    assert len(made) == 1 and made[0] is plugin_of(env)


def test_each_environment_holds_a_run_of_its_own() -> None:
    events = Events()
    register(events)
    first, second = environment(events), environment(Events(), synthetic_images="2x1KiB")
    events.init.fire(environment=first, runner=None, web_ui=None)
    RegistryPlugin(second).load()
    assert run_of(first) is not run_of(second)
    assert [len(image.layers) for image in run_of(second).images] == [2]
    assert run_of(first).choice.classes == (OwnUser,)
    assert first.user_classes == [OwnUser]


def test_a_second_init_of_one_environment_keeps_its_object() -> None:
    events = Events()
    register(events)
    env = environment(events)
    events.init.fire(environment=env, runner=None, web_ui=None)
    plugin = plugin_of(env)
    events.init.fire(environment=env, runner=None, web_ui=None)
    assert plugin_of(env) is plugin and plugin is not None


def test_a_user_of_an_environment_without_the_plugin_is_told_so() -> None:
    with pytest.raises(RuntimeError, match="not initialised"):
        run_of(Environment(events=Events()))
