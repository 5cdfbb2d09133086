"""Which user classes a run spawns, from the options alone (user_choice.decide): the same options give the same
choice in every process, which is what lets a master and its workers agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from locust import User, tag, task

from registry_tasks.config import SettingsError, settings_from
from registry_tasks.plugin.users.choice import UserChoice, decide
from registry_tasks.plugin.users.classes import (
    USER_CLASSES,
    OpenModelUser,
    RegistryBrowseUser,
    RegistryChurnUser,
    RegistryPullUser,
    RegistryPushUser,
)

from ..support.helpers import options

OURS = list(USER_CLASSES.values())


def choice(**given: object) -> UserChoice:
    parsed = options(**given)
    return decide(OURS, settings_from(parsed), parsed)


def task_names(chosen: UserChoice, user_class: type) -> list[str]:
    return [function.__name__ for function in dict(chosen.task_lists)[user_class]]


def test_by_default_pull_and_push_users_at_three_to_one() -> None:
    chosen = choice()
    assert chosen.classes == (RegistryPullUser, RegistryPushUser)
    weights = dict(chosen.weights)
    assert (weights[RegistryPullUser], weights[RegistryPushUser], weights[RegistryBrowseUser]) == (3, 1, 0)
    assert task_names(chosen, RegistryPullUser).count("manifest_get") == 3


def test_tags_pick_classes_run_only_when_asked_and_leave_out_those_without_tasks() -> None:
    chosen = choice(tags=["catalog", "manifest-get"])
    assert chosen.classes == (RegistryPullUser, RegistryBrowseUser)
    assert task_names(chosen, RegistryPullUser) == ["manifest_get"] * 3
    assert task_names(chosen, RegistryBrowseUser) == ["catalog"]


def test_exclude_tags_drop_tasks_and_a_class_left_without_any() -> None:
    chosen = choice(exclude_tags=["chunked-upload", "manifest-put", "image-push"])
    assert chosen.classes == (RegistryPullUser,)


def test_a_class_named_on_the_command_line_runs_even_when_run_only_when_asked() -> None:
    chosen = choice(user_classes=["RegistryChurnUser"])
    assert RegistryChurnUser in chosen.classes and dict(chosen.weights)[RegistryChurnUser] == 1


def test_pull_push_ratio_and_scenario_weights(tmp_path: Path) -> None:
    assert dict(choice(pull_push_ratio="1/4").weights)[RegistryPushUser] == 4
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("weights: {blob-get: 2, tags-list: 1}\n")
    chosen = choice(scenario=str(scenario))
    assert chosen.classes == (RegistryPullUser, RegistryBrowseUser)  # push: no weighted task left
    assert task_names(chosen, RegistryPullUser) == ["blob_get", "blob_get"]


def test_an_open_model_runs_its_placeholder_only() -> None:
    assert choice(arrival_rate=["manifest-get=5/s"]).classes == (OpenModelUser,)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"tags": ["manfest-get"]}, "--tags manfest-get: no task has this tag; valid tags: artifact-push, blob-get"),
        ({"exclude_tags": ["nope"]}, "--exclude-tags nope: no task has this tag"),
        ({"tags": ["blob-get"], "arrival_rate": ["blob-get=1/s"]}, "--tags and --exclude-tags pick closed-loop"),
        ({"tags": ["blob-get"], "pull_push_ratio": "0/1"}, "no user class has a task to run: --tags blob-get"),
    ],
)
def test_what_picks_nothing_is_refused_in_one_line(given: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        choice(**given)


def test_a_class_of_the_users_own_keeps_its_weight_and_drops_out_when_tags_leave_it_nothing() -> None:
    class Mine(User):
        weight = 5

        @tag("mine")
        @task
        def work(self) -> None:
            """Nothing."""

    parsed = options()
    assert decide([Mine, RegistryPullUser], settings_from(parsed), parsed).classes == (Mine, RegistryPullUser)
    parsed = options(tags=["manifest-get"])
    assert decide([Mine, RegistryPullUser], settings_from(parsed), parsed).classes == (RegistryPullUser,)
