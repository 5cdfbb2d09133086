"""`python -m bench.soak [--minutes 10]`: a bounded soak of mixed pull/push load (a benchmark, not a test).

One headless locust runs every task against a local reference registry (or `--host`) for `--minutes`; a probe
inside it (bench/soak_probe.py) samples RSS and live greenlets every `--every` seconds. After a warm-up (a
fifth of the run, at least 30 s), the first and the last window of samples are compared. The soak holds when
RSS drifts under 10%, the greenlet count does not grow, and no request failed or raised. Prints the result
as a Markdown table (docs/soak.md) and writes JSON; exits 1 when the soak does not hold.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from registry_tasks.tools.local_registry import start_registry

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILES = f"{ROOT / 'locustfile.py'},{ROOT / 'bench' / 'soak_probe.py'}"
MAX_RSS_DRIFT = 0.10
WINDOW = 3  # samples per compared window
GREENLET_SLACK = 2  # a greenlet or two may be mid-spawn when sampled


@dataclass
class Verdict:
    """What the soak measured and whether it held."""

    minutes: float
    users: int
    requests: int
    requests_per_s: float
    failures: int
    exceptions: int
    rss_first_mb: float
    rss_last_mb: float
    rss_drift: float
    greenlets_first: int
    greenlets_last: int
    rps_first: float
    rps_last: float

    @property
    def holds(self) -> bool:
        return (
            abs(self.rss_drift) < MAX_RSS_DRIFT
            and self.greenlets_last <= self.greenlets_first + GREENLET_SLACK
            and self.failures == 0
            and self.exceptions == 0
        )

    def table(self) -> str:
        header = (
            "| minutes | users | requests | req/s | failures | exceptions | RSS after warm-up -> end | drift "
            "| greenlets after warm-up -> end | req/s after warm-up -> end | holds |"
        )
        row = (
            f"| {self.minutes:g} | {self.users} | {self.requests:,} | {self.requests_per_s:.0f} | {self.failures} "
            f"| {self.exceptions} | {self.rss_first_mb:.0f} -> {self.rss_last_mb:.0f} MB | {self.rss_drift:+.1%} "
            f"| {self.greenlets_first} -> {self.greenlets_last} | {self.rps_first:.0f} -> {self.rps_last:.0f} "
            f"| {'yes' if self.holds else 'NO'} |"
        )
        return "\n".join((header, "|" + "---|" * 11, row))


def run_locust(args: argparse.Namespace, host: str, workdir: Path) -> int:
    """The soak itself: bounded by -t, and by a hard timeout two minutes past it."""
    seconds = round(args.minutes * 60)
    command = [
        sys.executable, "-m", "locust", "-f", LOCUSTFILES, "--headless", "--only-summary",
        "-H", host, "-u", str(args.users), "-r", str(args.users), "-t", f"{seconds}s", "--stop-timeout", "30",
        "--synthetic-images", args.images, "--chunk-size", "256KiB", "--repository-prefix", "soak",
        "--csv", str(workdir / "soak"), "--logfile", str(workdir / "locust.log"),
        *(["--arrival-rate", args.arrival_rate] if args.arrival_rate else []),
    ]  # fmt: skip
    env = {**os.environ, "SOAK_PROBE_FILE": str(workdir / "probe.jsonl"), "SOAK_PROBE_SECONDS": str(args.every)}
    with open(workdir / "output.txt", "w") as output:
        process = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT, timeout=seconds + 120)
    return process.returncode


def totals(workdir: Path) -> tuple[int, int, int]:
    """Requests, failures (Aggregated row) and exceptions, from Locust's CSV files."""
    with open(workdir / "soak_stats.csv", newline="") as handle:
        aggregated = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    with open(workdir / "soak_exceptions.csv", newline="") as handle:
        exceptions = sum(int(row["Count"]) for row in csv.DictReader(handle))
    return int(aggregated["Request Count"]), int(aggregated["Failure Count"]), exceptions


def judge(args: argparse.Namespace, samples: list[dict[str, Any]], workdir: Path) -> Verdict:
    warmup = max(30.0, args.minutes * 60 / 5)
    settled = [sample for sample in samples if sample["seconds"] >= warmup and sample["users"] == args.users]
    if len(settled) < 2 * WINDOW:
        raise SystemExit(f"only {len(settled)} samples after the warm-up: run longer or sample more often")
    first, last = settled[:WINDOW], settled[-WINDOW:]
    rss_first = statistics.median(sample["rss_mb"] for sample in first)
    rss_last = statistics.median(sample["rss_mb"] for sample in last)
    requests, failures, exceptions = totals(workdir)
    return Verdict(
        minutes=args.minutes,
        users=args.users,
        requests=requests,
        requests_per_s=requests / (args.minutes * 60),
        failures=failures,
        exceptions=exceptions,
        rss_first_mb=rss_first,
        rss_last_mb=rss_last,
        rss_drift=(rss_last - rss_first) / rss_first,
        greenlets_first=max(sample["greenlets"] for sample in first),
        greenlets_last=max(sample["greenlets"] for sample in last),
        rps_first=rate(first),
        rps_last=rate(last),
    )


def rate(window: list[dict[str, Any]]) -> float:
    """Requests per second across a window of samples."""
    return (window[-1]["requests"] - window[0]["requests"]) / (window[-1]["seconds"] - window[0]["seconds"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="how long the load runs (default 10)")
    parser.add_argument("--users", type=int, default=8, help="locust users, pull and push mixed 3:1 (default 8)")
    parser.add_argument("--images", default="2x1MiB,1x256KiB 1x2MiB", help="synthetic image specs")
    parser.add_argument("--every", type=float, default=10, help="seconds between samples (default 10)")
    parser.add_argument("--arrival-rate", help="open model instead of users, e.g. image-pull=20/s,manifest-get=80/s")
    parser.add_argument("--host", help="an existing registry (default: a local one, started and removed)")
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "soak.json", help="where to write JSON")
    args = parser.parse_args(argv)
    if args.arrival_rate:
        args.users = 1  # the open model's placeholder user; arrivals run on their own clients
    with tempfile.TemporaryDirectory(prefix="soak-") as temporary:
        workdir = Path(temporary)
        if args.host:
            code = run_locust(args, args.host, workdir)
        else:
            with start_registry(temporary) as registry:
                code = run_locust(args, registry.url, workdir)
        samples = [json.loads(line) for line in (workdir / "probe.jsonl").read_text().splitlines()]
        verdict = judge(args, samples, workdir)
        if code not in (0, 1):
            print((workdir / "output.txt").read_text()[-3000:], file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**asdict(verdict), "holds": verdict.holds, "samples": samples}, indent=2) + "\n")
    print(verdict.table())
    return 0 if verdict.holds and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
