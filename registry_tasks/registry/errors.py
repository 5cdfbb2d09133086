"""What can go wrong talking to a registry, with the registry's answer kept as structure (status, the spec's error
codes, Retry-After) and reported as messages that group: error codes, never names or sizes. Code decides on the
structure (`status`, `codes`, `temporary`), never on the message."""

from __future__ import annotations

import json
import logging
import time
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

from ..errors import RegistryTasksError

log = logging.getLogger(__name__)

TRUNCATED = "body ended before its Content-Length"  # no sizes: failures group by message
MAX_RETRY_AFTER = 300.0
"""Longest back-off we accept from a Retry-After (seconds): a bogus header must not park a user for hours."""
TEMPORARY_STATUSES = frozenset({408, 429})
"""With every 5xx: the statuses docker, containerd and skopeo try again after."""
LOST_BLOB_CODES = frozenset({"BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"})
"""The spec's codes for a blob the registry does not have (a manifest PUT naming one answers the second)."""


def temporary_status(status: int | None) -> bool:
    """Whether real clients try again after this status: 408, 429 and 5xx."""
    return status is not None and (status in TEMPORARY_STATUSES or 500 <= status <= 599)


def is_temporary(error: BaseException) -> bool:
    """Whether real clients try again after `error`: a temporary status, a corrupt or cut body, or the network
    (refused, reset, timed out), whatever class carries it."""
    return isinstance(error, OSError) or getattr(error, "temporary", False) is True


class RegistryError(RegistryTasksError):
    """A registry's answer we cannot go on with, its structure kept: `status` (None when no answer came whole),
    `codes` (the distribution spec's error codes from its JSON body, e.g. ("BLOB_UNKNOWN",)), `message` (what is
    reported: it groups, no names or sizes) and `retry_after` (the back-off in seconds it asked for, if any).
    `network`: the answer never came whole (a timeout, a cut body, bytes that are not HTTP)."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        codes: tuple[str, ...] = (),
        network: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.codes = tuple(codes)
        self.network = network

    @classmethod
    def of_answer(cls, status: int, body: bytes, retry_after: str | None = None) -> RegistryError:
        """The error an unexpected answer stands for: message and codes from its body, its Retry-After read."""
        return cls(error_message(status, body), status, retry_after_seconds(retry_after), error_codes(body))

    @classmethod
    def bad_response(cls, problem: object, status: int | None = None) -> RegistryError:
        """An answer whose body we cannot use (JSON that does not parse, a document of the wrong shape)."""
        return cls(f"bad response: {problem}", status)

    @property
    def temporary(self) -> bool:
        """What real clients retry: 408, 429, 5xx, and an answer that never came whole."""
        return self.network or temporary_status(self.status)


class DigestMismatch(RegistryTasksError):
    """Bytes received do not hash to the digest asked for or announced: a corrupt body, which clients fetch again."""

    status: int | None = None
    codes: tuple[str, ...] = ()
    temporary = True


class RequestFailed(RegistryTasksError):
    """A call that has already been reported as a failure; workflows stop on it and report nothing more.

    It keeps its cause's `status` (a 416 on a chunk is worth a resume), `codes` and `temporary` (worth a retry)."""

    def __init__(
        self, message: str, status: int | None = None, codes: tuple[str, ...] = (), temporary: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.codes = tuple(codes)
        self.temporary = temporary_status(status) if temporary is None else temporary

    @classmethod
    def of(cls, error: BaseException) -> RequestFailed:
        """The failure `error` stands for, once reported: its message, status, codes and whether it is temporary."""
        status = getattr(error, "status", None)
        codes = getattr(error, "codes", ())
        return cls(str(error), status if isinstance(status, int) else None, tuple(codes), is_temporary(error))


class Failure(RegistryTasksError):
    """What a failed request is reported as: Locust's stats, failures CSV, web UI and report print an exception's
    repr, so this one's repr is its message (`blob bytes do not match their digest`, not
    `DigestMismatch('blob bytes do not match their digest')`). `cause` keeps the exception it stands for."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause

    def __repr__(self) -> str:
        return str(self)


def _error_entries(body: bytes) -> list[dict[str, Any]]:
    """The `errors` list of a spec error body (`{"errors": [{"code", "message", "detail"}]}`); [] for any other."""
    try:
        document = json.loads(body)
    except ValueError:  # not JSON (nor UTF-8): a proxy's page, a plain text
        return []
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list) or not all(isinstance(entry, dict) for entry in errors):
        return []
    return errors


def error_codes(body: bytes) -> tuple[str, ...]:
    """The spec's error codes of an error body, in order, e.g. ("BLOB_UNKNOWN",); () when it has none."""
    return tuple(str(entry.get("code", "UNKNOWN")) for entry in _error_entries(body))


def error_message(status: int, body: bytes) -> str:
    """`404 MANIFEST_UNKNOWN: manifest unknown`; the registry's detail (names, digests) stays out."""
    entries = _error_entries(body)
    if entries:
        parts = [f"{e.get('code', 'UNKNOWN')}: {e.get('message', '')}".rstrip(": ") for e in entries]
        return f"{status} {'; '.join(parts)}"
    if status == 429:  # the spec's code, so that every registry's throttling groups under one message
        return "429 TOOMANYREQUESTS"
    text = body[:120].decode("utf-8", "replace").strip().replace("\n", " ")
    if not text or text.startswith("<"):  # no body, or a proxy's HTML error page: the status says it better
        try:
            return f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            return f"{status} (no error body)"
    return f"{status} {text}"


def json_object(data: bytes, status: int, what: str) -> dict[str, Any]:
    """A registry answer's JSON object, parsed where it is read: JSON that does not parse (or is no object) is the
    registry's failure, a RegistryError saying `bad response: ...`, never a ValueError taken for a bug of ours."""
    try:
        document = json.loads(data)
    except ValueError as exc:  # not JSON, or not UTF-8
        raise RegistryError.bad_response(exc, status) from None
    if not isinstance(document, dict):
        raise RegistryError.bad_response(f"{what} that is not a JSON object", status)
    return document


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():  # (not isdigit: "²" is a digit that float() refuses)
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
