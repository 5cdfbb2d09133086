"""`python -m registry_tasks options`: every option of the table, in exactly one group, with its flag, variable,
default and help; `locust --help` cannot show them (Locust prints it before it loads the locustfile). With
`--markdown` it prints the docs site's options page, and docs/options.md is exactly that: it cannot go stale."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from registry_tasks.__main__ import main
from registry_tasks.config import OPTIONS, Option
from registry_tasks.config.options import GROUPS
from registry_tasks.tools.options import REGENERATE

from ..support.helpers import ROOT

OPTIONS_PAGE = ROOT / "docs" / "options.md"


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
    assert all(option.group in GROUPS for option in OPTIONS), [o.name for o in OPTIONS if o.group not in GROUPS]
    assert all(any(option.group == group for option in OPTIONS) for group in GROUPS)  # no empty group


def test_every_option_is_listed_once_under_its_group(capsys: pytest.CaptureFixture[str]) -> None:
    found = sections(listed(capsys))
    assert list(found) == list(GROUPS)
    assert found == {group: [option.name for option in OPTIONS if option.group == group] for group in GROUPS}


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
def test_an_option_shows_its_flag_variable_default_and_help(option: Option, capsys: pytest.CaptureFixture[str]) -> None:
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


def test_the_docs_options_page_is_what_the_generator_prints(capsys: pytest.CaptureFixture[str]) -> None:
    printed = listed(capsys, "--markdown")
    assert OPTIONS_PAGE.read_text() == printed, f"docs/options.md is stale: run `{REGENERATE}`"


def table_rows(page: str) -> dict[str, list[str]]:
    """The options page's table rows by option name: flag, env, default, meaning (cells split on unescaped `|`)."""
    rows = {}
    for line in page.splitlines():
        if found := re.match(r"\| `(?:--)?([a-z][a-z0-9-]+)[ :`]", line):
            rows[found.group(1)] = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
    return rows


def test_the_options_page_has_a_row_per_option_under_its_group(capsys: pytest.CaptureFixture[str]) -> None:
    page = listed(capsys, "--markdown")
    rows = table_rows(page)
    assert sorted(rows) == sorted(option.name for option in OPTIONS)
    for option in OPTIONS:
        flag, env, default, meaning = rows[option.name]
        assert env == (f"`{option.env}`" if option.cli else "")
        assert meaning.startswith(" ".join((option.doc or option.help).split())[:40])
        if isinstance(option.default, bool):
            assert default == f"`{'on' if option.default else 'off'}`"
        elif option.default not in ("", [], {}):
            assert default == f"`{option.default}`"
        heading = page.rindex("\n## ", 0, page.index(f"| {flag} |"))
        assert page[heading + 4 :].startswith(option.group[0].upper() + option.group[1:])
    assert "```sh\npython -m registry_tasks options\n```" in page  # the listing, run by tests/system/test_readme.py


def test_every_choice_of_an_option_shows_on_its_page(capsys: pytest.CaptureFixture[str]) -> None:
    rows = table_rows(listed(capsys, "--markdown"))
    for option in OPTIONS:
        for choice in option.choices or ():
            assert not choice or f"`{choice}`" in rows[option.name][3], (option.name, choice)
