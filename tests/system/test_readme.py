"""The README and the docs are executable: every shell example in README.md, docs/*.md, bench/README.md and
deploy/README.md (and the locustfile and scenario file they show) runs here against a real local registry
(distribution 2.8), and does what it says: it exits 0 (3 exactly when a gate it sets was breached, as its summary
file shows), makes requests, fails none and prints no traceback. A new example is found by the parser, so it is
tested as soon as it is written. An example shown on two pages (the README's short version repeats a few of the
docs') runs once, where it is first found.

What the test changes in an example, and nothing else (a user's copy-paste runs as written against their own
registry):
- the registry: every `-H` URL in HOSTS becomes the test's registry (`http://new:5000` a second, empty one, as
  the example compares two registries); `<master address>` and other placeholders in PLACEHOLDERS are filled;
- the time: `-t 2m` becomes `-t 6s` (`make run` gets `RUN_TIME=6s`); a run that ends by itself (a rollout, a
  replay, a capacity search) gets a bound of 60 s instead, so that it is not cut short; SCALED and ADDED say
  what else is smaller here, and why;
- what the test needs to look: `--csv` and `--summary-file` in the run's directory when the example writes none,
  loopback ports of its own for a web UI and a master, and `--autostart --autoquit 1` for a web UI run (which
  would otherwise wait for a click in the browser);
- files an example reads (a registry's log, a `--pushed-log`, a `--record` file, images to pull) are made first;
  a YAML block on the same page that begins `# NAME.yaml:` is the file NAME an example reads when the example
  names it (`--client-profile ./my-client.yaml`: written into the example's directory, not run as a scenario);
  a `--worker` line runs as many times as its master's `--expect-workers`.

Beyond exit code, requests and failures, the test checks what an example claims where the claim is checkable:
chunk sizes from the registry's own log (PATCHes per blob), a read-only run writing nothing, a replay replaying
every record of its window, a rollout's every node done, a capacity search finding a rate, an audit verifying
every pushed image, the options listing every option, users of a profile file sending its User-Agent.

Examples that cannot run here are in NOT_RUN, by name, with the reason; an entry that names no example fails.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from registry_tasks import RegistryClient, push_image, synthetic_image
from registry_tasks.config import OPTIONS
from registry_tasks.image import parse_size
from registry_tasks.registry.profiles import ClientProfile, is_profile_file, read_profile
from registry_tasks.tools.local_registry import LocalRegistry, free_port, start_registry

from ..support.helpers import ROOT, Recorder
from ..support.markdown import DOCS, SHELL, Block, blocks, commands
from ..support.registry_log import REQUEST_LOG_CONFIG, Request, epoch_seconds, read_requests, settled_offset

SHORT = "6s"
"""-t of a run that goes on until its time is up."""
BOUND = "60s"
"""-t of a run that ends by itself (all rollout nodes done, a replay's last record sent)."""
ENDS_BY_ITSELF = ("--rollout", "--replay", "--find-capacity")
TIMEOUT = 180
"""Seconds any one process of an example may take before the test kills it (and fails)."""

NOT_RUN = {
    "make test": "the whole suite (10+ minutes), this test among it",
    "pip install -e .": "installs into the environment running these tests (`make venv` does it for every run)",
    "docker compose up": "needs a Docker engine (tests/system/test_compose.py validates docker-compose.yml)",
    "docker build": "needs a Docker engine and a registry of your own to push the image to",
    "kubectl ": "needs a Kubernetes cluster (tests/unit/test_kubernetes.py checks deploy/kubernetes offline)",
    "locust -f locustfile.py -H https://registry.example.com --registry-username": (
        "a registry with credentials behind a private CA (tests/system/test_auth_runs.py runs these options "
        "against local TLS registries with Basic and token auth)"
    ),
}
"""Examples that do not run here, by the start of their command, and why."""

HOSTS = {
    "http://127.0.0.1:5000": "registry",
    "http://registry:5000": "registry",
    "https://registry.example.com": "registry",
    "http://old:5000": "registry",
    "http://new:5000": "second",
}
"""Registry URLs in the examples -> the test's registry ("registry"), or a second one ("second")."""

PLACEHOLDERS = {("<master", "address>"): ("127.0.0.1",)}
"""Placeholders (as the words sh would split them into) -> what they stand for here."""


@dataclass(frozen=True)
class Scaled:
    flag: str
    value: str
    here: str
    reason: str


SCALED = (
    Scaled("--rollout", "2000@60s", "20@2s", "20 nodes over 2 s make the same storm, and the run still ends by itself"),
    Scaled("--populate", "500x20", "20x5", "10,000 tags take minutes to write here; 100 go the same way"),
    Scaled("--expect-workers", "8", "2", "2 worker processes stand for 8 machines on this 2-vCPU one"),
    Scaled("--processes", "4", "2", "4 workers and a master on 2 vCPU, one of them busy, miss Locust's heartbeats"),
)
"""Values smaller here than in the example, and why."""
ADDED = {"--find-capacity": (("--capacity-step-time", "2"), "steps of 2 s, where the default is 30 s each")}
"""Options given to an example that leaves them at a default too long for a test, and why."""


def example_id(example: Example) -> str:
    return f"{example.where} {example.name[:90]}"


@dataclass
class Example:
    """One example to run: a command (a `--master` one with its `--worker` line), with the exports before it."""

    where: str
    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    worker: tuple[str, ...] | None = None
    block: Block | None = None
    same_as: str | None = None
    """Where the same example was found first (and runs), when this one repeats it."""

    @property
    def identity(self) -> tuple[object, ...]:
        """What makes two examples the same: the command, its exports and worker line; a file's text."""
        if self.argv[0] == "locust" and self.block is not None and self.block.lang not in SHELL:
            return ("file", self.block.lang, self.block.text)
        return (self.argv, tuple(sorted(self.env.items())), self.worker)


def shell_examples() -> list[Example]:
    found: list[Example] = []
    for doc in DOCS:
        for block in blocks(doc):
            if block.lang not in SHELL:
                continue
            env: dict[str, str] = {}
            for command in commands(block):
                if command.argv[0] == "export":  # for the commands after it, as in the shell
                    for assignment in command.argv[1:]:
                        name, _, value = assignment.partition("=")
                        env[name] = value
                elif "--worker" in command.argv:
                    assert found and "--master" in found[-1].argv, f"{command.where}: a --worker line after no --master"
                    found[-1].worker = command.argv
                else:
                    found.append(Example(command.where, command.name, command.argv, dict(env), block=block))
    return found


def named_file(block: Block) -> str | None:
    """The file a YAML block shows, when its first line names it (`# scenario.yaml: ...`)."""
    named = re.match(r"# (\S+\.ya?ml):", block.text)
    return named.group(1) if block.lang == "yaml" and named else None


def names_file(argv: tuple[str, ...] | list[str], name: str) -> bool:
    return any(word in (name, f"./{name}") or word.endswith(f"=./{name}") for word in argv)


def files_read(block: Block, argv: tuple[str, ...] | list[str]) -> list[Block]:
    """The YAML blocks of the block's page that show a file this command reads (by its name)."""
    return [shown for shown in blocks(block.doc) if (name := named_file(shown)) and names_file(argv, name)]


def read_by_an_example(block: Block) -> bool:
    """Whether a YAML block is a file a shell example on its page reads (it does not run as a scenario)."""
    name = named_file(block)
    shell = [command for shown in blocks(block.doc) if shown.lang in SHELL for command in commands(shown)]
    return name is not None and any(names_file(command.argv, name) for command in shell)


def file_examples() -> list[Example]:
    """The README's locustfile (python) and scenario file (yaml): each runs through `locust` as a user would."""
    found = []
    for doc in DOCS:
        for block in blocks(doc):
            run = ("locust", "-H", "http://127.0.0.1:5000", "--headless", "-t", "1m")
            named = named_file(block)
            if block.lang == "python" and "RegistryUser" in block.text:
                user = block.text.split("\nclass ")[1].split(":")[0]
                argv: tuple[str, ...] = (*run, "-f", "example_locustfile.py", "-u", "2")
                found.append(Example(block.where, f"a locustfile: {user}", argv, block=block))
            elif named and not read_by_an_example(block):
                argv = (*run, "-f", "locustfile.py", "-u", "4", "--scenario", named)
                found.append(Example(block.where, f"a scenario file: {named}", argv, block=block))
    return found


def not_run_reason(example: Example) -> str | None:
    return next((reason for start, reason in NOT_RUN.items() if example.name.startswith(start)), None)


def first_of_each(examples: list[Example]) -> list[Example]:
    """The examples, each repeat marked with where its first showing is."""
    first: dict[tuple[object, ...], str] = {}
    for example in examples:
        example.same_as = first.setdefault(example.identity, example.where)
        if example.same_as == example.where:
            example.same_as = None
    return examples


EXAMPLES = first_of_each(shell_examples() + file_examples())


def test_every_shell_example_is_found_and_every_name_in_the_lists_is_one() -> None:
    names = [example.name for example in EXAMPLES]
    assert any(name.startswith("locust ") for name in names) and any(name.startswith("make run") for name in names)
    for start in NOT_RUN:
        assert any(name.startswith(start) for name in names), f"NOT_RUN names no example: {start!r}"
    for scaled in SCALED:
        found = any(value_of(example.argv, scaled.flag) == scaled.value for example in EXAMPLES)
        assert found, f"SCALED names no example: {scaled}"
    for flag in ADDED:
        assert any(flag in example.argv for example in EXAMPLES), f"ADDED names no example: {flag}"


# --- running an example ----------------------------------------------------------------------------------------


@dataclass
class Ran:
    words: list[str]
    """The command as it ran (adapted)."""
    returncode: int
    output: str
    """Everything its processes printed."""
    requests: list[Request]
    """What the registry answered during the run, from its own log."""
    directory: Path

    def file(self, flag: str) -> Path:
        value = value_of(self.words, flag)
        assert value is not None, f"{flag} not in {self.words}"
        return self.directory / value


def value_of(argv: tuple[str, ...] | list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None


def replaced(argv: list[str], flag: str, value: str) -> list[str]:
    """argv with `flag value`, replacing the flag's value when it is there, else appended."""
    if flag in argv:
        index = argv.index(flag)
        return [*argv[: index + 1], value, *argv[index + 2 :]]
    return [*argv, flag, value]


def adapted(argv: tuple[str, ...], urls: dict[str, str]) -> list[str]:
    """The example's words with the test's registry, placeholders filled, -t shortened and SCALED applied."""
    words = list(argv)
    for placeholder, meant in PLACEHOLDERS.items():
        for index in reversed(range(len(words) - len(placeholder) + 1)):
            if tuple(words[index : index + len(placeholder)]) == placeholder:
                words[index : index + len(placeholder)] = meant
    for index, word in enumerate(words):
        if index and words[index - 1] in ("-H", "--host"):
            assert word in HOSTS, f"a registry URL the test does not know: {word} (add it to HOSTS)"
            words[index] = urls[HOSTS[word]]
    for flag, ((option, value), _) in ADDED.items():
        if flag in words and option not in words:
            words += [option, value]
    for scaled in SCALED:
        if value_of(words, scaled.flag) == scaled.value:
            words = replaced(words, scaled.flag, scaled.here)
    if "-t" in words:
        words = replaced(words, "-t", BOUND if any(flag in words for flag in ENDS_BY_ITSELF) else SHORT)
    return words


def program(words: list[str]) -> list[str]:
    """The words as a process: `locust` and `python` from the environment running the tests."""
    if words[0] == "locust":
        return [sys.executable, "-m", "locust", *words[1:]]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    return words


def start(words: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process in a session of its own (so that it and any child it forks can be stopped together)."""
    with open(log, "wb") as output:
        return subprocess.Popen(program(words), cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def finish(processes: list[subprocess.Popen[bytes]], timeout: float = TIMEOUT) -> list[int]:
    """The exit codes of an example's processes once all have ended; a worker that fails while its master runs on
    (waiting for it) fails the example at once."""
    deadline = time.monotonic() + timeout
    while any(process.poll() is None for process in processes):
        failed = [process.returncode for process in processes[1:] if process.returncode not in (None, 0)]
        assert not failed, f"a worker exited with {failed} while its master ran on"
        assert time.monotonic() < deadline, f"{processes[0].args!r} did not end within {timeout} s"
        time.sleep(0.2)
    return [process.returncode for process in processes]


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def environment(exports: dict[str, str]) -> dict[str, str]:
    """A user's shell: no LOCUST_* variable but the example's own exports."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOCUST_")}
    return {**env, **exports}


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.3)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - the run's own loopback web UI
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def run_example(example: Example, directory: Path, urls: dict[str, str], logs: list[Path]) -> Ran:
    words = adapted(example.argv, urls)
    env = environment(example.env)
    cwd = directory
    if words[0] == "make":
        cwd = ROOT  # the Makefile's paths are the repository's; its registry state and time come from the test
        words += [f"RUN_TIME={SHORT}", f"RUN_DIR={directory / 'registry-state'}"]
    elif words[0] == "locust" and "--worker" not in words:
        if "--csv" not in words:
            words += ["--csv", "readme-check"]
        if "--summary-file" not in words:
            words += ["--summary-file", "readme-summary.json"]
    web = words[0] == "locust" and "--headless" not in words
    if web:
        port = free_port()
        words += ["--web-host", "127.0.0.1", "--web-port", str(port), "--autostart", "--autoquit", "1"]
        words = replaced(words, "-t", SHORT)
    master_port = free_port()
    if "--master" in words:
        words += ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)]
    begin = [settled_offset(log) for log in logs]
    processes = [start(words, cwd, env, directory / "output.txt")]
    try:
        if example.worker is not None:
            worker = [*adapted(example.worker, urls), "--master-port", str(master_port)]
            count = int(value_of(words, "--expect-workers") or 1)
            processes += [start(worker, cwd, env, directory / f"output-worker-{n}.txt") for n in range(count)]
        if web:
            wait_until(lambda: answers(f"http://127.0.0.1:{port}/registry"), 60, "the web UI's Registry data")
        codes = finish(processes)
    except AssertionError as error:
        raise AssertionError(f"{error}:\n{outputs(directory)[-4000:]}") from None
    finally:
        stop_all(processes)
    output = outputs(directory)
    failed_workers = [code for code in codes[1:] if code != 0]
    assert not failed_workers, f"a worker exited with {failed_workers}:\n{output[-4000:]}"
    requests = [request for log, at in zip(logs, begin, strict=True) for request in
                read_requests(log, at, settled_offset(log))]  # fmt: skip
    return Ran(words, codes[0], output, requests, directory)


def outputs(directory: Path) -> str:
    """What the example's processes printed, the first (the master) first."""
    return "\n".join(path.read_text(errors="replace") for path in sorted(directory.glob("output*.txt")))


# --- what each example must show -------------------------------------------------------------------------------


def aggregated(csv_prefix: Path) -> dict[str, str]:
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")


def check_locust_run(ran: Ran) -> None:
    """Exit 0 (3 exactly when a gate was breached), requests made, none failed (but in a capacity search's steps
    that breached its SLO: the search looks for that rate), no traceback."""
    summary_path = ran.file("--summary-file")
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    gates_hold = summary.get("gates_passed", True)
    expected = 0 if gates_hold else 3
    assert ran.returncode == expected, f"exit {ran.returncode}, expected {expected}:\n{ran.output[-4000:]}"
    assert "Traceback" not in ran.output, ran.output[-4000:]
    if not gates_hold:  # a breached gate says what it measured
        assert "gate breached: --check-" in ran.output, ran.output[-4000:]
    totals = aggregated(ran.file("--csv"))
    assert int(totals["Request Count"]) > 0, "no requests were made"
    if "--find-capacity" in ran.words:
        steps = summary["capacity"]["steps"]
        assert summary["capacity"]["found"] and any(step["verdict"] == "held" for step in steps), steps
        assert all(step["fail_ratio"] == 0 for step in steps if step["verdict"] == "held"), steps
    else:
        assert totals["Failure Count"] == "0", (totals, ran.output[-4000:])
    assert ran.requests, "the registry's log shows no request of the run"


def check_make_run(ran: Ran) -> None:
    assert ran.returncode == 0, ran.output[-4000:]
    assert re.search(r"registry at https?://127\.0\.0\.1:\d+", ran.output), ran.output[-4000:]
    total = re.findall(r"^\s*Aggregated\s+(\d+)\s+(\d+)\(", ran.output, re.M)
    assert total, ran.output[-4000:]
    requests, failures = map(int, total[-1])
    assert requests > 0 and failures == 0, total[-1]
    assert (ROOT / "reports" / "run.html").exists()


def blob_size(url: str, repository: str, digest: str) -> int:
    request = urllib.request.Request(f"{url}/v2/{repository}/blobs/{digest}", method="HEAD")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test's loopback registry
        return int(response.headers["Content-Length"])


def check_chunks(ran: Ran, url: str, chunk: int) -> None:
    """Each pushed blob went up in PATCHes of `chunk` bytes: as many as its size needs (the registry's log)."""
    patches: Counter[str] = Counter()
    finished: dict[str, tuple[str, str]] = {}
    for request in ran.requests:
        if "/blobs/uploads/" not in request.path or "/push-" not in request.path:
            continue
        if request.method == "PATCH" and request.status == 202:
            patches[request.path] += 1
        elif request.method == "PUT" and request.status == 201:
            repository = request.path.removeprefix("/v2/").split("/blobs/uploads/")[0]
            finished[request.path] = (repository, request.query["digest"])
    assert finished, "no blob upload was finished"
    wanted = {path: max(1, math.ceil(blob_size(url, *blob) / chunk)) for path, blob in finished.items()}
    assert {path: patches[path] for path in finished} == wanted
    assert max(wanted.values()) > 1  # a layer larger than a chunk went up in several


def check_sent_as(ran: Ran, profile: ClientProfile) -> None:
    """The users sent as the profile file says (its User-Agent; seeding sends as minimal)."""
    agents = Counter(request.user_agent for request in ran.requests)
    assert agents[profile.user_agent] > 0, agents


def check_nothing_written(ran: Ran) -> None:
    written = [str(request) for request in ran.requests if request.method not in ("GET", "HEAD")]
    assert not written, written[:10]


def check_replay(ran: Ran, scale: int, in_window: int | None) -> None:
    """Every replayable record (in the window) was replayed, `scale` times, and none failed."""
    figures = json.loads(ran.file("--summary-file").read_text())["replay"]
    assert figures["replayed"] > 0
    assert figures["replayed"] == scale * figures["replayable"], figures
    assert all(kind["failed"] == 0 for kind in figures["kinds"].values()), figures
    if in_window is not None:  # what the window holds: the trace but its first record, an hour before the rest
        assert figures["records_read"] == in_window, figures


# --- what an example reads, made first -------------------------------------------------------------------------


def logged_time(line: str) -> float:
    """When a registry text log line says its request completed (epoch seconds)."""
    found = re.search(r'time="([^"]+)"', line)
    assert found, line
    return epoch_seconds(found[1])


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def registry_log_of_an_hour(path: Path, registry_binary: str) -> int:
    """A registry:2 text log as production writes it, of real requests: a CI job pushes an image and two nodes pull
    another one, timed as if they came an hour after the log began with one manifest GET, so that
    `--replay-window 3600:7200` holds all but that first record (returns how many it holds). The push goes to a
    repository of its own: distribution 2.8 answers a manifest GET racing a PUT of that manifest with 500 (see
    "Users and tasks" in the README), and the clients' copies (`--replay-clients-scale`) would race so."""
    text_log = {"log": {"level": "info", "formatter": "text"}}
    with start_registry(binary=registry_binary, extra_config=text_log) as source:
        client = RegistryClient(source.url, Recorder())
        base = synthetic_image("2x256KiB", seed=7)
        push_image(client, "team/base", "v1", base)
        begin = settled_offset(source.log_path)
        push_image(client, "team/app", "v1", synthetic_image("1x512KiB", seed=8))
        for _ in range(2):
            client.get_manifest("team/base", "v1")
            for blob in base.blobs:
                client.get_blob("team/base", blob.digest)
        client.close()
        text = source.log_path.read_bytes()[begin:].decode()  # an offset in bytes: durations say "µs"
    lines = [line for line in text.splitlines() if "response completed" in line]
    manifest_get = next(line for line in lines if "http.request.method=GET" in line and "/manifests/" in line)
    hour_before = logged_time(lines[0]) - 3601.0
    early = re.sub(r'time="[^"]+"', f'time="{stamp(hour_before)}"', manifest_get)
    path.write_text("\n".join([early, *lines]) + "\n")
    return len(lines)


def short_run(directory: Path, url: str, *args: str) -> None:
    """A short headless run of the README's locustfile that an example's input comes from."""
    command = [sys.executable, "-m", "locust", "-f", "locustfile.py", "-H", url, "--headless", "-u", "2", "-t", "3s",
               *args]  # fmt: skip
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def images_to_pull(argv: list[str], url: str) -> dict[str, str]:
    """Push an image to each `--pull-image` target; a `repo@sha256:...` placeholder gets the pushed digest."""
    filled = {}
    client = RegistryClient(url, Recorder())
    try:
        targets = [value for flag, value in zip(argv, argv[1:], strict=False) if flag == "--pull-image"]
        for number, reference in enumerate(targets):
            image = synthetic_image("2x128KiB", seed=100 + number)
            repository, _, tag = reference.partition("@")[0].partition(":")
            push_image(client, repository, tag or "readme", image)
            if "@" in reference:
                filled[reference] = f"{repository}@{image.tagged.digest}"
    finally:
        client.close()
    return filled


# --- the test --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logged_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    """The examples' registry, logging every request (JSON) so that a run is judged from what the registry saw."""
    with start_registry(binary=registry_binary, extra_config=REQUEST_LOG_CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def second_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    with start_registry(binary=registry_binary, extra_config=REQUEST_LOG_CONFIG) as running:
        yield running


def workdir(tmp_path: Path) -> Path:
    """What a user's checkout offers the commands (they run from the repository's root)."""
    for name in ("locustfile.py", "examples", "fixtures"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_the_example_runs_and_does_what_it_says(
    example: Example, logged_registry: LocalRegistry, second_registry: LocalRegistry, registry_binary: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    reason = not_run_reason(example)
    if reason is not None:
        pytest.skip(f"not run here: {reason}")
    if example.same_as is not None:
        pytest.skip(f"the same example as {example.same_as}, which runs")
    url = logged_registry.url
    urls = {"registry": url, "second": second_registry.url}
    directory = workdir(tmp_path)
    argv = list(example.argv)
    in_window = None
    if example.block is not None and example.block.lang == "python":
        (directory / "example_locustfile.py").write_text(example.block.text)
    if example.block is not None and example.block.lang == "yaml":
        (directory / argv[-1]).write_text(example.block.text)
    if example.block is not None and example.block.lang in SHELL:
        for shown in files_read(example.block, argv):
            (directory / str(named_file(shown))).write_text(shown.text)
    if "prod-registry.log" in argv:
        in_window = registry_log_of_an_hour(directory / "prod-registry.log", registry_binary)
    if value_of(argv, "--replay") == "run.jsonl":
        short_run(directory, url, "--record", "run.jsonl", "--repository-prefix", "readme/recorded")
    if "audit" in argv and "pushed.jsonl" in argv:
        short_run(directory, url, "--tags", "image-push", "--pushed-log", "pushed.jsonl")
    for reference, filled in images_to_pull(argv, url).items():
        argv = [filled if word == reference else word for word in argv]
    example = Example(example.where, example.name, tuple(argv), example.env, example.worker, example.block)

    ran = run_example(example, directory, urls, [logged_registry.log_path, second_registry.log_path])

    if argv[0] == "make":
        check_make_run(ran)
    elif argv[:3] == ["python", "-m", "registry_tasks"] and argv[3] == "audit":
        assert ran.returncode == 0, ran.output[-4000:]
        verified = re.search(r"^(\d+)/(\d+) images verified$", ran.output, re.M)
        assert verified and verified[1] == verified[2] and int(verified[1]) > 0, ran.output[-4000:]
    elif argv[:3] == ["python", "-m", "registry_tasks"] and argv[3] == "options":
        assert ran.returncode == 0, ran.output[-4000:]
        for option in OPTIONS:
            assert (f"--{option.name}" if option.cli else f"{option.name}:") in ran.output, option.name
    else:
        assert argv[0] == "locust", f"{example.where}: the test does not know how to judge {argv[0]!r}"
        check_locust_run(ran)
        if (chunk_size := value_of(argv, "--chunk-size")) is not None:  # pushes in chunks of that size
            check_chunks(ran, url, parse_size(chunk_size)[0])
        if "--pull-image" in argv:
            check_nothing_written(ran)
        if (profile := value_of(argv, "--client-profile")) and is_profile_file(profile):
            check_sent_as(ran, read_profile(directory / profile)[0])
        if "--replay" in argv:
            check_replay(ran, int(value_of(argv, "--replay-clients-scale") or 1), in_window)
        if "--rollout" in argv:
            for line in re.findall(r"^rollout(?: update)?: (\d+) of (\d+) nodes pulled \((\d+) failed\)", ran.output,
                                   re.M):  # fmt: skip
                assert line[0] == line[1] and line[2] == "0", line
            assert ran.output.count(" nodes pulled (") == (2 if "--rollout-update" in argv else 1), ran.output[-3000:]
        if "--find-capacity" in argv:
            assert re.search(r"^capacity: manifest-get holds [\d.]+/s", ran.output, re.M), ran.output[-3000:]
