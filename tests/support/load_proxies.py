"""Two small real HTTP proxies in front of a real registry, for what a healthy registry does not do on demand:

- `stall_proxy`: after `after` requests have gone through, every request that arrives in the next `seconds`
  is held until that window ends (the registry froze: a GC pause, a storage hiccup), then forwarded;
- `throttle_proxy`: lets `per_second` requests through per second, evenly; the rest wait their turn (a
  registry whose capacity is that rate).

Both forward as the fault proxy does (tests/support/helpers.py) and record when each request arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .helpers import FaultPlan, _ProxyHandler, serve


@dataclass
class Stall:
    """The window: it opens when the `after`-th request arrives and lasts `seconds`."""

    after: int
    seconds: float
    seen: int = 0
    opened: float | None = None
    held: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> None:
        with self.lock:
            self.seen += 1
            if self.opened is None and self.seen >= self.after:
                self.opened = time.monotonic()
            until = None if self.opened is None else self.opened + self.seconds
            if until is not None and time.monotonic() < until:
                self.held += 1
        if until is not None:
            time.sleep(max(until - time.monotonic(), 0.0))


@dataclass
class Throttle:
    """Evenly spaced slots of 1/per_second; each request takes the next free one and waits for it."""

    per_second: float
    next_slot: float = 0.0
    passed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_slot)
            self.next_slot = slot + 1 / self.per_second
            self.passed += 1
        time.sleep(max(slot - time.monotonic(), 0.0))


def _gated(upstream: str, gate: Stall | Throttle) -> type[_ProxyHandler]:
    def forward(self: _ProxyHandler) -> None:
        gate.wait()
        _ProxyHandler._forward(self)

    attributes = {"upstream": upstream, "alter": staticmethod(lambda path, data: data), "plan": FaultPlan()}
    handler = type("Gated", (_ProxyHandler,), attributes)
    for method in ("do_GET", "do_HEAD", "do_PUT", "do_POST", "do_PATCH", "do_DELETE"):
        setattr(handler, method, forward)
    return handler


@contextmanager
def stall_proxy(upstream: str, after: int, seconds: float) -> Iterator[tuple[str, Stall]]:
    stall = Stall(after, seconds)
    with serve(_gated(upstream, stall)) as url:
        yield url, stall


@contextmanager
def throttle_proxy(upstream: str, per_second: float) -> Iterator[tuple[str, Throttle]]:
    throttle = Throttle(per_second)
    with serve(_gated(upstream, throttle)) as url:
        yield url, throttle
