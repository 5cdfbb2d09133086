"""Which users a run spawns, as the operator sees it: `--show-task-ratio` shows the classes and weights a run uses,
and a `--tags` run spawns only the classes with tasks left, without Locust's warnings about the others."""

from __future__ import annotations

import re
from pathlib import Path

from registry_tasks.tools.local_registry import LocalRegistry

from ..support.helpers import run_locust


def ratios(output: str) -> dict[str, float]:
    """Class lines of the 'Task ratio per User class' table: {class: percent}."""
    table = output.split(" Total task ratio")[0]
    return {name: float(share) for share, name in re.findall(r"^ ([\d.]+)\s+(Registry\w+User)\s*$", table, re.M)}


def test_the_task_ratio_shows_the_runs_own_classes(tmp_path: Path) -> None:
    default = run_locust(tmp_path, "--show-task-ratio", timeout=60)
    assert default.returncode == 0, default.stderr[-2000:]
    assert ratios(default.stdout) == {"RegistryPullUser": 75.0, "RegistryPushUser": 25.0}
    tagged = run_locust(tmp_path, "--show-task-ratio", "--tags", "catalog", "image-push", timeout=60)
    assert ratios(tagged.stdout) == {"RegistryBrowseUser": 50.0, "RegistryPushUser": 50.0}
    assert "   100.0      image_push" in tagged.stdout
    typo = run_locust(tmp_path, "--show-task-ratio", "--tags", "catalgo", timeout=60)
    assert typo.returncode == 1 and "--tags catalgo: no task has this tag" in typo.stderr


def test_a_tags_run_spawns_only_classes_with_tasks_and_says_nothing_of_the_others(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    result = run_locust(tmp_path, "-H", registry.url, "-u", "3", "-r", "3", "-t", "2s", "--tags", "manifest-get",
                        "--synthetic-images", "1x4KiB", "--repository-prefix", "choice/tags")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'All users spawned: {"RegistryPullUser": 3}' in result.stderr
    assert "had no tasks left" not in result.stderr and "WARNING" not in result.stderr, result.stderr[-2000:]
