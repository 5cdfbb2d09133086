"""`--pushed-log FILE`: one JSON line per image reported as a successful `image-push`, for a later audit.

Each line is one O_APPEND write: processes sharing the file never interleave inside a line, and nothing
waits in a buffer when a run is killed. The records come from this process's own request events, so a
worker logs exactly its own pushes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from . import names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pushed:
    """An image the registry accepted: where, under which tag, and the manifest (or index) digest."""

    repository: str
    tag: str
    digest: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}@{self.digest}"


class PushedLog:
    """This process's one writer; it follows the file named by the current test's settings."""

    def __init__(self) -> None:
        self.path = ""
        self._fd: int | None = None
        self._listening = False

    def watch(self, request_event: Any, path: str) -> None:
        """Log successful image pushes to `path` from now on ("" stops logging)."""
        if path != self.path:
            self.close()
            self.path = path
        if path and not self._listening:
            request_event.add_listener(self.record)
            self._listening = True

    def record(self, name: str, exception: BaseException | None, context: dict[str, Any], **_: Any) -> None:
        if name == names.IMAGE_PUSH and exception is None and self.path:
            self.write(Pushed(context["repository"], context["reference"], context["digest"]))

    def write(self, pushed: Pushed) -> None:
        line = json.dumps(asdict(pushed), separators=(",", ":")) + "\n"
        try:
            if self._fd is None:
                self._fd = os.open(os.path.expanduser(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, line.encode())
        except OSError as exc:
            log.error("--pushed-log %s: cannot write (%s)", self.path, exc.strerror)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_pushed_log(path: str) -> Iterator[Pushed | str]:
    """Each line's record, or (for a line that is not one) a message naming the line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                fields = [json.loads(line)[key] for key in ("repository", "tag", "digest")]
            except (ValueError, KeyError, TypeError):
                fields = []
            if fields and all(isinstance(value, str) and value for value in fields):
                yield Pushed(*fields)
            else:
                yield f"{path} line {number}: not a pushed-image record"
