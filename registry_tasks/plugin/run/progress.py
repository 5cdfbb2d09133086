"""Progress of the long phases before the load (seeding, a replay's warm-up): count of total and bytes done, in
the log at most every LOG_SECONDS and in the web UI, instead of silence. A phase that cannot know its bytes
beforehand (--populate: what is already there moves nothing) gives no total, and none is printed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger("registry_tasks.plugin.progress")
LOG_SECONDS = 5.0


def human_bytes(count: float) -> str:
    """Bytes in decimal units, as MB/s counts them: 4292178943 -> 4.29 GB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} B"


@dataclass
class Progress:
    phase: str
    total: int
    bytes_total: int | None
    """None: not known before the phase ends; the line then says only what moved."""
    unit: str
    done: int = 0
    bytes_done: int = 0
    finished: bool = False
    logged: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        state = "done" if self.finished else "in progress"
        moved = human_bytes(self.bytes_done)
        moved += " moved" if self.bytes_total is None else f" of {human_bytes(self.bytes_total)}"
        return f"{self.phase} ({state}): {self.done} of {self.total} {self.unit}, {moved}"


class Phases:
    """One run's phases before the load: the current (or last) one is what the log and the web UI show."""

    def __init__(self) -> None:
        self.current: Progress | None = None

    def begin(self, phase: str, total: int, bytes_total: int | None, unit: str) -> Progress:
        self.current = Progress(phase, total, bytes_total, unit)
        return self.current

    def advance(self, count: int = 1, moved: int = 0) -> None:
        """Count work done; log the progress when LOG_SECONDS passed since the last line (or at the last item)."""
        current = self.current
        if current is None:
            return
        current.done += count
        current.bytes_done += moved
        now = time.monotonic()
        current.finished = current.done >= current.total
        if now - current.logged >= LOG_SECONDS or current.finished:
            current.logged = now
            log.info("%s", current.line())

    def end(self) -> None:
        if self.current is not None:
            self.current.finished = True

    def line(self) -> str | None:
        """The current (or last) phase's line, for the web UI."""
        return self.current.line() if self.current is not None else None
