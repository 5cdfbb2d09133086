"""Bad input through real `locust` runs, as a user would meet it: hostile or broken fixtures, bad scenario files,
bad options. Each stops Locust before any load with ONE error line naming the input, a non-zero exit, no
traceback, and nothing written anywhere (the run's directory is unchanged)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry_tasks.registry.profiles import BUILT_IN_DIR
from registry_tasks.tools.local_registry import LocalRegistry, free_port, start_registry

from ..support import fixture_builders as fb
from ..support.broken_fixtures import BROKEN, LEGACY
from ..support.helpers import locust_command, run_locust, snapshot
from ..support.registry_log import REQUEST_LOG_CONFIG, capture

DEAD_REGISTRY = "http://127.0.0.1:9"  # nothing may be sent anywhere: the run must stop before


@dataclass(frozen=True)
class BadInput:
    """Writes its input under the run's directory and returns the extra locust arguments and the expected
    error (a regex; `{dir}` is the run's directory)."""

    make: Callable[[Path], list[str]]
    error: str


def broken_fixture(key: str) -> BadInput:
    """A case of the table of broken fixtures (tests/support/broken_fixtures.py), dropped into a --fixtures-dir."""
    case = BROKEN[key]

    def make(tmp: Path) -> list[str]:
        (tmp / "fixtures").mkdir()
        case.build(tmp / "fixtures")
        return ["--fixtures-dir", str(tmp / "fixtures")]

    return BadInput(make, r"\{dir\}/fixtures/(broken\.tar|layout)\b.*" + case.pattern)


def cut_tar(tmp: Path) -> list[str]:
    """A tarball cut short in the middle of a member's header."""
    (tmp / "fixtures").mkdir()
    whole = fb.write_tar(tmp / "whole.tar", LEGACY.entries).read_bytes()
    (tmp / "whole.tar").unlink()
    (tmp / "fixtures" / "cut.tar").write_bytes(whole[:1500])
    return ["--fixtures-dir", str(tmp / "fixtures")]


def scenario(text: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        (tmp / "scenario.yaml").write_text(text)
        return ["--scenario", str(tmp / "scenario.yaml")]

    return make


def written(name: str, content: str, option: str) -> Callable[[Path], list[str]]:
    """A file of `content` under the run's directory, given to `option`."""

    def make(tmp: Path) -> list[str]:
        (tmp / name).write_text(content)
        return [option, str(tmp / name)]

    return make


def options(*args: str) -> Callable[[Path], list[str]]:
    return lambda tmp: list(args)


BAD_INPUTS = {
    # fixture tarballs and layouts
    "tar-path-traversal": broken_fixture("dotdot-member"),
    "tar-absolute-path": broken_fixture("absolute-member"),
    "tar-symlink-escapes": broken_fixture("symlink-escapes"),
    "tar-hardlink-escapes": broken_fixture("hardlink-escapes"),
    "tar-device-file": broken_fixture("char-device"),
    "tar-declared-size-beyond-the-file": broken_fixture("truncated-member-data"),
    "tar-truncated-in-a-header": BadInput(cut_tar, r"\{dir\}/fixtures/cut\.tar: not a readable tar after member .*"),
    "tar-missing-manifest-json": broken_fixture("no-manifest-json"),
    "tar-manifest-names-a-missing-layer": broken_fixture("layer-member-missing"),
    "tar-manifest-bad-json": broken_fixture("manifest-json-bad-json"),
    "tar-blob-not-matching-its-digest": broken_fixture("docker25-blob-digest-mismatch"),
    "oci-blob-not-matching-its-digest": broken_fixture("oci-blob-digest-mismatch"),
    # scenario files
    "yaml-wrong-type": BadInput(scenario("chunk-size: [1, 2]\n"), r"scenario \{dir\}/scenario.yaml: key 'chunk-size'"),
    "yaml-unknown-key": BadInput(scenario("chunk_sise: 1MiB\n"), r"scenario \{dir\}/\S+: unknown key 'chunk_sise'"),
    "yaml-negative-chunk-size": BadInput(
        scenario("chunk-size: -1\n"), r"scenario \{dir\}/scenario.yaml: key 'chunk-size': -1 must be more than 0 bytes"
    ),
    "yaml-weights-sum-to-0": BadInput(
        scenario("weights: {manifest-get: 0, image-push: 0}\n"), r"scenario .*: key 'weights': weights sum to 0"
    ),
    "yaml-not-yaml": BadInput(scenario("chunk-size: [1\n"), r"scenario \{dir\}/scenario.yaml: not valid YAML at line"),
    # options
    "host-ftp": BadInput(options("-H", "ftp://x"), r"-H/--host 'ftp://x': expected http:// or https://"),
    "host-not-a-url": BadInput(options("-H", "not a url"), r"-H/--host 'not a url': expected http:// or https://"),
    "unknown-platform": BadInput(options("--platform", "plan9/sparc"), r"--platform: platform 'plan9/sparc': unknown"),
    "chunk-size-0": BadInput(options("--chunk-size", "0"), r"--chunk-size: '0' must be more than 0 bytes"),
    "bad-synthetic-spec": BadInput(options("--synthetic-images", "3xbanana"), r"synthetic spec '3xbanana'"),
    "pushed-log-in-no-directory": BadInput(
        options("--pushed-log", "/nonexistent/pushed.jsonl"), r"--pushed-log: '/nonexistent/pushed.jsonl': its dir"
    ),
    "missing-ca-file": BadInput(options("--registry-ca-file", "no.pem"), r"--registry-ca-file: 'no.pem': no such file"),
    "arrival-unknown-task": BadInput(
        options("--arrival-rate", "manifest-got=5/s"), r"--arrival-rate: unknown task 'manifest-got'"
    ),
    "arrival-rate-0": BadInput(
        options("--arrival-rate", "manifest-get=0/s"), r"--arrival-rate: '0/s': a rate must be more than 0"
    ),
    "arrival-rate-abc": BadInput(
        options("--arrival-rate", "blob-get=abc/s"), r"--arrival-rate: 'abc/s' is not a rate such as 80/s"
    ),
    "slo-without-number": BadInput(
        options("--find-capacity", "manifest-get", "--slo", "p95="), r"--slo: 'p95=' is not p50=MS"
    ),
    "slo-without-search": BadInput(options("--slo", "p95=200"), r"--slo is the SLO of --find-capacity"),
    "search-without-slo": BadInput(options("--find-capacity", "blob-get"), r"--find-capacity needs --slo"),
    "rollout-0": BadInput(options("--rollout", "0"), r"--rollout: '0': a rollout needs at least 1 node"),
    "rollout-and-rates": BadInput(
        options("--rollout", "5", "--arrival-rate", "blob-get=1/s"), r"--arrival-rate and --rollout are sched"
    ),
    "trace-neither-format": BadInput(
        written("junk.txt", "hello world\n", "--replay"),
        r"--replay: trace \{dir\}/junk.txt: neither an IBM trace nor a distribution log",
    ),
    "trace-record-without-method": BadInput(
        written("t.json", '[{"http.request.uri": "v2/a/b/blobs/c", "timestamp": "2017-06-20T02:41:12.624Z"}]',
                "--replay"),
        r"--replay: trace \{dir\}/t.json: record 0: no http.request.method",
    ),
    "trace-bad-timestamp": BadInput(
        written("registry.log", 'time="2026-12-01T10:00:00Z" msg="response completed" http.request.method=GET '
                'http.request.uri="/v2/"\ntime="yesterday" msg="response completed" http.request.method=GET '
                'http.request.uri="/v2/"\n', "--replay"),
        r"--replay: trace \{dir\}/registry.log: line 2: bad time",
    ),
    "replay-speed-0": BadInput(options("--replay-speed", "0"), r"--replay-speed: '0' must be more than 0 \(or max\)"),
    "replay-window-backwards": BadInput(options("--replay-window", "50:10"), r"--replay-window: '50:10': the end"),
    "populate-0x5": BadInput(options("--populate", "0x5"), r"--populate: '0x5': needs at least 1 repository and 1 tag"),
    "popularity-negative": BadInput(
        options("--popularity", "zipf:-1"), r"--popularity: 'zipf:-1': the Zipf exponent must be more than 0"
    ),
    "page-size-0": BadInput(options("--page-size", "0"), r"--page-size: 0 must be 1 or more"),
    "max-in-flight-0": BadInput(options("--max-in-flight", "0"), r"--max-in-flight: 0 must be 1 or more"),
    # client profiles: a name, or a file of one's own
    "client-profile-unknown": BadInput(
        options("--client-profile", "podman"), r"--client-profile: 'podman' is not one of docker, containerd, "
    ),
    "client-profile-file-bad-field": BadInput(
        written("ci.yaml", (BUILT_IN_DIR / "minimal.yaml").read_text().replace("download_parallel: 0",
                "download_parallel: x"), "--client-profile"),
        r"--client-profile: client profile \{dir\}/ci.yaml: field 'download_parallel': expected a whole number >= 0, "
        r"got 'x'",
    ),
    "client-mix-file-unknown-field": BadInput(
        lambda tmp: ["--client-mix", f"docker=1,{written('ci.yaml', 'pings: true', '')(tmp)[1]}=1"],
        r"--client-mix: client profile \{dir\}/ci.yaml: unknown field 'pings' \(fields: checked_against, name, ",
    ),
    # what runs
    "tags-typo": BadInput(
        options("--tags", "manfest-get"),
        r"--tags manfest-get: no task has this tag; valid tags: artifact-push, blob-get, catalog, .*manifest-get",
    ),
    "exclude-tags-typo": BadInput(options("--exclude-tags", "blob_get"), r"--exclude-tags blob_get: no task has"),
    "tags-with-an-open-model": BadInput(
        options("--tags", "blob-get", "--arrival-rate", "blob-get=5/s"), r"--tags and --exclude-tags pick closed-loop"
    ),
    "tags-and-user-weights-leave-nothing": BadInput(
        lambda tmp: [*scenario("user-weights: {pull: 0, push: 1}\n")(tmp), "--tags", "blob-get"],
        r"no user class has a task to run: --tags blob-get picks no task of a class that runs",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_stops_locust_with_one_clear_line(tmp_path: Path, case: BadInput) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    args = case.make(run_dir)
    before = snapshot(tmp_path)
    env = {**os.environ, "HOME": str(tmp_path / "home")}  # a `~` anywhere would land in tmp (and show)
    result = run_locust(run_dir, "-H", DEAD_REGISTRY, "-u", "1", "-t", "5s", *args, timeout=60, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if re.search(r"/(ERROR|CRITICAL)/", line)]
    assert len(errors) == 1, output[-2000:]
    assert re.search(case.error.replace(r"\{dir\}", re.escape(str(run_dir))), errors[0]), errors[0]
    assert snapshot(tmp_path) == before
    assert not Path("/etc/evil").exists()


def test_no_host_stops_a_headless_run_at_once(tmp_path: Path) -> None:
    """Without -H every request would fail as 'unsupported URL' for the whole -t: refused before any load."""
    result = run_locust(tmp_path, "-u", "1", "-t", "60s", timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    errors = [line for line in output.splitlines() if "/ERROR/" in line]
    assert len(errors) == 1 and errors[0].endswith("no registry to load: give its URL with -H/--host, e.g. "
                                                   "-H http://127.0.0.1:5000"), output[-2000:]  # fmt: skip
    assert "Traceback" not in output and "Aggregated" not in output


@pytest.fixture
def logged_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    with start_registry(binary=registry_binary, extra_config=REQUEST_LOG_CONFIG) as running:
        yield running


def test_a_pull_image_that_is_not_there_stops_the_run(logged_registry: LocalRegistry, tmp_path: Path) -> None:
    """One missing target of two: one line naming it and why, exit 1, and the other is not pulled instead."""
    # seeded by a run that ends by itself once it has pulled (a one-node rollout): -t counts seeding, and a busy
    # machine once spent all of a -t 1s run's second seeding (no request made: exit 1, rightly)
    seeded = run_locust(tmp_path, "-H", logged_registry.url, "--rollout", "1", "--synthetic-images", "1x4KiB",
                        "--repository-prefix", "bad/pull")  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    with capture(logged_registry.log_path) as window:
        result = run_locust(
            tmp_path, "-H", logged_registry.url, "-u", "2", "-t", "30s", "--tags", "manifest-get",
            "--pull-image", "bad/pull/synthetic-1x4kib:latest", "--pull-image", "bad/nothing:1",
        )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    errors = [line for line in output.splitlines() if "/ERROR/" in line]
    assert len(errors) == 1, output[-2000:]
    assert "--pull-image: 1 of 2 targets cannot be pulled, no load sent: bad/nothing:1 (404 " in errors[0]
    assert all("/manifests/" in request.uri or request.uri == "/v2/" for request in window.requests), window.requests
    manifests = [request for request in window.requests if "/manifests/" in request.uri]
    assert len(manifests) <= 4, manifests  # each target resolved (a HEAD and a GET at most), no load


def post_form(url: str, fields: dict[str, str]) -> dict[str, object]:
    data = urllib.parse.urlencode(fields).encode()
    return json.loads(urllib.request.urlopen(url, data=data, timeout=30).read())  # noqa: S310 - loopback


def test_the_web_uis_start_form_refuses_a_bad_value(logged_registry: LocalRegistry, tmp_path: Path) -> None:
    """What the start form sends with a bad value is answered `success: false` with the reason (the UI shows
    the message under the form), and nothing starts: the runner stays ready, the registry sees no request."""
    web_port = free_port()
    web = f"http://127.0.0.1:{web_port}"
    command = locust_command("--web-host", "127.0.0.1", "--web-port", str(web_port), "-H", logged_registry.url,
                             "--synthetic-images", "1x4KiB", headless=False)  # fmt: skip
    good = {"user_count": "1", "spawn_rate": "1", "host": logged_registry.url}
    with capture(logged_registry.log_path) as window, open(tmp_path / "ui.log", "wb") as log:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    state = json.loads(urllib.request.urlopen(f"{web}/stats/requests", timeout=5).read())["state"]
                    break
                except OSError:
                    assert time.monotonic() < deadline, (tmp_path / "ui.log").read_text()[-2000:]
                    time.sleep(0.3)
            answers = {
                "chunk_size": post_form(f"{web}/swarm", {**good, "chunk_size": "-5"}),
                "request_timeout": post_form(f"{web}/swarm", {**good, "request_timeout": "soon"}),
                "host": post_form(f"{web}/swarm", {**good, "host": ""}),
                "pull_push_ratio": post_form(f"{web}/swarm", {**good, "pull_push_ratio": "1/1"}),
            }
            state = json.loads(urllib.request.urlopen(f"{web}/stats/requests", timeout=5).read())["state"]
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert state == "ready", state
    assert all(answer["success"] is False for answer in answers.values()), answers
    assert answers["chunk_size"]["message"] == "--chunk-size: '-5' is not a size such as 5MiB, 512KiB or 1048576"
    assert answers["request_timeout"]["message"] == "--request-timeout 'soon': expected int"
    assert str(answers["host"]["message"]).startswith("no registry to load: enter its URL as Host")
    assert str(answers["pull_push_ratio"]["message"]).startswith("the user classes and their weights were chosen")
    assert window.requests == [], window.requests
