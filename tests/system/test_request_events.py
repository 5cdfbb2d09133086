"""Our request events are Locust's: `start_time` (epoch seconds, when the request or operation began), `url`
(the request's, without credentials) and `context`, so a user's usual listeners work on our entries. Judged with
Locust's own per-request CSV logger and a plain listener, beside the shipped locustfile."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry_tasks.tools.local_registry import LocalRegistry

from ..support.helpers import ROOT

pytest.importorskip("locust.contrib.csv_request_logger", reason="Locust's per-request CSV logger came after 2.32")
LISTENER = ROOT / "tests" / "support" / "request_events_listener.py"


def test_a_users_request_listeners_get_start_time_and_url(registry: LocalRegistry, tmp_path: Path) -> None:
    env = {**os.environ, "REQUEST_CSV": str(tmp_path / "requests.csv"), "REQUEST_EVENTS": str(tmp_path / "events")}
    host = registry.url.replace("http://", "http://someone:secret@")  # credentials in the URL never show
    command = [
        sys.executable, "-m", "locust", "-f", f"{ROOT / 'locustfile.py'},{LISTENER}", "--headless",
        "-H", host, "-u", "2", "-r", "2", "-t", "3s", "--synthetic-images", "1x64KiB",
        "--repository-prefix", "events/run",
    ]  # fmt: skip
    began = time.time()
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    ended = time.time()
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in (tmp_path / "events").read_text().splitlines()]
    ours = [event for event in events if event["name"] in ("manifest-get", "blob-get", "image-pull", "manifest-put")]
    assert {event["name"] for event in ours} == {"manifest-get", "blob-get", "image-pull", "manifest-put"}
    for event in ours:
        assert began < event["start_time"] < ended, event
        assert event["start_time"] + event["response_time"] / 1000 <= ended, event
        first = f"{registry.url}/v2/" if event["name"] == "image-pull" else f"{registry.url}/v2/events/run/"
        assert event["url"].startswith(first), event  # an operation's: its first request's (a ping)
        assert "secret" not in json.dumps(event), event
        assert event["context"]["repository"].startswith("events/run"), event
    manifest_gets = [event for event in ours if event["name"] == "manifest-get"]
    assert all("/manifests/" in event["url"] for event in manifest_gets)
    with open(tmp_path / "requests.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["name"] in ("manifest-get", "blob-get")]
    assert rows and all(began < float(row["timestamp"]) < ended for row in rows)
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {"manifest-get", "blob-get"}
    assert "secret" not in (tmp_path / "requests.csv").read_text() + result.stderr
