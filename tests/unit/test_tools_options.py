"""`python -m registry_tasks options`: every option of the table, in exactly one group, with its flag, variable,
default and help; `locust --help` cannot show them (Locust prints it before it loads the locustfile)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from registry_tasks.__main__ import main
from registry_tasks.config import OPTIONS, Option
from registry_tasks.config.options import GROUPS


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["options", *args]) == 0
    return capsys.readouterr().out


def sections(text: str) -> dict[str, list[str]]:
    """Group heading -> the option names listed under it, in order (flag lines are indented by two spaces)."""
    found: dict[str, list[str]] = {}
    group = None
    for line in text.splitlines():
        if re.fullmatch(r"\S.*:", line) and line[:-1] in GROUPS:
            group = line[:-1]
            found[group] = []
        elif (flag := re.match(r"  (?:--)?([a-z][a-z0-9-]+)[ :]", line)) and group is not None:
            found[group].append(flag.group(1))
    return found


def test_every_option_is_in_exactly_one_group() -> None:
    names = [name for members in GROUPS.values() for name in members]
    assert len(names) == len(set(names)), [name for name in names if names.count(name) > 1]
    assert sorted(names) == sorted(option.name for option in OPTIONS)
    assert all(option.group in GROUPS for option in OPTIONS)


def test_every_option_is_listed_once_under_its_group(capsys: pytest.CaptureFixture[str]) -> None:
    found = sections(listed(capsys))
    assert list(found) == list(GROUPS)
    assert found == {group: list(members) for group, members in GROUPS.items()}


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
def test_an_option_shows_its_flag_variable_default_and_help(
    option: Option, capsys: pytest.CaptureFixture[str]
) -> None:
    text = listed(capsys, "--group", option.group)
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if re.match(rf"  (--)?{option.name}[ :]", line))
    entry = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("      "):
            break
        entry.append(line)
    words = " ".join(" ".join(entry).split())
    assert " ".join(option.help.split()) in words
    if option.cli:
        assert f"env {option.env};" in words
    default = option.default
    if isinstance(default, bool):
        assert f"default {'on' if default else 'off'}" in words
    else:
        assert f"default {default if default not in ('', [], {}) else 'none'}" in words
    if isinstance(default, bool) and option.cli:
        assert f"--{option.name} / --no-{option.name}" in text


def test_the_command_runs_as_the_readme_says() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "registry_tasks", "options"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert all(option.env in result.stdout for option in OPTIONS if option.cli)


def test_the_tool_does_not_import_locust() -> None:
    code = "import sys; from registry_tasks.__main__ import main; main(['options']); assert 'locust' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
