"""Bad input through real `locust` runs, as a user would meet it: hostile or broken fixtures, bad scenario files,
bad options. Each stops Locust before any load with ONE error line naming the input, a non-zero exit, no
traceback, and nothing written anywhere (the run's directory is unchanged)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..support import fixture_builders as fb
from ..support.broken_fixtures import BROKEN, LEGACY
from ..support.helpers import run_locust, snapshot

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
