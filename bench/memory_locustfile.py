"""Locustfile of bench/memory.py's traced runs: where the bytes of each user in flight go.

Our users (as locustfile.py has them) or, with BENCH_MEMORY_TARGET=fast, the raw FastHttpUser of
bench/fast_locustfile.py. With BENCH_MEMORY_TRACE set, tracemalloc traces from import on: a snapshot is taken
at test start, and SIGUSR1 (sent by the bench when every user has a request held) compares a second one with
it and writes JSON there: the top allocation sites (file:line) and files by bytes added, the bytes of saved
greenlet stacks (greenlet's `_stack_saved`: C stack slices copied to the heap, which tracemalloc only sees as
the allocation of the line that switched) and which object types grew; bench/memory.py divides them by the
users in flight. Nothing is patched: our transport and users are measured as they are.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

if os.environ.get("BENCH_MEMORY_TRACE"):
    tracemalloc.start()

import gevent  # noqa: E402 - traced from here on
import greenlet  # noqa: E402
from locust import events  # noqa: E402

if os.environ.get("BENCH_MEMORY_TARGET") == "fast":
    from bench.fast_locustfile import FastUser  # noqa: F401
else:
    from registry_tasks import (  # noqa: F401
        RegistryArtifactUser,
        RegistryBrowseUser,
        RegistryChurnUser,
        RegistryPullUser,
        RegistryPushUser,
    )

TOP = 40
ROOT = str(Path(__file__).resolve().parent.parent) + os.sep
_baseline: dict[str, Any] = {}


def _where(filename: str) -> str:
    """Short paths: ours from the repository root, libraries from site-packages, the stdlib by file name."""
    for marker in ("site-packages" + os.sep, ROOT):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return os.path.basename(filename)


def _types() -> Counter[str]:
    return Counter(type(obj).__name__ for obj in gc.get_objects())


def _stacks() -> tuple[int, int]:
    """Greenlets alive and the bytes of C stack they keep saved on the heap."""
    lets = [obj for obj in gc.get_objects() if isinstance(obj, greenlet.greenlet)]
    return len(lets), sum(getattr(let, "_stack_saved", 0) for let in lets)


@events.test_start.add_listener
def _start(**_: Any) -> None:
    if not tracemalloc.is_tracing():
        return
    _baseline["types"], _baseline["stacks"] = _types(), _stacks()  # before the snapshot's own objects exist
    _baseline["snapshot"] = tracemalloc.take_snapshot()


def _dump() -> None:
    began = time.monotonic()
    base = _baseline.get("snapshot")
    if base is None:
        return
    greenlets, stack_bytes = _stacks()
    types = _types()
    types.subtract(_baseline["types"])
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    now = tracemalloc.take_snapshot().filter_traces(ignore)
    base = base.filter_traces(ignore)
    lines = now.compare_to(base, "lineno")
    files = now.compare_to(base, "filename")
    report = {
        "traced_bytes": sum(stat.size_diff for stat in lines),
        "lines": [{"where": f"{_where(s.traceback[0].filename)}:{s.traceback[0].lineno}", "bytes": s.size_diff,
                   "blocks": s.count_diff} for s in lines[:TOP]],  # fmt: skip
        "files": [{"where": _where(s.traceback[0].filename), "bytes": s.size_diff} for s in files[:TOP // 2]],
        "greenlets": greenlets - _baseline["stacks"][0],
        "greenlet_stack_bytes": stack_bytes - _baseline["stacks"][1],
        "object_types": dict(types.most_common(TOP // 2)),
        "seconds": 0.0,
    }
    report["seconds"] = round(time.monotonic() - began, 2)
    Path(os.environ["BENCH_MEMORY_TRACE"]).write_text(json.dumps(report, indent=1) + "\n")


@events.init.add_listener
def _on_init(**_: Any) -> None:
    if tracemalloc.is_tracing():
        gevent.signal_handler(signal.SIGUSR1, _dump)
