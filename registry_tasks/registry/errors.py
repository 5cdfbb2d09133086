"""What can go wrong talking to a registry, as messages that group: registry error codes, never names or sizes."""

from __future__ import annotations

import json
import logging
import time
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

log = logging.getLogger(__name__)

TRUNCATED = "body ended before its Content-Length"  # no sizes: failures group by message
MAX_RETRY_AFTER = 300.0
"""Longest back-off we accept from a Retry-After (seconds): a bogus header must not park a user for hours."""


class RequestFailed(Exception):
    """A call that has already been reported as a failure; workflows stop on it and report nothing more.

    `status` is the HTTP status that failed it, if any (a 416 on a chunk is worth a resume)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RegistryError(Exception):
    """The registry answered with an unexpected status (or bytes we cannot use); the message carries its
    error codes. `retry_after` is the back-off in seconds the registry asked for, if it did."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class DigestMismatch(Exception):
    """Bytes received do not hash to the digest asked for or announced."""


class Failure(Exception):
    """What a failed request is reported as: Locust's stats, failures CSV, web UI and report print an exception's
    repr, so this one's repr is its message (`blob bytes do not match their digest`, not
    `DigestMismatch('blob bytes do not match their digest')`). `cause` keeps the exception it stands for."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause

    def __repr__(self) -> str:
        return str(self)


def error_message(status: int, body: bytes) -> str:
    """`404 MANIFEST_UNKNOWN: manifest unknown`; the registry's detail (names, digests) stays out."""
    try:
        errors = json.loads(body).get("errors")
        parts = [f"{e.get('code', 'UNKNOWN')}: {e.get('message', '')}".rstrip(": ") for e in errors]
        if parts:
            return f"{status} {'; '.join(parts)}"
    except (ValueError, AttributeError, TypeError):
        pass
    if status == 429:  # the spec's code, so that every registry's throttling groups under one message
        return "429 TOOMANYREQUESTS"
    text = body[:120].decode("utf-8", "replace").strip().replace("\n", " ")
    if not text or text.startswith("<"):  # no body, or a proxy's HTML error page: the status says it better
        try:
            return f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            return f"{status} (no error body)"
    return f"{status} {text}"


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def log_request(**kwargs: Any) -> None:
    """A `fire` for work that must not count in the load statistics (seeding, cleanup look-ups, audits)."""
    if kwargs.get("exception"):
        log.warning("%s %s failed: %s", kwargs.get("request_type"), kwargs.get("name"), kwargs["exception"])
    else:
        log.debug("%s %s %.1f ms", kwargs.get("request_type"), kwargs.get("name"), kwargs.get("response_time", 0))
