"""`python -m bench.memory`: RSS of one locust process with 10,000 users, or 10,000 open-model arrivals, in flight.

The target: either in one process under 400 MB RSS. Every run goes to a local reference registry behind a
holding proxy (bench/holder.py, asyncio, its own process) that answers each manifest GET only after HOLD seconds,
so every user has a connection open and a request waiting. Our transport as it is committed is measured (a
connection's receive buffer starts at RECEIVE_START, 4 KiB, and grows to HEAD_LIMIT only for a longer head or
chunk line; a manifest GET's ~300-byte head never grows it). Measured per run, from the OS: VmRSS of the locust
process when Locust starts ramping (before any user), VmRSS sampled every 0.25 s with the proxy's count of held
requests (the in-flight sample is the one with most held), and peak RSS (`os.wait4` ru_maxrss, the whole
process, shutdown included). KB per user = (sampled - before) / held; a run with fewer than 10,000 is projected
to 10,000 from its peak: before + (peak - before) x 10,000 / held. Runs:

1. closed (judged): 10,000 of our users (`--quick`: 2,000, projected to 10,000), all spawned at 1,000/s.
2. open (judged): `--arrival-rate manifest-get=R/s` held long enough that ~10,000 arrivals are in flight
   (1,000/s x 10 s; `--quick`: 200/s, projected; 2,500/s x 4 s overran this 2-vCPU machine's one generator
   core, arrivals piled up and were dropped).
3. where it goes (not judged): 1,000 of ours and 1,000 raw FastHttpUser (bench/fast_locustfile.py: Locust's
   floor) untraced for RSS, then again under tracemalloc (bench/memory_locustfile.py) for the allocation sites
   per user.

MB and KB are of 1,024 (as ru_maxrss). Prints tables and writes JSON (reports/bench-memory.json); the exit status
is non-zero only when a run failed, not when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from registry_tasks.image import Image
from registry_tasks.registry import ClientConfig, RegistryClient, log_request, mount_image, push_image
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import start_registry

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "bench"
SPEC = "1x4KiB"  # a ~500-byte manifest; only manifests are fetched
TARGET_MB = 400.0
TARGET_COUNT = 10_000
SPAWN_RATE = 1000  # what Locust spawns on 2 vCPUs: 10,000 users in ~9 s
HOLD = 10.0
SAMPLE_EVERY = 0.25
OURS = str(ROOT / "locustfile.py")
WRAPPER = str(ROOT / "bench" / "memory_locustfile.py")
FAST = str(ROOT / "bench" / "fast_locustfile.py")


@dataclass(frozen=True)
class Scenario:
    """One locust process: which users, how many in flight, for how long, traced or not."""

    name: str
    generator: str  # "ours" or "fast"
    count: int  # users (closed) or arrivals in flight wanted (open: rate x hold)
    seconds: int
    rate: float = 0.0  # open model: arrivals per second
    hold: float = HOLD
    trace: bool = False

    @property
    def locustfile(self) -> str:
        if self.trace:
            return WRAPPER
        return FAST if self.generator == "fast" else OURS


@dataclass
class Result:
    """What one run held and cost; `kb_per_user` is per user (or arrival) in flight at the sample."""

    scenario: str
    generator: str
    wanted: int
    in_flight: int = 0
    before_mb: float = 0.0
    sampled_mb: float = 0.0
    peak_mb: float = 0.0
    spawn_s: float | None = None
    cpu_s: float = 0.0
    requests: int = 0
    failures: int = 0
    exit_code: int = -1
    arrivals: dict[str, Any] = field(default_factory=dict)
    trace: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def kb_per_user(self) -> float:
        return (self.sampled_mb - self.before_mb) * 1024 / self.in_flight if self.in_flight else float("nan")

    @property
    def stop_kb_per_user(self) -> float:
        """What the peak adds to the in-flight sample, per user: mostly Locust stopping them (a greenlet each)."""
        return (self.peak_mb - self.sampled_mb) * 1024 / self.in_flight if self.in_flight else float("nan")

    @property
    def projected_mb(self) -> float:
        """Peak RSS at 10,000 in flight: measured when the run had them, else scaled per user from this peak."""
        if self.in_flight >= TARGET_COUNT * 0.98 or not self.in_flight:
            return self.peak_mb
        return self.before_mb + (self.peak_mb - self.before_mb) * TARGET_COUNT / self.in_flight

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failures == 0 and not self.errors and self.in_flight > 0

    def to_json(self) -> dict[str, Any]:
        figures = {"kb_per_user": round(self.kb_per_user, 2), "stop_kb_per_user": round(self.stop_kb_per_user, 2),
                   "projected_mb": round(self.projected_mb, 1)}  # fmt: skip
        return {**asdict(self), **figures, "ok": self.ok}


def scenarios(quick: bool) -> list[Scenario]:
    """Full: both models at 10,000 in flight (~3 min in all); quick: 2,000, projected (~1.5 min)."""
    big = 2_000 if quick else TARGET_COUNT
    small = 1_000
    return [
        Scenario("closed", "ours", big, 14 if quick else 30),
        Scenario("open", "ours", big, 16 if quick else 24, rate=big / HOLD),
        Scenario("closed", "ours", small, 8),
        Scenario("closed", "fast", small, 8),
        Scenario("closed", "ours", small, 11, trace=True),
        Scenario("closed", "fast", small, 11, trace=True),
    ]


def seed(url: str, image: Image) -> None:
    """Seed both repositories our users look at directly (not through the proxy): they find them and skip."""
    client = RegistryClient(url, log_request, ClientConfig())
    try:
        push_image(client, f"{PREFIX}/{image.name}", image.tag, image, "monolithic", 5 << 20, 5)
        mount_image(client, f"{PREFIX}/{image.name}", f"{PREFIX}/{image.name}-tags", image)
    finally:
        client.close()


def vm_rss_mb(pid: int) -> float:
    """VmRSS of a live process from /proc (0.0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def held(url: str) -> int:
    """Requests the proxy holds right now (-1 when it does not answer)."""
    try:
        with urllib.request.urlopen(url + "/_holder", timeout=2) as answer:  # noqa: S310 - loopback only
            return int(json.loads(answer.read())["held"])
    except (OSError, ValueError, KeyError):
        return -1


def start_holder(upstream: str, hold: float, lifetime: float, log: Path) -> tuple[subprocess.Popen[str], str]:
    """The proxy in its own process (stops by itself after `lifetime` s); returns it and its URL."""
    command = [sys.executable, "-m", "bench.holder", upstream, str(hold), str(lifetime)]
    with open(log, "w") as errors:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL,
                                   text=True)  # fmt: skip
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    if not port.isdigit():
        process.kill()
        process.wait()
        raise RuntimeError("the holding proxy did not start")
    return process, f"http://127.0.0.1:{port}"


def command(scenario: Scenario, host: str, summary: Path) -> list[str]:
    base = [sys.executable, "-m", "locust", "-f", scenario.locustfile, "--headless", "-H", host, "--only-summary",
            "--json", "-t", f"{scenario.seconds}s", "--stop-timeout", "0"]  # fmt: skip
    if scenario.generator == "fast":
        return [*base, "-u", str(scenario.count), "-r", str(SPAWN_RATE), "--tags", "manifest-get"]
    base += ["--synthetic-images", SPEC, "--repository-prefix", PREFIX, "--client-profile", "minimal"]
    base += ["--summary-file", str(summary)]
    if scenario.rate:
        return [*base, "--arrival-rate", f"manifest-get={scenario.rate:g}/s", "--max-in-flight", "20000"]
    return [*base, "-u", str(scenario.count), "-r", str(SPAWN_RATE), "--tags", "manifest-get"]


def watch_log(process: subprocess.Popen[str], log_path: Path, marks: dict[str, float]) -> None:
    """Copy locust's log; at "Ramping to" read VmRSS at once (the process before any user), note spawn and stop."""
    assert process.stderr is not None
    with open(log_path, "w") as log:
        for line in process.stderr:
            log.write(line)
            if "Ramping to" in line and "ramp" not in marks:
                marks["ramp"], marks["before_mb"] = time.monotonic(), vm_rss_mb(process.pid)
            elif "All users spawned" in line and "spawned" not in marks:
                marks["spawned"] = time.monotonic()
            elif "limit reached" in line or "Shutting down" in line:
                marks.setdefault("stopping", time.monotonic())  # users stop; the proxy still counts them held


def run(scenario: Scenario, registry_url: str, image: Image, work: Path, logs: Path) -> Result:
    """One bounded locust run behind a fresh proxy: sampled while it runs, reaped with os.wait4."""
    result = Result(scenario.name, scenario.generator, scenario.count)
    slug = f"{scenario.name}-{scenario.generator}-{scenario.count}{'-trace' if scenario.trace else ''}"
    slug = "".join(c if c.isalnum() or c == "-" else "_" for c in slug)
    trace_path, summary = work / f"{slug}-trace.json", work / f"{slug}-summary.json"
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "BENCH_REPOSITORY": f"{PREFIX}/{image.name}"}
    env["BENCH_TAG"] = image.tag
    if scenario.generator == "fast":
        env["BENCH_MEMORY_TARGET"] = "fast"
    if scenario.trace:
        env["BENCH_MEMORY_TRACE"] = str(trace_path)
    holder, url = start_holder(registry_url, scenario.hold, scenario.seconds + 90, logs / f"{slug}-holder.log")
    stdout_path = logs / f"{slug}.json"
    try:
        with open(stdout_path, "w") as stdout:
            process = subprocess.Popen(command(scenario, url, summary), env=env, cwd=work, stdin=subprocess.DEVNULL,
                                       stdout=stdout, stderr=subprocess.PIPE, text=True)  # fmt: skip
            watchdog = threading.Timer(scenario.seconds + 60, process.kill)
            watchdog.start()
            marks: dict[str, float] = {}
            reader = threading.Thread(target=watch_log, args=(process, logs / f"{slug}.log", marks), daemon=True)
            reader.start()
            signalled = False
            while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:  # not reaped
                count, rss = held(url), vm_rss_mb(process.pid)
                if count >= result.in_flight and rss > 0 and "ramp" in marks and "stopping" not in marks:
                    result.in_flight, result.sampled_mb = count, rss
                if scenario.trace and not signalled and count >= scenario.count:
                    process.send_signal(signal.SIGUSR1)  # all users held: where their bytes are
                    signalled = True
                time.sleep(SAMPLE_EVERY)
            _, status, usage = os.wait4(process.pid, 0)
            watchdog.cancel()
            process.returncode = result.exit_code = os.waitstatus_to_exitcode(status)
            reader.join(timeout=10)
    finally:
        holder.terminate()
        holder.wait(timeout=10)
    result.peak_mb, result.cpu_s = usage.ru_maxrss / 1024, round(usage.ru_utime + usage.ru_stime, 2)
    result.before_mb = marks.get("before_mb", 0.0)
    if "ramp" in marks and "spawned" in marks and not scenario.rate:
        result.spawn_s = round(marks["spawned"] - marks["ramp"], 2)
    read_outputs(result, stdout_path, summary, trace_path, scenario)
    return result


def read_outputs(result: Result, stdout_path: Path, summary: Path, trace_path: Path, scenario: Scenario) -> None:
    """Requests and failures (locust --json), arrivals (our summary file), the trace; what is missing, an error."""
    try:
        stats = json.loads(stdout_path.read_text() or "[]")
        result.requests = sum(entry["num_requests"] for entry in stats)
        result.failures = sum(entry["num_failures"] for entry in stats)
    except (OSError, ValueError, KeyError, TypeError):
        result.errors.append(f"no JSON stats from locust ({stdout_path})")
    if summary.exists():
        result.arrivals = json.loads(summary.read_text()).get("arrivals", {}).get("entries", {}).get("manifest-get", {})
    if scenario.trace:
        if trace_path.exists():
            result.trace = json.loads(trace_path.read_text())
        else:
            result.errors.append("no tracemalloc dump: the users were never all held")
    if result.exit_code != 0:
        result.errors.append(f"locust exited with {result.exit_code} (log: {stdout_path.with_suffix('.log')})")
    if result.in_flight < scenario.count * 0.95:
        result.errors.append(f"only {result.in_flight} of {scenario.count} were in flight at once")


GROUPS = (
    ("our transport (connection, receive buffer, request head)", ("registry_tasks/registry/transport.py",)),
    ("our client, session, auth, user", ("registry_tasks/",)),
    ("geventhttpclient (FastHttpUser's client)", ("geventhttpclient/", "locust/contrib/fasthttp.py")),
    ("gevent sockets, timeouts, waits (incl. greenlet stacks)", ("gevent/_socket", "gevent/socket", "gevent/timeout")),
    ("Locust user, TaskSet, spawn (gevent pool)", ("locust/", "gevent/pool.py", "gevent/greenlet.py")),
)


def attribution(trace: dict[str, Any], users: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Per user: traced bytes by group (from the top files) and the top lines, in KB."""
    groups: dict[str, float] = {name: 0.0 for name, _ in GROUPS}
    groups["other (stdlib, parse, contextlib...)"] = 0.0
    for entry in trace["files"]:
        name = next((name for name, prefixes in GROUPS if entry["where"].startswith(prefixes)), None)
        groups[name or "other (stdlib, parse, contextlib...)"] += entry["bytes"] / 1024 / users
    lines = [(entry["where"], entry["bytes"] / 1024 / users) for entry in trace["lines"][:12]]
    return list(groups.items()), lines


def report(results: list[Result]) -> str:
    head = ("| scenario | generator | in flight | RSS before MB | RSS in flight MB | peak RSS MB "
            "| KB per user in flight | peak adds, KB per user | peak at 10,000 MB | target 400 MB |\n")
    head += "|---" * 10 + "|"
    lines = [head]
    for r in results:
        if r.trace is not None:
            continue
        projected = r.in_flight < TARGET_COUNT * 0.98
        verdict = ("PASS" if r.projected_mb < TARGET_MB else "MISS") + (" (projected)" if projected else "")
        lines.append(f"| {r.scenario} | {r.generator} | {r.in_flight:,} | {r.before_mb:.0f} | {r.sampled_mb:.0f} "
                     f"| {r.peak_mb:.0f} | {r.kb_per_user:.1f} | {r.stop_kb_per_user:.1f} | {r.projected_mb:.0f} "
                     f"| {verdict}{'' if r.ok else ' FAILED'} |")  # fmt: skip
    for r in results:
        if r.trace is None or not r.in_flight:
            continue
        users = r.in_flight
        groups, top = attribution(r.trace, users)
        lines += ["", f"tracemalloc, {r.generator}, {users:,} users held: {r.trace['traced_bytes'] / 1024 / users:.1f}"
                  f" KB traced per user; greenlet stacks saved {r.trace['greenlet_stack_bytes'] / 1024 / users:.1f}"
                  f" KB per user ({r.trace['greenlets']:,} greenlets more than at test start)"]  # fmt: skip
        lines += [f"  {name:<58} {kb:6.2f} KB/user" for name, kb in groups if kb]
        lines += ["  top lines:"] + [f"    {where:<54} {kb:6.2f} KB/user" for where, kb in top]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 in flight instead of 10,000 (~1.5 min)")
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "bench-memory.json", help="where to write JSON")
    args = parser.parse_args(argv)
    began = time.monotonic()
    logs = args.json.parent / "bench-memory-logs"
    logs.mkdir(parents=True, exist_ok=True)
    image = synthetic_image(SPEC)
    results: list[Result] = []
    with start_registry() as registry, tempfile.TemporaryDirectory(prefix="bench-memory-") as work:
        seed(registry.url, image)
        for scenario in scenarios(args.quick):
            what = f"{scenario.rate:g}/s held {scenario.hold:g} s" if scenario.rate else f"{scenario.count:,} users"
            print(f"  {scenario.name:<6} {scenario.generator:<4} {what}{', traced' if scenario.trace else ''} ...",
                  end="", flush=True)  # fmt: skip
            result = run(scenario, registry.url, image, Path(work), logs)
            print(f" {result.in_flight:,} in flight, {result.sampled_mb:.0f} MB sampled, peak {result.peak_mb:.0f} MB"
                  + ("" if result.ok else "  FAILED: " + "; ".join(result.errors[:3])), flush=True)  # fmt: skip
            results.append(result)
    print()
    print(report(results))
    settings = {"quick": args.quick, "spec": SPEC, "hold_s": HOLD, "spawn_rate": SPAWN_RATE, "cpus": os.cpu_count(),
                "target_mb": TARGET_MB, "target_count": TARGET_COUNT}  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"settings": settings, "runs": [r.to_json() for r in results]}, indent=2) + "\n")
    print(f"wrote {args.json} in {time.monotonic() - began:.0f}s")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
