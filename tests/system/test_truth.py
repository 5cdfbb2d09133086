"""No exit code lies: real `locust` runs of the shipped locustfile that did not do what they were asked exit non-zero
with one ERROR line, logged last, saying what is missing (registry_tasks/plugin/outcome.py); Locust's tables, the
registry table and the summary file agree request for request; progress prints no byte total it does not know.

Runs are ended by what they do (a worker killed once requests flowed, Ctrl-C once the stats show requests), and
nothing asserted is a timing figure.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from registry_tasks.load import format_rate
from registry_tasks.tools.local_registry import LocalRegistry, free_port

from ..support.helpers import ROOT, locust_command, run_locust
from ..support.load_proxies import throttle_proxy

OUTCOME = "/ERROR/registry_tasks.plugin.outcome: "


def the_one_line(output: str) -> str:
    """The run's only ERROR line, which must come from outcome.py after every table; its message."""
    errors = [line for line in output.splitlines() if "/ERROR/" in line]
    assert len(errors) == 1, errors or output[-3000:]
    assert OUTCOME in errors[0], errors
    assert output.index(errors[0]) > output.rindex("Registry: ") > output.rindex("Shutting down (exit code")
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
    return errors[0].split(OUTCOME, 1)[1]


def summary_run(tmp_path: Path, host: str, prefix: str, *args: str, timeout: float = 120) -> tuple[Any, dict[str, Any]]:
    """A headless run with a summary file and --csv; returns the process and the summary."""
    summary = tmp_path / "summary.json"
    result = run_locust(
        tmp_path, "-H", host, "--repository-prefix", prefix, "--summary-file", str(summary),
        "--csv", str(tmp_path / "run"), *args, timeout=timeout,
    )  # fmt: skip
    assert summary.exists(), result.stderr[-3000:]
    return result, json.loads(summary.read_text())


def default_sigint() -> None:
    """Ctrl-C as a terminal delivers it. A command a non-interactive shell starts in the background (a CI
    script's `&`, nohup) inherits SIGINT ignored, and locust rightly leaves an ignored SIGINT alone: the run
    then went on to its -t and exited 0 (seen in fresh-clone CI runs started so)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def act_once_requests_flow(
    command: list[str], tmp_path: Path, act: Callable[[subprocess.Popen[bytes]], None]
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `command` (its --csv at tmp_path/run), `act` on it once its stats count requests, wait for its end
    (bounded; killed otherwise); the process and its output."""
    with open(tmp_path / "locust.log", "wb") as log:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=default_sigint)  # fmt: skip
    try:
        wait_for("requests", requests_counted(tmp_path / "run"), process)
        act(process)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            raise AssertionError("no end within 120 s:\n" + (tmp_path / "locust.log").read_text()[-4000:]) from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process, (tmp_path / "locust.log").read_text()


def wait_for(what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Poll `ready()` until it holds; the process must still run meanwhile."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"locust exited ({process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.2)


def requests_counted(csv_prefix: Path) -> Callable[[], bool]:
    """Whether Locust's stats CSV (rewritten every second) counts a request yet."""

    def ready() -> bool:
        try:
            with open(f"{csv_prefix}_stats.csv", newline="") as handle:
                rows = list(csv.DictReader(handle))
        except OSError:
            return False
        return any(row["Name"] == "Aggregated" and int(row["Request Count"] or 0) > 0 for row in rows)

    return ready


def test_a_run_that_sends_nothing_exits_1_and_judges_no_gate(registry: LocalRegistry, tmp_path: Path) -> None:
    result, summary = summary_run(
        tmp_path, registry.url, "truth/nothing", "-u", "0", "-t", "2s", "--check-p95", "manifest-get=1000"
    )
    assert result.returncode == 1, result.stderr[-3000:]
    line = the_one_line(result.stderr)
    assert line == "no requests were made: the run was asked for 0 users (-u/--users)"
    assert "gate not evaluated: --check-p95 manifest-get=1000: no requests were made" in result.stderr
    assert (summary["complete"], summary["shortfall"], summary["gates_passed"]) == (False, line, None)


def test_a_rollout_the_run_time_cuts_short_is_incomplete_not_failed(registry: LocalRegistry, tmp_path: Path) -> None:
    """30 nodes starting over 20 s, a 6 s run: the nodes never started did not fail."""
    result, summary = summary_run(tmp_path, registry.url, "truth/rollout", "--rollout", "30@20s", "-t", "6s")
    assert result.returncode == 4, result.stderr[-3000:]
    rollout = summary["rollout"]
    done, pulling, waiting = rollout["completed"] + rollout["failed"], rollout["pulling"], rollout["not_started"]
    assert rollout["failed"] == 0 and rollout["complete"] is False and waiting > 0
    assert done + pulling + waiting == 30
    line = the_one_line(result.stderr)
    assert line == f"rollout incomplete: {done} of 30 nodes done when the run ended; {pulling} still pulling, " \
                   f"{waiting} not started"  # fmt: skip
    assert summary["shortfall"] == line
    pulled = f"rollout: {rollout['completed']} of 30 nodes pulled (0 failed, {pulling} still pulling, {waiting} not"
    assert pulled in result.stderr


def test_a_capacity_search_the_run_time_cuts_short_found_nothing(registry: LocalRegistry, tmp_path: Path) -> None:
    """Behind a registry that serves 10 requests/s, from 5/s up by half: the first rate that breaches is 50% above
    the last that held, and halving that gap to within 5% takes 4 more steps, 6 steps at least; the run has room for
    4 steps of 3 s at most, however fast or slow the machine (a busy one breached at 7.5/s and found 7.19/s in a
    20 s run). The search says what it had (the highest rate that held, the lowest that breached) and exits 4."""
    with throttle_proxy(registry.url, per_second=10) as (url, _):
        result, summary = summary_run(
            tmp_path, url, "truth/capacity", "-t", "12s", "--find-capacity", "manifest-get", "--slo", "p95=500",
            "--capacity-start", "5/s", "--capacity-step-time", "3", "--client-profile", "minimal",
        )  # fmt: skip
    assert result.returncode == 4, result.stderr[-3000:]
    capacity = summary["capacity"]
    assert (capacity["found"], capacity["cut_short"], capacity["rate_per_s"]) == (False, True, None)
    steps = capacity["steps"]
    held = max(step["rate_per_s"] for step in steps if step["verdict"] == "held")
    broke = min((step["rate_per_s"] for step in steps if step["verdict"].startswith("breached")), default=None)
    assert capacity["bracket"] == {"held_per_s": held, "breached_per_s": broke}
    line = the_one_line(result.stderr)
    assert summary["shortfall"] == line
    if broke is None:  # a slow machine got no further than the held steps
        assert line == f"capacity search cut short: manifest-get: {format_rate(held)} held (the highest tried), none " \
                       "breached yet"  # fmt: skip
    else:
        assert (broke - held) / held > 0.05
        assert line.startswith(f"capacity search cut short: manifest-get: {format_rate(held)} held, "
                               f"{format_rate(broke)} breached: ")  # fmt: skip
        assert line.endswith("apart, not yet within 5%")
    assert "capacity: manifest-get: the search was cut short by the run's end: " in result.stderr


def test_ctrl_c_exits_130_with_the_figures_and_no_gate_judged(registry: LocalRegistry, tmp_path: Path) -> None:
    """SIGINT once the stats count requests: the run stops as -t would stop it, prints its tables and writes its
    summary file, judges no gate (its figures cover part of the run) and exits as shells expect of Ctrl-C."""
    summary = tmp_path / "summary.json"
    command = locust_command(
        "-H", registry.url, "-u", "2", "-r", "2", "-t", "120s", "--tags", "manifest-get", "--repository-prefix",
        "truth/ctrl-c", "--csv", str(tmp_path / "run"), "--check-p95", "manifest-get=10000", "--summary-file",
        str(summary),
    )  # fmt: skip
    process, output = act_once_requests_flow(command, tmp_path, lambda process: process.send_signal(signal.SIGINT))
    assert process.returncode == 130, output[-3000:]
    line = the_one_line(output)
    assert re.fullmatch(r"interrupted \(Ctrl-C\) [\d.]+ s into a run asked to last 120 s: its figures cover only "
                        r"that time", line), line  # fmt: skip
    assert "gate not evaluated: --check-p95 manifest-get=10000: the run was interrupted" in output
    assert "gate passed" not in output and "Response time percentiles" in output
    document = json.loads(summary.read_text())
    assert (document["complete"], document["gates_evaluated"], document["gates_passed"]) == (False, False, None)
    assert [gate["passed"] for gate in document["gates"]] == [None] and document["shortfall"] == line
    entries = {entry["name"]: entry["requests"] for entry in document["entries"]}
    assert entries["manifest-get"] > 0


def test_a_killed_worker_fails_the_master_with_its_name(registry: LocalRegistry, tmp_path: Path) -> None:
    """A real master expecting 2 workers; once requests flowed, worker 1 is killed (SIGKILL: no goodbye). The master
    goes on to its end and exits 4, naming the worker it lost as that worker named itself."""
    port = free_port()
    master = locust_command(
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--expect-workers", "2",
        "-H", registry.url, "-u", "4", "-r", "4", "-t", "12s", "--tags", "manifest-get", "--csv", str(tmp_path / "run"),
        "--repository-prefix", "truth/worker", "--summary-file", str(tmp_path / "summary.json"),
    )  # fmt: skip
    worker = locust_command("--worker", "--master-host", "127.0.0.1", "--master-port", str(port), headless=False)
    processes: list[subprocess.Popen[bytes]] = []
    for name, command in (("master", master), ("worker0", worker), ("worker1", worker)):
        with open(tmp_path / f"{name}.log", "wb") as log:
            processes.append(subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT))
    try:
        wait_for("requests", requests_counted(tmp_path / "run"), processes[0])
        victim = processes[2]
        named = re.search(r"connected to the master as (worker \d+ \(\S+\))", (tmp_path / "worker1.log").read_text())
        assert named is not None, (tmp_path / "worker1.log").read_text()[-3000:]
        victim.send_signal(signal.SIGKILL)
        processes[0].wait(timeout=120)
        processes[1].wait(timeout=30)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = (tmp_path / "master.log").read_text()
    assert processes[0].returncode == 4, output[-3000:]
    assert (processes[1].returncode, victim.wait()) == (0, -signal.SIGKILL)
    line = the_one_line(output)
    assert re.fullmatch(rf"worker failed: {re.escape(named.group(1))} was lost: its last heartbeat came [\d.]+ s into "
                        r"the run \(what it did since is missing\)", line), line  # fmt: skip
    assert json.loads((tmp_path / "summary.json").read_text())["shortfall"] == line


def processes(*args: str, beside: str = "") -> list[str]:
    """`--processes 2`: a master and two forked workers in one command, on a port of their own; `beside`: a
    listener file loaded with the shipped locustfile."""
    port = str(free_port())
    command = locust_command("--processes", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                             "--master-port", port, *args)  # fmt: skip
    return [*command, "-f", f"{ROOT / 'locustfile.py'},{ROOT / beside}"] if beside else command


def outcome_line(output: str) -> str:
    """outcome.py's one line, after every table (the workers' own errors may precede it)."""
    ours = [line for line in output.splitlines() if OUTCOME in line]
    assert len(ours) == 1, ours or output[-3000:]
    assert output.index(ours[0]) > output.rindex("Registry: ")
    return ours[0].split(OUTCOME, 1)[1]


def test_with_processes_a_killed_worker_fails_the_master(registry: LocalRegistry, tmp_path: Path) -> None:
    """`--processes 2` and one forked worker killed once requests flowed: Locust alone logged nothing of it and
    exited 0 (a killed child's status is negative, below its "Bad response code" bar)."""
    command = processes("-H", registry.url, "-u", "4", "-r", "4", "-t", "12s", "--tags", "manifest-get",
                        "--repository-prefix", "truth/processes", "--csv", str(tmp_path / "run"))  # fmt: skip
    def kill_worker_1(process: subprocess.Popen[bytes]) -> None:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 2, children
        os.kill(int(children[1]), signal.SIGKILL)

    process, output = act_once_requests_flow(command, tmp_path, kill_worker_1)
    assert process.returncode == 4, output[-3000:]
    workers = dict(re.findall(r"connected to the master as (worker \d+) \((\S+)\)", output))
    line = the_one_line(output)
    named = re.fullmatch(r"worker failed: (worker \d+) \((\S+)\) was lost: its last heartbeat came [\d.]+ s into "
                         r"the run \(what it did since is missing\)", line)  # fmt: skip
    assert named is not None and workers[named.group(1)] == named.group(2), (line, workers)


def test_with_processes_a_worker_exiting_2_fails_the_master(registry: LocalRegistry, tmp_path: Path) -> None:
    """A forked worker whose own greenlet died exits 2 at the end: Locust's master logged "Bad response code from
    worker children: 2" and exited 0. The worker tells the master its exit code; the master exits 4."""
    command = processes("-H", registry.url, "-u", "2", "-r", "2", "-t", "3s", "--tags", "manifest-get",
                        "--repository-prefix", "truth/exit-2", beside="tests/support/dying_worker.py")  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 4, result.stderr[-3000:]
    workers = dict(re.findall(r"connected to the master as (worker \d+) \((\S+)\)", result.stderr))
    assert outcome_line(result.stderr) == f"worker failed: worker 1 ({workers['worker 1']}) exited with code 2"


def final_tables(output: str) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Requests per (Type, Name) in Locust's final table and in our registry table, as printed at the end."""

    def rows(lines: list[str]) -> dict[tuple[str, str], int]:
        out = {}
        for line in lines:
            parts = line.split()
            if parts and parts[0] == "Aggregated":
                out[("", "Aggregated")] = int(parts[1])
            elif len(parts) > 3 and parts[2].isdigit():
                out[(parts[0], parts[1])] = int(parts[2])
        return out

    locust_part = output[output.rindex("Shutting down (exit code") :].split("Response time percentiles")[0]
    ours = output[output.rindex("Registry: ") :].splitlines()[2:]
    return rows(locust_part.splitlines()[3:]), rows(ours)


def html_counts(page: str) -> dict[tuple[str, str], int]:
    """Requests per (Type, Name) in the statistics Locust's --html report carries."""
    start = page.index("[", page.index('"requests_statistics":'))
    entries, _ = json.JSONDecoder().raw_decode(page[start:])
    return {(entry["method"] or "", entry["name"]): entry["num_requests"] for entry in entries}


def test_every_table_counts_the_same_requests_in_a_push_heavy_run(registry: LocalRegistry, tmp_path: Path) -> None:
    """Pushes of new layers, several blobs at once, killed mid-way by the run's end (--stop-timeout 0, Locust's
    default): no request is reported after Locust's final figures, so its table, CSV and HTML report, our table,
    CSV and summary file count the same requests."""
    result, summary = summary_run(
        tmp_path, registry.url, "truth/tables", "--stop-timeout", "0", "-u", "8", "-r", "8", "-t", "5s", "--tags",
        "image-push",
        "--synthetic-images", "2x300KiB", "--chunk-size", "64KiB", "--unique-layers", "--push-parallel", "4",
        "--html", str(tmp_path / "run.html"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "/ERROR/" not in result.stderr and "Traceback" not in result.stderr
    printed, ours = final_tables(result.stderr)
    with open(tmp_path / "run_stats.csv", newline="") as handle:
        locust_csv = {(row["Type"], row["Name"]): int(row["Request Count"]) for row in csv.DictReader(handle)}
    with open(tmp_path / "run_registry.csv", newline="") as handle:
        registry_csv = {(row["Type"], row["Name"]): int(row["Requests"]) for row in csv.DictReader(handle)}
    in_summary = {(entry["method"], entry["name"]): entry["requests"] for entry in summary["entries"]}
    html = html_counts((tmp_path / "run.html").read_text())
    assert printed[("PUT", "upload-finish")] > 0 and printed[("PATCH", "upload-chunk")] > 0
    for table in (locust_csv, ours, registry_csv, in_summary, html):
        assert table == printed, (table, printed)


def test_populate_progress_prints_no_byte_total_it_does_not_know(fresh_registry: LocalRegistry, tmp_path: Path) -> None:
    """--populate 10x10: tags already there move nothing, so what will move is not known before the end. A one-node
    rollout ends the run once populated (not a run time that a slow machine might not reach)."""
    result = run_locust(tmp_path, "-H", fresh_registry.url, "--populate", "10x10", "--rollout", "1", "-t", "120s")
    assert result.returncode == 0, result.stderr[-3000:]
    progress = [line for line in result.stderr.splitlines() if "/INFO/registry_tasks.plugin.progress: populate" in line]
    assert progress, result.stderr[-3000:]
    assert re.search(r"populate \(done\): 100 of 100 tags, [\d.]+ [KM]?B moved$", progress[-1]), progress
    assert not [line for line in progress if " of 0 B" in line], progress
    assert "/ERROR/" not in result.stderr
