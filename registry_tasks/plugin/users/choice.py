"""Which user classes a run spawns, with which class weights and task lists: decided from the options alone.

Locust's master builds its user dispatcher from `environment.user_classes` before `test_start` fires, and a
worker spawns by the class names the master sends. So the choice is made once, at `init`, from the options:
on a master or a local runner `environment.user_classes` becomes exactly the chosen classes; a worker keeps
every class it can be sent (the locustfile's and the open model's placeholder), since the master decides what
it spawns, and takes the task lists of the master's options at each test start (they arrive then).

A class runs when its weight is positive and a task of it is left after `--tags`/`--exclude-tags`. Browse,
churn and artifact users run only when asked: weighted (scenario `user-weights`, or task weights naming their
tasks), picked by `--tags`, or named on the command line (`locust -f locustfile.py RegistryBrowseUser`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from locust import User
from locust.env import Environment
from locust.runners import WorkerRunner

from ...config import Settings, SettingsError
from ...load import tasks
from ..run.checks import open_mode
from .classes import TASKS, USER_CLASSES, OpenModelUser

DECLARED_WEIGHTS = MappingProxyType({name: user_class.weight for name, user_class in USER_CLASSES.items()})
"""The class weights classes.py declares, taken before any choice changes them."""
NAME_OF_CLASS: Mapping[type[User], str] = MappingProxyType({cls: name for name, cls in USER_CLASSES.items()})


@dataclass(frozen=True)
class UserChoice:
    """The classes Locust may spawn, each one's weight, and the task list of each of our classes."""

    classes: tuple[type[User], ...]
    weights: tuple[tuple[type[User], float], ...]
    task_lists: tuple[tuple[type[User], tuple[Any, ...]], ...]

    def apply(self) -> None:
        """Set the weights and task lists on the classes (before Locust's dispatcher or a worker's spawn)."""
        for user_class, weight in self.weights:
            user_class.weight = weight
        for user_class, task_list in self.task_lists:
            user_class.tasks = list(task_list)

    def offer_to_picker(self) -> None:
        """With the web UI's class picker, a class run only when asked is asked by being picked: it keeps its
        declared weight (Locust drops weight-0 classes from what is picked), and runs only when picked."""
        for user_class, weight in self.weights:
            name = NAME_OF_CLASS.get(user_class)
            if weight == 0 and name in tasks.ASKED_ONLY:
                user_class.weight = DECLARED_WEIGHTS[name]

    def describe(self) -> str:
        weights = dict(self.weights)
        return ", ".join(f"{cls.__name__} (weight {weights.get(cls, cls.weight)})" for cls in self.classes)


def tags_of(task: Any) -> set[str]:
    """A task's tags, and those of every task inside a TaskSet."""
    found = set(getattr(task, "locust_tag_set", ()))
    for inner in getattr(task, "tasks", ()) or ():
        found |= tags_of(inner)
    return found


def passes(task: Any, tags: set[str] | None, exclude: set[str] | None) -> bool:
    """Whether Locust's tag filter keeps this task (a TaskSet: whether it keeps one of its tasks)."""
    inner = getattr(task, "tasks", None)
    if isinstance(inner, list):
        return any(passes(each, tags, exclude) for each in inner)
    own = set(getattr(task, "locust_tag_set", ()))
    return (tags is None or bool(own & tags)) and (exclude is None or not own & exclude)


def known_tags(user_classes: Iterable[type[User]]) -> set[str]:
    return {tag for user_class in user_classes for task in user_class.tasks for tag in tags_of(task)}


def check_tags(option: str, given: set[str] | None, user_classes: Iterable[type[User]]) -> None:
    """An unknown tag picks nothing (a typo would leave the run idle): refuse it, naming the valid ones."""
    if not given:
        return
    known = known_tags(user_classes)
    unknown = sorted(given - known)
    if unknown:
        valid = ", ".join(sorted(known))
        raise SettingsError(f"{option} {' '.join(unknown)}: no task has this tag; valid tags: {valid}")


def our_task_list(user_class: type[User], settings: Settings, tags: set[str] | None, exclude: set[str] | None) -> tuple:
    """A class of ours: its tasks by name, each repeated by its weight (the scenario's, else @task's)."""
    listed: list[Any] = []
    for name, (owner, function) in TASKS.items():
        if owner is not user_class or not passes(function, tags, exclude):
            continue
        weight = settings.weights.get(name, 0) if settings.weights else getattr(function, "locust_task_weight", 1)
        listed += [function] * weight
    return tuple(listed)


def our_weight(name: str, settings: Settings, task_list: tuple, named: bool, tags: set[str] | None) -> float:
    ratio = settings.pull_push_ratio
    weights: dict[str, float] = {"pull": ratio[0], "push": ratio[1]} if ratio else dict(settings.user_weights)
    if name in weights:
        return weights[name]
    if name not in tasks.ASKED_ONLY:
        return DECLARED_WEIGHTS[name]
    asked = named or any(settings.weights.get(task, 0) for task in tasks.ASKED_ONLY[name]) or (
        tags is not None and bool(task_list)
    )
    return DECLARED_WEIGHTS[name] if asked else 0


def decide(locustfile_classes: Sequence[type[User]], settings: Settings, options: Any) -> UserChoice:
    """The run's classes from the options; SettingsError (one line) when a tag is unknown or nothing is left."""
    tags = set(getattr(options, "tags", None) or ()) or None
    exclude = set(getattr(options, "exclude_tags", None) or ()) or None
    named = set(getattr(options, "user_classes", None) or ())
    check_tags("--tags", tags, locustfile_classes)
    check_tags("--exclude-tags", exclude, locustfile_classes)
    if open_mode(settings):
        if tags or exclude:
            raise SettingsError("--tags and --exclude-tags pick closed-loop tasks: an open model names its own")
        return UserChoice((OpenModelUser,), (), ())
    chosen: list[type[User]] = []
    weights: list[tuple[type[User], float]] = []
    task_lists: list[tuple[type[User], tuple[Any, ...]]] = []
    for user_class in locustfile_classes:
        name = NAME_OF_CLASS.get(user_class)
        if name is None:  # a class of the user's locustfile: its own weight and tasks, as Locust filters them
            if user_class.weight > 0 and any(passes(task, tags, exclude) for task in user_class.tasks):
                chosen.append(user_class)
            continue
        task_list = our_task_list(user_class, settings, tags, exclude)
        weight = our_weight(name, settings, task_list, user_class.__name__ in named, tags)
        weights.append((user_class, weight))
        task_lists.append((user_class, task_list))
        if weight > 0 and task_list:
            chosen.append(user_class)
    if not chosen:
        given = " ".join(sorted(tags or ())) if tags else ""
        why = f"--tags {given} picks no task of a class that runs" if tags else "every user class is weighted 0"
        raise SettingsError(f"no user class has a task to run: {why} (see the scenario's weights and user-weights)")
    return UserChoice(tuple(chosen), tuple(weights), tuple(task_lists))


def offered(environment: Any) -> list[type[User]]:
    """Every class the locustfile offers (Locust's class picker list), else those given to the environment;
    never the open model's placeholder, which is ours to add."""
    available = getattr(environment, "available_user_classes", None) or {}
    classes = list(available.values()) or list(environment.user_classes)
    return [user_class for user_class in classes if user_class is not OpenModelUser]


def locustfile_classes(environment: Any) -> list[type[User]]:
    """The classes this run may choose from: those offered, or the ones named on the command line
    (`locust -f locustfile.py RegistryPullUser`)."""
    named = set(getattr(environment.parsed_options, "user_classes", None) or ())
    classes = offered(environment)
    if named and getattr(environment, "available_user_classes", None):
        classes = [user_class for user_class in classes if user_class.__name__ in named]
    return classes


def worker_classes(environment: Any) -> list[type[User]]:
    """Everything a master may send a worker: every class of the locustfile, and the open model's placeholder."""
    return [*offered(environment), OpenModelUser]


def choose_user_classes(environment: Environment, settings: Settings) -> UserChoice:
    """At init, before Locust's dispatcher exists: a master or local runner spawns exactly the chosen classes; a
    worker keeps all it may be sent (the master decides what it spawns)."""
    choice = take_choice(environment, settings)
    if isinstance(environment.runner, WorkerRunner):
        environment.user_classes = worker_classes(environment)
    else:
        environment.user_classes = list(choice.classes)
    return choice


def take_choice(environment: Environment, settings: Settings) -> UserChoice:
    """The choice made and set on the classes: at init, and on a worker at each test start, which takes the task
    lists of the options in force (the master's, which arrive then), before it spawns anything."""
    choice = decide(locustfile_classes(environment), settings, environment.parsed_options)
    choice.apply()
    if getattr(environment.parsed_options, "class_picker", False):
        choice.offer_to_picker()
    return choice
