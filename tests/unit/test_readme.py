"""The README tells the truth about the repository: every path it points at exists, its layout lists every module,
and every figure of what the load generator costs names the dated measurement it comes from (and agrees with it).
Its examples run in tests/system/test_readme.py."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

import registry_tasks

from ..support.helpers import ROOT
from ..support.markdown import DOCS, blocks, section, without_code

README = ROOT / "README.md"
PACKAGE = Path(registry_tasks.__file__).parent
TOP_LEVEL = ("registry_tasks", "tests", "bench", "examples", "deploy", "docs", "fixtures")
"""Directories of the repository: a path the README writes from one of them must be there."""
OUTPUTS = ("reports/",)
"""Where runs write (ignored by git): paths there are what a command makes, not files of the repository."""
PATH = re.compile(rf"(?<![\w./~<>$-])((?:\.\./)+[\w./-]+|(?:{'|'.join(TOP_LEVEL)})/[\w./-]*|[\w-]+\.md\b)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
DATE = re.compile(r"\b(20\d\d-\d\d-\d\d)\b")
COST = re.compile(r"(\d[\d,.]*)(?:-\d[\d,.]*)? ?(CPU-s per GB|CPU-s/GB|CPU s/GB|s/GB|us (?:of )?CPU|ms CPU)")
"""A figure of what the load generator costs: CPU seconds per GB, CPU time per request or arrival."""


def mentioned_paths(text: str) -> set[str]:
    return {path.rstrip(".") for path in PATH.findall(text) if not path.startswith(OUTPUTS)}


def test_the_path_pattern_finds_what_a_reader_follows() -> None:
    found = mentioned_paths("see `../shared/x.md` and DESIGN.md; tests/unit/test_layers.py holds it; reports/run.html")
    assert found == {"../shared/x.md", "DESIGN.md", "tests/unit/test_layers.py"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_relative_link_resolves(doc: Path) -> None:
    targets = [target.split("#")[0] for target in LINK.findall(doc.read_text())]
    missing = [t for t in targets if t and not re.match(r"[a-z]+:", t) and not in_repository(doc.parent / t)]
    assert not missing, f"{doc.name} links to what is not there: {missing}"


def in_repository(path: Path) -> bool:
    return path.exists() and path.resolve().is_relative_to(ROOT.resolve())


def test_every_path_the_readme_mentions_exists() -> None:
    missing = sorted(path for path in mentioned_paths(README.read_text()) if not in_repository(ROOT / path))
    assert not missing, f"the README mentions paths that are not in the repository: {missing}"


def layout() -> list[str]:
    """The paths the README's layout tree lists (directories end in /), from the indentation of its names."""
    block = next(block for block in blocks(README) if block.section == "Layout" and block.lang == "")
    listed: list[str] = []
    parents: list[tuple[int, str]] = []
    for line in block.text.splitlines():
        indent = len(line) - len(line.lstrip())
        name = line.split()[0] if line.strip() else ""
        if not name or indent >= 20:  # a description's second line
            continue
        parents = [(depth, path) for depth, path in parents if depth < indent]
        path = (parents[-1][1] if parents else "") + name
        listed.append(path)
        if name.endswith("/"):
            parents.append((indent, path))
    return listed


def test_the_layout_lists_only_what_exists() -> None:
    missing = [path for path in layout() if not (ROOT / path).exists()]
    assert not missing, missing


def test_the_layout_lists_every_module_and_package() -> None:
    """Every module under registry_tasks/ (a subpackage's __init__.py goes with the subpackage's own line)."""
    listed = set(layout())
    modules = {str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py")}
    packages = {str(path.parent.relative_to(ROOT)) + "/" for path in PACKAGE.rglob("__init__.py")}
    inits = {f"{package}__init__.py" for package in packages} - {"registry_tasks/__init__.py"}
    unlisted = sorted((modules - inits - listed) | (packages - listed))
    assert not unlisted, f"the README's layout misses: {unlisted}"


def measurement_date() -> str:
    """The date of the measurement the Performance section reports (one `make bench`)."""
    measured = re.search(r"Measured on (20\d\d-\d\d-\d\d)\b", section(README, "Performance"))
    assert measured, "the Performance section does not say when it was measured (`Measured on YYYY-MM-DD`)"
    assert date.fromisoformat(measured[1]) <= date.today()
    return measured[1]


def test_every_cost_figure_names_its_dated_measurement() -> None:
    """Figures of CPU per GB or per request outside the Performance section name the measurement's date, and a
    CPU-s per GB figure is one the Performance table shows: a figure carried over from an older measurement
    (the README once said ~1.7 CPU-s/GB beside a table of 0.70) fails here."""
    when = measurement_date()
    table = section(README, "Performance")
    performance = without_code(table)
    outside = without_code(README.read_text()).replace(performance, "")
    for paragraph in re.split(r"\n\s*\n", outside):
        figures = COST.findall(paragraph)
        if not figures:
            continue
        text = " ".join(paragraph.split())
        assert when in DATE.findall(text), f"names no dated measurement ({when}): {text[:200]}"
        for number, unit in figures:
            if "GB" in unit:
                assert re.search(rf"\|\s*\**{re.escape(number)}\**\s*\|", table), f"not in the table: {number} {unit}"
