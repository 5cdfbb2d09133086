"""The repository's markdown read as the tests need it: fenced code blocks (with the line and the section they are
in), sections by heading, and the shell commands of a block as a user would paste them."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .helpers import ROOT

README = ROOT / "README.md"
PAGES = tuple(sorted((ROOT / "docs").glob("*.md")))
"""The docs site's pages (mkdocs.yml builds them)."""
BESIDE_THE_CODE = (ROOT / "bench" / "README.md", ROOT / "deploy" / "README.md")
"""Pages outside the site, beside the code they describe: the load generator's measured costs, its deployments."""
DOCS = (README, *PAGES, *BESIDE_THE_CODE)
"""The pages whose examples, paths and links are tested: the README, every docs/*.md page, and those beside the
code."""

SHELL = ("sh", "bash", "shell", "console")
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
HEADING = re.compile(r"^(#{1,6}) +(.+?) *$", re.M)


@dataclass(frozen=True)
class Block:
    """One fenced code block."""

    doc: Path
    line: int
    """Line of the block's first line of code (1-based)."""
    lang: str
    text: str
    section: str
    """The heading the block is under."""

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Command:
    """One shell command of a block: a logical line (continuations joined, comment dropped) as argv."""

    block: Block
    line: int
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        """The command as words: how tests name it (and how NOT_RUN lists the ones that cannot run here)."""
        return " ".join(self.argv)

    @property
    def where(self) -> str:
        return f"{self.block.doc.relative_to(ROOT)}:{self.line}"


def without_code(text: str) -> str:
    """The text with every fenced block blanked out (offsets and line numbers kept)."""
    return FENCE.sub(lambda match: re.sub(r"[^\n]", " ", match.group(0)), text)


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text()
    headings = [(match.start(), match.group(2)) for match in HEADING.finditer(without_code(text))]
    found = []
    for match in FENCE.finditer(text):
        section = next((title for start, title in reversed(headings) if start < match.start()), "")
        line = text.count("\n", 0, match.start()) + 2
        found.append(Block(doc, line, match.group(1), match.group(2), section))
    return found


def section(doc: Path, title: str) -> str:
    """The text under a heading, up to the next heading of the same or a higher level (code included)."""
    text = doc.read_text()
    headings = list(HEADING.finditer(without_code(text)))
    for index, heading in enumerate(headings):
        if heading.group(2) == title:
            level = len(heading.group(1))
            end = next((h.start() for h in headings[index + 1 :] if len(h.group(1)) <= level), len(text))
            return text[heading.end() : end]
    raise KeyError(f"{doc.name} has no section {title!r}")


def commands(block: Block) -> list[Command]:
    """The block's commands in order; `\\` continues a line, `#` starts a comment (as sh reads them)."""
    found = []
    pending, first = "", 0
    for number, raw in enumerate(block.text.splitlines(), block.line):
        if not pending:
            first = number
        pending += raw
        if raw.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        argv = tuple(shlex.split(pending, comments=True))
        if argv:
            found.append(Command(block, first, argv))
        pending = ""
    return found


def shell_commands(docs: tuple[Path, ...] = DOCS) -> list[Command]:
    return [command for doc in docs for block in blocks(doc) if block.lang in SHELL for command in commands(block)]
