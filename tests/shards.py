"""Run the suite as two pytest processes at once, each on its own share of the test files, and fail if either fails.

Most system tests wait: on a locust run's `-t`, a registry's start, a real client's pull. Two processes overlap
those waits on a 2-vCPU machine, where one pytest process leaves a core idle most of the time. pytest-xdist cannot
do this here: Locust monkey-patches threading with gevent at import, which deadlocks xdist's worker loop.

Each shard's whole output is printed once it ends (never interleaved), the first shard's first. The files of
FIRST go to one shard, every other test file to the other, so a new test file runs without being listed.

    python -m tests.shards [pytest options...]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST = (
    "tests/unit",
    "tests/system/test_readme.py",
    "tests/system/test_open_model.py",
    "tests/system/test_truth.py",
    "tests/system/test_user_choice.py",
    "tests/system/test_shapes.py",
    "tests/system/test_gates.py",
    "tests/system/test_web_ui.py",
)
"""About half of the suite's time on this project's 2-vCPU machine (the README's examples are the longest file)."""


def shards() -> list[list[str]]:
    """The two shards' arguments: FIRST's files, and the system tests without them."""
    ignored = [f"--ignore={path}" for path in FIRST if path.startswith("tests/system/")]
    return [list(FIRST), ["tests/system", *ignored]]


def main(options: list[str]) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shards-") as directory:
        running = []
        for number, files in enumerate(shards(), 1):
            output = Path(directory) / f"shard-{number}.txt"
            command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *options, *files]
            with output.open("wb") as sink:
                process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603
            running.append((number, process, output))
        codes = []
        for number, process, output in sorted(running, key=lambda shard: shard[0]):
            code = process.wait()
            codes.append(code)
            seconds = time.monotonic() - started
            print(f"===== shard {number} of {len(running)} (exit {code}, {seconds:.0f} s):", flush=True)
            sys.stdout.write(output.read_text(errors="replace"))
            sys.stdout.flush()
    failed = [number for number, code in enumerate(codes, 1) if code != 0]
    print(f"===== shards: {'failed: ' + ', '.join(map(str, failed)) if failed else 'all passed'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
