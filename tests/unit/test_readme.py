"""The README and the docs tell the truth about the repository: the README stays short (the rest is the docs site),
every path a page points at exists, every link resolves (the site's pages link only to the site, so that it has no
dead link), the site's nav holds every page, the layout lists every module, and every figure of what the load
generator costs names the dated measurement it comes from (bench/README.md) and agrees with it. The examples run in
tests/system/test_readme.py; docs/options.md is held to the option table in tests/unit/test_tools_options.py."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

import registry_tasks

from ..support.helpers import ROOT
from ..support.markdown import DOCS, PAGES, README, blocks, without_code

MAX_README_LINES = 300
"""The README is the short version (what it is, two commands, the common runs); the manual is the docs site."""
LAYOUT = ROOT / "docs" / "layout.md"
PERFORMANCE = ROOT / "bench" / "README.md"
"""The load generator's measured costs: the one dated measurement every cost figure elsewhere comes from."""
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
    found = mentioned_paths("see `../other/x.md` and DESIGN.md; tests/unit/test_layers.py holds it; reports/run.html")
    assert found == {"../other/x.md", "DESIGN.md", "tests/unit/test_layers.py"}


def page_id(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def test_the_readme_is_the_short_version() -> None:
    lines = len(README.read_text().splitlines())
    assert lines < MAX_README_LINES, f"README.md has {lines} lines: move what is not the short version into docs/"


def test_the_readme_points_at_every_page() -> None:
    linked = {(ROOT / target).resolve() for target in relative_links(README)}
    unlinked = [page_id(page) for page in PAGES if page.resolve() not in linked]
    assert not unlinked, f"the README's 'Where the rest is' misses: {unlinked}"


def relative_links(doc: Path) -> list[str]:
    targets = [target.split("#")[0] for target in LINK.findall(doc.read_text())]
    return [target for target in targets if target and not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("doc", DOCS, ids=page_id)
def test_every_relative_link_resolves(doc: Path) -> None:
    missing = [target for target in relative_links(doc) if not in_repository(doc.parent / target)]
    assert not missing, f"{page_id(doc)} links to what is not there: {missing}"


@pytest.mark.parametrize("doc", PAGES, ids=page_id)
def test_the_sites_pages_link_only_inside_the_site(doc: Path) -> None:
    """The site holds docs/ only: a link out of it would be dead there (`mkdocs build --strict` refuses it too);
    a page names such a file as a path instead, with a note that it is outside the site."""
    docs = (ROOT / "docs").resolve()
    outside = [target for target in relative_links(doc) if not (doc.parent / target).resolve().is_relative_to(docs)]
    assert not outside, f"{page_id(doc)} links out of the site: {outside}"


def test_the_sites_nav_holds_every_page_once() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [page for item in nav for page in pages(item)]
        assert isinstance(nav, dict), nav
        return [page for value in nav.values() for page in pages(value)]

    listed = pages(config["nav"])
    assert sorted(listed) == sorted(doc.name for doc in PAGES), listed
    assert listed[0] == "index.md"
    assert config.get("strict") is True and config["theme"]["name"] == "mkdocs"


def in_repository(path: Path) -> bool:
    return path.exists() and path.resolve().is_relative_to(ROOT.resolve())


@pytest.mark.parametrize("doc", DOCS, ids=page_id)
def test_every_path_a_page_mentions_exists(doc: Path) -> None:
    """A path is written from the repository's root (`registry_tasks/...`), or a page's name from its own folder."""
    mentioned = mentioned_paths(doc.read_text())
    missing = sorted(
        path for path in mentioned if not in_repository(ROOT / path) and not in_repository(doc.parent / path)
    )
    assert not missing, f"{page_id(doc)} mentions paths that are not in the repository: {missing}"


def layout() -> list[str]:
    """The paths the layout page's tree lists (directories end in /), from the indentation of its names."""
    block = next(block for block in blocks(LAYOUT) if block.section == "Layout" and block.lang == "")
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
    assert not unlisted, f"the layout page misses: {unlisted}"


def measurement_date() -> str:
    """The date of the measurement bench/README.md reports (one `make bench`)."""
    measured = re.search(r"Measured on (20\d\d-\d\d-\d\d)\b", PERFORMANCE.read_text())
    assert measured, "bench/README.md does not say when it was measured (`Measured on YYYY-MM-DD`)"
    assert date.fromisoformat(measured[1]) <= date.today()
    return measured[1]


@pytest.mark.parametrize("doc", [doc for doc in DOCS if doc != PERFORMANCE], ids=page_id)
def test_every_cost_figure_names_its_dated_measurement(doc: Path) -> None:
    """Figures of CPU per GB or per request outside bench/README.md name the measurement's date, and a CPU-s per
    GB figure is one its table shows: a figure carried over from an older measurement (the README once said
    ~1.7 CPU-s/GB beside a table of 0.70) fails here."""
    when = measurement_date()
    table = PERFORMANCE.read_text()
    for paragraph in re.split(r"\n\s*\n", without_code(doc.read_text())):
        figures = COST.findall(paragraph)
        if not figures:
            continue
        text = " ".join(paragraph.split())
        assert when in DATE.findall(text), f"{page_id(doc)}: names no dated measurement ({when}): {text[:200]}"
        for number, unit in figures:
            if "GB" in unit:
                assert re.search(rf"\|\s*\**{re.escape(number)}\**\s*\|", table), f"not in the table: {number} {unit}"
