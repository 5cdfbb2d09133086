"""Run one `locust --headless` subprocess and measure it from the OS.

Two CPU figures: the whole process (user+sys and peak RSS from `os.wait4`), and the load window from
"All users spawned" to "Shutting down" (utime+stime read from /proc/<pid>/stat when those log lines
arrive), which leaves out imports, image building and the final report. Run locust with a generous
`--stop-timeout`: then every task started in the window also ends in it, and no half-done blob costs
CPU without counting. The registry's CPU is read over the same window.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")
START_LINE = "All users spawned"
STOP_LINE = "Shutting down (exit code"
ERROR_REPORT = "Error report"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc/<pid>/stat (0.0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def log_errors(log: str) -> list[str]:
    """Error lines of a locust log: its final error report, tracebacks and ERROR records."""
    errors = []
    in_report = False
    for line in log.splitlines():
        if line.startswith(ERROR_REPORT):
            in_report = True
        elif in_report and not line.strip():
            in_report = False  # the report ends with an empty line
        elif in_report and not line.startswith(("-", "#")):
            errors.append(" ".join(line.split()))
        if "Traceback" in line or "/ERROR/" in line:
            errors.append(line.strip())
    return errors


@dataclass
class Sample:
    """CPU seconds of the locust process and the registry at one instant."""

    at: float
    locust_cpu: float
    registry_cpu: float


@dataclass
class LocustRun:
    """What one locust process did and cost."""

    exit_code: int
    process_cpu: float
    peak_rss_mb: float
    stats: list[dict[str, Any]]
    start: Sample | None
    stop: Sample | None
    log_path: Path
    errors: list[str] = field(default_factory=list)

    @property
    def window_seconds(self) -> float:
        return self.stop.at - self.start.at if self.start and self.stop else 0.0

    @property
    def load_cpu(self) -> float:
        """CPU seconds spent while the users ran; the whole process if the window was not seen."""
        return self.stop.locust_cpu - self.start.locust_cpu if self.start and self.stop else self.process_cpu

    @property
    def registry_cpu(self) -> float:
        return self.stop.registry_cpu - self.start.registry_cpu if self.start and self.stop else 0.0


def run_locust(
    command: list[str], env: dict[str, str], cwd: Path, log_path: Path, registry_pid: int, timeout: float
) -> LocustRun:
    """Run locust with `--json` (stats on stdout), watch its log on stderr, reap it with `os.wait4`."""
    stdout_path = log_path.with_suffix(".json")
    samples: dict[str, Sample] = {}
    with open(stdout_path, "wb") as stdout, open(log_path, "w") as log:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, text=True
        )
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        assert process.stderr is not None
        for line in process.stderr:
            log.write(line)
            for key, marker in (("start", START_LINE), ("stop", STOP_LINE)):
                if marker in line and key not in samples:
                    samples[key] = Sample(time.monotonic(), cpu_seconds(process.pid), cpu_seconds(registry_pid))
        _, status, usage = os.wait4(process.pid, 0)
        watchdog.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = log_errors(log_path.read_text(errors="replace"))
    try:
        stats = json.loads(stdout_path.read_text() or "[]")
    except ValueError:
        stats = []
        errors.append(f"no JSON stats from locust (see {stdout_path})")
    return LocustRun(
        exit_code=process.returncode,
        process_cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        stats=stats,
        start=samples.get("start"),
        stop=samples.get("stop"),
        log_path=log_path,
        errors=errors,
    )
