"""Seeding as a worker that is not the seeder sees it: it polls (HEAD) until worker 0's images are there, and gives
up after --request-timeout seconds per image, naming each repository it did not find. A small in-test server plays
the registry; the timeout is a real, small one (no clock is patched)."""

from __future__ import annotations

import http.server
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from registry_tasks.config import settings_from
from registry_tasks.image import Image
from registry_tasks.plugin.run.seeding import SEED_POLL_SECONDS, await_seed
from registry_tasks.plugin.run.state import RegistryRun
from registry_tasks.registry.client import RegistryClient
from registry_tasks.sources import synthetic_image

from ..support.helpers import Recorder, options, serve

Answer = Callable[[str, int], tuple[int, dict[str, str]]]
"""(path, how many HEADs of this path came before) -> (status, headers) of a HEAD manifests answer."""


def registry_answering(answer: Answer) -> tuple[type[http.server.BaseHTTPRequestHandler], list[tuple[str, str]]]:
    """A handler class answering HEAD manifests with `answer`, and every other request with 405; and the list of
    (method, path) it saw."""
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    class Registry(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            with lock:
                before = seen.count(("HEAD", self.path))
                seen.append(("HEAD", self.path))
            status, headers = answer(self.path, before) if "/manifests/" in self.path else (405, {})
            self.send_response(status)
            for name, value in {"Content-Length": "0", **headers}.items():
                self.send_header(name, value)
            self.end_headers()

        def refuse(self) -> None:
            with lock:
                seen.append((self.command, self.path))
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = refuse

    return Registry, seen


def timed_await_seed(handler: type[http.server.BaseHTTPRequestHandler], run: RegistryRun, recorder: Recorder) -> float:
    """Run await_seed against a server of `handler`; the seconds it took."""
    with serve(handler) as url:
        client = RegistryClient(url, recorder)
        started = time.monotonic()
        await_seed(client, run)
        took = time.monotonic() - started
        client.close()
    return took


def never_seeded(path: str, before: int) -> tuple[int, dict[str, str]]:
    return 404, {"Content-Type": "application/json"}


@pytest.fixture
def images() -> list[Image]:
    return [synthetic_image("1x1KiB", 1), synthetic_image("1x2KiB", 1)]


@pytest.fixture
def run(images: list[Image]) -> RegistryRun:
    """Two images, and a --request-timeout of 1 s: await_seed's deadline is 1 s per image."""
    return RegistryRun(settings_from(options(request_timeout="1")), images)


@pytest.fixture
def seeding_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """What seeding logs during the test, from INFO up."""
    caplog.set_level(logging.INFO, logger="registry_tasks.plugin.seeding")
    return caplog


def test_await_seed_gives_up_after_request_timeout_per_image_and_names_each_repository(
    run: RegistryRun, images: list[Image], recorder: Recorder, seeding_log: pytest.LogCaptureFixture
) -> None:
    handler, seen = registry_answering(never_seeded)
    took = timed_await_seed(handler, run, recorder)
    deadline = run.settings.request_timeout * len(images)
    assert deadline == 2
    assert deadline <= took < deadline + SEED_POLL_SECONDS + 0.5  # not 1 s (one image's), nor polling on
    errors = [record for record in seeding_log.records if record.levelno >= logging.ERROR]
    repositories = [name for image in images for name in (run.seed_repository(image), run.tag_repository(image))]
    assert [record.getMessage() for record in errors] == [
        f"{repository}:latest was not seeded by worker 0 in time; going on without it" for repository in repositories
    ]
    assert all(record.created - errors[0].created < 0.5 for record in errors)  # given up on all at the deadline
    assert {method for method, _ in seen} == {"HEAD"}  # a waiting worker uploads nothing
    assert {path for _, path in seen} == {f"/v2/{repository}/manifests/latest" for repository in repositories}
    polls = [path for _, path in seen if path == f"/v2/{repositories[0]}/manifests/latest"]
    assert deadline / SEED_POLL_SECONDS <= len(polls) <= deadline / SEED_POLL_SECONDS + 2
    assert recorder.failures() == []  # 404 is an answer, not a failure
    assert {event["name"] for event in recorder.events} == {"manifest-head"}


def test_await_seed_goes_on_as_soon_as_the_images_are_there(
    run: RegistryRun, images: list[Image], recorder: Recorder, seeding_log: pytest.LogCaptureFixture
) -> None:
    """Worker 0 finishes the first image's repository after 2 polls; everything else is there already."""
    digests = {  # in the order await_seed asks
        f"/v2/{repository}/manifests/latest": image.tagged.digest
        for image in images
        for repository in (run.seed_repository(image), run.tag_repository(image))
    }
    first = next(iter(digests))

    def seeded_after_two_polls(path: str, before: int) -> tuple[int, dict[str, str]]:
        if path == first and before < 2:
            return 404, {}
        return 200, {"Docker-Content-Digest": digests[path]}

    handler, seen = registry_answering(seeded_after_two_polls)
    took = timed_await_seed(handler, run, recorder)
    assert 2 * SEED_POLL_SECONDS <= took < 2 * SEED_POLL_SECONDS + 0.5
    assert [record for record in seeding_log.records if record.levelno >= logging.WARNING] == []
    assert [path for _, path in seen] == [first] * 3 + list(digests)[1:]
    assert recorder.failures() == []
