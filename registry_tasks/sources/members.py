"""The files of a fixture, by relative name, read in place: an OCI layout directory or a tar archive.

Tar member safety lives here: nothing absolute, no `..`, no devices, no link leaving the archive, no data past
the file's end. A hostile or broken fixture fails at load with one message naming the file and the member.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from ..image import FileSegment, ImageError

MAX_LINK_DEPTH = 16
GZIP_MAGIC = b"\x1f\x8b"


class FixtureError(ImageError):
    """A fixture that cannot be used; the message names the file, the member or field, and what is wrong."""


@contextmanager
def refusing(path: str) -> Iterator[None]:
    """Turn the image model's and the OS's errors into FixtureError, so callers catch one type."""
    try:
        yield
    except FixtureError:
        raise
    except ImageError as exc:
        raise FixtureError(str(exc)) from None
    except OSError as exc:
        raise FixtureError(f"{exc.filename or path}: {exc.strerror or exc}") from None


class Members(Protocol):
    """The files of a fixture by relative name, so that one OCI-layout reader serves dirs and tars."""

    @property
    def path(self) -> str: ...

    def where(self, name: str) -> str:
        """How to name this member in an error message."""
        ...

    def has(self, name: str) -> bool:
        """Whether the fixture holds an entry of that name (which `segment` may still refuse)."""
        ...

    def segment(self, name: str) -> FileSegment:
        """The member's bytes in place; FixtureError if it is missing, not a file or leaves the fixture."""
        ...


@dataclass(frozen=True)
class DirMembers:
    """An OCI layout directory; symlinks inside it may not lead outside it."""

    path: str

    def where(self, name: str) -> str:
        return os.path.join(self.path, name)

    def has(self, name: str) -> bool:
        return _clean(name) is not None and os.path.lexists(self.where(name))

    def segment(self, name: str) -> FileSegment:
        full = self.where(name)
        if not os.path.lexists(full):
            raise FixtureError(f"{full}: missing")
        root, real = os.path.realpath(self.path), os.path.realpath(full)
        if os.path.commonpath([root, real]) != root:
            raise FixtureError(f"{full}: symlink leads outside the layout directory (to {real})")
        if not os.path.exists(real):
            raise FixtureError(f"{full}: symlink to a missing file ({real})")
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise FixtureError(f"{full}: not a regular file")
        return FileSegment(real, 0, info.st_size)


def _clean(name: str) -> str | None:
    """A member path without `./` and `//`; None if it is absolute or uses `..` at all."""
    if name.startswith("/"):
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


def _link_target(name: str, member: tarfile.TarInfo) -> str | None:
    """Where a link member points, as a member name; None if that is outside the archive."""
    if member.islnk():
        return _clean(member.linkname)
    if member.linkname.startswith("/"):
        return None
    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
    return None if target == ".." or target.startswith("../") else _clean(target)


def _member_kind(member: tarfile.TarInfo) -> str:
    kinds = ((member.ischr, "character device"), (member.isblk, "block device"), (member.isfifo, "fifo"))
    return next((kind for test, kind in kinds if test()), f"type {member.type!r}")


def _check_member(path: str, member: tarfile.TarInfo, file_size: int) -> str | None:
    """The cleaned name of a member we can use in place, or FixtureError; None for the root entry."""
    where = f"{path}: member {member.name}"
    name = _clean(member.name)
    if name is None:
        raise FixtureError(f"{where}: absolute path or '..' would leave the archive")
    if member.issparse():
        raise FixtureError(f"{where}: sparse files are not supported")
    if member.isreg():
        end = member.offset_data + member.size
        if end > file_size:
            raise FixtureError(f"{where}: data ends at byte {end} but the file has {file_size} bytes (truncated?)")
    elif not (member.isdir() or member.issym() or member.islnk()):
        raise FixtureError(f"{where}: {_member_kind(member)} members are not allowed")
    if not name and not member.isdir():
        raise FixtureError(f"{where}: empty member name")
    return name or None


@dataclass(frozen=True)
class TarMembers:
    """A tar archive's members, read in place; links are resolved inside the archive only."""

    path: str
    entries: Mapping[str, tarfile.TarInfo]

    @classmethod
    def scan(cls, path: str) -> TarMembers:
        """Index every member, refusing anything we would not dare to read (see `_check_member`)."""
        file_size = os.path.getsize(path)
        with open(path, "rb") as file:
            if file.read(2) == GZIP_MAGIC:
                raise FixtureError(f"{path}: gzip-compressed; decompress it first (gunzip): tars are read in place")
        entries: dict[str, tarfile.TarInfo] = {}
        last = None
        try:
            with tarfile.open(path, mode="r:") as archive:
                for member in archive:
                    name = _check_member(path, member, file_size)
                    if name is not None and name in entries and not member.isdir():
                        raise FixtureError(f"{path}: member {member.name}: appears twice")
                    if name is not None:
                        entries[name] = member
                    last = member.name
        except (tarfile.TarError, EOFError) as exc:
            after = f"after member {last}" if last else "at its first member"
            raise FixtureError(f"{path}: not a readable tar {after} ({exc})") from None
        members = cls(path, entries)
        for name, member in entries.items():
            if member.issym() or member.islnk():
                members._resolve(name)
        return members

    def where(self, name: str) -> str:
        return f"{self.path}: member {name}"

    def has(self, name: str) -> bool:
        cleaned = _clean(name)
        return cleaned is not None and cleaned in self.entries

    def _resolve(self, name: str) -> tarfile.TarInfo:
        """Follow symlinks and hardlinks to the member they name, never outside the archive."""
        current = name
        for _ in range(MAX_LINK_DEPTH):
            member = self.entries.get(current)
            if member is None:
                missing = "missing" if current == name else f"link target {current} is missing"
                raise FixtureError(f"{self.where(name)}: {missing}")
            if not (member.issym() or member.islnk()):
                return member
            target = _link_target(current, member)
            if target is None:
                raise FixtureError(f"{self.where(current)}: link to {member.linkname!r} leaves the archive")
            current = target
        raise FixtureError(f"{self.where(name)}: more than {MAX_LINK_DEPTH} links deep (a loop?)")

    def segment(self, name: str) -> FileSegment:
        cleaned = _clean(name)
        if cleaned is None:
            raise FixtureError(f"{self.where(name)}: absolute path or '..' would leave the archive")
        member = self._resolve(cleaned)
        if not member.isreg():
            raise FixtureError(f"{self.where(name)}: not a regular file")
        return FileSegment(self.path, member.offset_data, member.size)
