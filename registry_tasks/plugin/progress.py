"""Progress of the long phases before the load (seeding, a replay's warm-up): count of total and bytes done, in
the log at most every LOG_SECONDS and in the web UI, instead of silence. A phase that cannot know its bytes
beforehand (--populate: what is already there moves nothing) gives no total, and none is printed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from .throughput import human_bytes

log = logging.getLogger(__name__)
LOG_SECONDS = 5.0


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


_current: Progress | None = None


def begin(phase: str, total: int, bytes_total: int | None, unit: str) -> Progress:
    global _current
    _current = Progress(phase, total, bytes_total, unit)
    return _current


def advance(count: int = 1, moved: int = 0) -> None:
    """Count work done; log the progress when LOG_SECONDS passed since the last line (or at the last item)."""
    if _current is None:
        return
    _current.done += count
    _current.bytes_done += moved
    now = time.monotonic()
    _current.finished = _current.done >= _current.total
    if now - _current.logged >= LOG_SECONDS or _current.finished:
        _current.logged = now
        log.info("%s", _current.line())


def end() -> None:
    if _current is not None:
        _current.finished = True


def line() -> str | None:
    """The current (or last) phase's line, for the web UI."""
    return _current.line() if _current is not None else None
