"""Headless Locust runs against registries that want auth: zero failures, a `token` entry in token mode,
and neither the password nor any issued token in any file or stream the run wrote."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry_tasks.tools.local_registry import LocalRegistry, free_port, start_registry

from ..support.auth_servers import PASSWORD, USERNAME, LocalCA, htpasswd_config, token_server
from ..support.helpers import locust_command, run_locust, stats

ALL_TASKS = ("manifest-get", "blob-get", "image-pull", "chunked-upload", "manifest-put", "image-push")


def assert_no_secret(tmp_path: Path, streams: list[str], secrets: list[str]) -> None:
    """Every file under tmp_path and every captured stream, searched for every secret."""
    texts = {f"stream {i}": text for i, text in enumerate(streams)}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert len(texts) >= 5  # csv files, html, log, json stdout, stderr
    for secret in secrets:
        leaks = [name for name, text in texts.items() if secret in text]
        assert leaks == [], f"a secret appears in {leaks}"


def headless(tmp_path: Path, registry: LocalRegistry, *extra: str) -> tuple[dict, list[str]]:
    env = {**os.environ, "LOCUST_REGISTRY_PASSWORD": PASSWORD}
    result = run_locust(
        tmp_path,
        "-H", registry.url,
        "-u", "6", "-r", "6", "-t", "6s",
        "--registry-username", USERNAME,
        "--synthetic-images", "2x200KiB",
        "--chunk-size", "64KiB",
        "--unique-layers",
        "--csv", str(tmp_path / "run"),
        "--html", str(tmp_path / "report.html"),
        "--logfile", str(tmp_path / "locust.log"),
        "--loglevel", "DEBUG",
        "--json",
        *extra,
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    table = stats(tmp_path / "run")
    for name in ALL_TASKS[:2] + ALL_TASKS[3:]:
        entry = {"chunked-upload": "upload-chunk"}.get(name, name)
        assert any(key[1] == entry and int(row["Request Count"]) > 0 for key, row in table.items()), entry
    assert all(row["Failure Count"] == "0" for row in table.values()), table
    return table, [result.stdout, result.stderr]


@pytest.fixture
def htpasswd_tls_registry(registry_binary: str, local_ca: LocalCA, tmp_path: Path) -> Iterator[LocalRegistry]:
    config = {**local_ca.tls_config(), **htpasswd_config(tmp_path)}
    with start_registry(binary=registry_binary, extra_config=config) as running:
        yield running


def test_htpasswd_tls_run(htpasswd_tls_registry: LocalRegistry, local_ca: LocalCA, tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    _, streams = headless(output, htpasswd_tls_registry, "--registry-ca-file", str(local_ca.ca_file))
    assert_no_secret(output, streams, [PASSWORD])


def test_token_run(registry_binary: str, local_ca: LocalCA, tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    with (
        token_server(local_ca) as tokens,
        start_registry(binary=registry_binary, extra_config=tokens.registry_config(local_ca)) as registry,
    ):
        table, streams = headless(output, registry)
    (token_row,) = [row for key, row in table.items() if key[1] == "token"]
    fetched = int(token_row["Request Count"])
    assert 0 < fetched <= len(tokens.issued)  # the rest were fetched while seeding, which is not counted
    requests = sum(int(row["Request Count"]) for key, row in table.items() if key[0] not in ("PULL", "PUSH"))
    assert fetched * 3 < requests  # tokens are reused per scope set, not fetched per request
    assert_no_secret(output, streams, [PASSWORD, *(claims["token"] for claims in tokens.issued)])


WEB_PAGES = (
    "/", "/stats/requests", "/stats/report", "/stats/requests/csv", "/stats/failures/csv", "/exceptions",
    "/exceptions/csv", "/tasks", "/logs", "/registry", "/registry/csv",
)  # fmt: skip


def fetch(url: str, data: dict[str, str] | None = None) -> str:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(url, data=body, timeout=10) as answer:  # noqa: S310 - loopback only
        return answer.read().decode("utf-8", "replace")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def answers(url: str) -> bool:
    try:
        fetch(url)
    except OSError:
        return False
    return True


def test_web_ui_pages_show_no_secret(registry_binary: str, local_ca: LocalCA, tmp_path: Path) -> None:
    """A run started from the web UI's form (secret field left blank, as the page now shows it): every page
    of the UI, and every file the run wrote, free of the password and of every token issued."""
    output = tmp_path / "out"
    output.mkdir()
    ui = f"http://127.0.0.1:{free_port()}"
    with (
        token_server(local_ca) as tokens,
        start_registry(binary=registry_binary, extra_config=tokens.registry_config(local_ca)) as registry,
    ):
        command = locust_command(
            "--web-host", "127.0.0.1", "--web-port", ui.rpartition(":")[2],
            "-H", registry.url,
            "--registry-username", USERNAME,
            "--registry-password", PASSWORD,  # on the command line: the form must not need it again
            "--synthetic-images", "2x200KiB",
            "--chunk-size", "64KiB",
            "--csv", str(output / "run"),
            "--logfile", str(output / "locust.log"),
            "--loglevel", "DEBUG",
            headless=False,
        )  # fmt: skip
        with open(output / "stdout", "w") as stdout, open(output / "stderr", "w") as stderr:
            locust = subprocess.Popen(command, cwd=output, stdout=stdout, stderr=stderr)
            try:
                wait_until(lambda: answers(ui), 20, "the web UI")
                pages = [fetch(ui + "/")]
                form = {"user_count": "4", "spawn_rate": "4", "host": registry.url, "run_time": "5s"}
                fetch(ui + "/swarm", {**form, "registry_password": ""})
                wait_until(lambda: json.loads(fetch(ui + "/stats/requests"))["state"] == "stopped", 30, "the run")
                pages += [fetch(ui + page) for page in WEB_PAGES]
            finally:
                locust.terminate()
                locust.wait(timeout=30)
    requests = json.loads(pages[2])
    entries = {entry["name"]: entry for entry in requests["stats"]}
    assert entries["token"]["num_requests"] > 0 and entries["manifest-get"]["num_requests"] > 0
    assert requests["fail_ratio"] == 0, requests["errors"]  # authenticated with the password given at start
    assert_no_secret(output, pages, [PASSWORD, *(claims["token"] for claims in tokens.issued)])
