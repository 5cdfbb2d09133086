"""Listeners a user would add beside the shipped locustfile (`-f locustfile.py,<this file>`): Locust's own
per-request CSV logger (`locust.contrib.csv_request_logger`, which reads `start_time`) to $REQUEST_CSV, and one
JSON line per request event with its `url`, `start_time` and `context` to $REQUEST_EVENTS."""

from __future__ import annotations

import json
import os
from typing import Any

from locust import events
from locust.contrib.csv_request_logger import CsvRequestLogger

logger = CsvRequestLogger(os.environ["REQUEST_CSV"])
lines = open(os.environ["REQUEST_EVENTS"], "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run


@events.init.add_listener
def _register(environment: Any, **_: Any) -> None:
    logger.register(environment)


@events.request.add_listener
def _record(name: str, request_type: str, start_time: float | None = None, url: str | None = None,
            context: dict[str, Any] | None = None, response_time: float = 0.0, **_: Any) -> None:  # fmt: skip
    record = {"name": name, "type": request_type, "url": url, "start_time": start_time, "context": context or {},
              "response_time": response_time}  # fmt: skip
    lines.write(json.dumps(record, default=str) + "\n")
    lines.flush()
