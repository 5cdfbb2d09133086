"""What can go wrong talking to a registry, as values: Retry-After headers, the spec's error codes, what is
temporary, and the one exception root. The faults themselves, from a proxy in front of a real registry:
tests/system/test_faults.py; `measure` against a loopback server: tests/unit/test_registry_measure.py."""

from __future__ import annotations

import importlib
import json
import re
import time
from email.utils import formatdate
from pathlib import Path

import pytest

import registry_tasks
from registry_tasks.config import SettingsError
from registry_tasks.errors import RegistryTasksError
from registry_tasks.image import ImageError
from registry_tasks.load.traces import TraceError
from registry_tasks.registry.auth import AuthError
from registry_tasks.registry.errors import (
    DigestMismatch,
    RegistryError,
    RequestFailed,
    error_codes,
    is_temporary,
    json_object,
    retry_after_seconds,
    temporary_status,
)
from registry_tasks.registry.transport import ConnectTimeout, ProtocolError
from registry_tasks.registry.workflows import retryable

PACKAGE = Path(registry_tasks.__file__).parent
PREFIX = "registry_tasks"


def test_retry_after_values() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("\u00b2") is None  # a digit to isdigit(), not to float(): unreadable, not a crash
    assert retry_after_seconds("999999") == 300.0  # capped
    assert 8 <= (retry_after_seconds(formatdate(time.time() + 10, usegmt=True)) or 0) <= 10
    assert retry_after_seconds(formatdate(time.time() - 10, usegmt=True)) == 0.0


# --- the registry's answer, kept as structure --------------------------------------------------------------


def spec_errors(*codes: str) -> bytes:
    """An error body as the distribution spec has it, with a detail naming a repository (never in the message)."""
    entries = [{"code": code, "message": code.lower().replace("_", " "), "detail": "repo a/b"} for code in codes]
    return json.dumps({"errors": entries}).encode()


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        (spec_errors("BLOB_UNKNOWN"), ("BLOB_UNKNOWN",)),
        (spec_errors("MANIFEST_INVALID", "DIGEST_INVALID"), ("MANIFEST_INVALID", "DIGEST_INVALID")),
        (b'{"errors": [{"message": "no code"}]}', ("UNKNOWN",)),  # as the message says it
        (b'{"errors": []}', ()),
        (b'{"errors": ["BLOB_UNKNOWN"]}', ()),  # entries that are no objects: no codes, as no message parts
        (b'{"errors": {"code": "BLOB_UNKNOWN"}}', ()),
        (b'["BLOB_UNKNOWN"]', ()),
        (b"<html><h1>502 Bad Gateway</h1></html>", ()),
        (b"BLOB_UNKNOWN", ()),  # a plain text naming a code is no code
        (b"\xff\xfe not utf-8", ()),
        (b"", ()),
    ],
)
def test_error_codes_are_parsed_from_the_spec_body_only(body: bytes, codes: tuple[str, ...]) -> None:
    assert error_codes(body) == codes


def test_an_answer_keeps_status_codes_message_and_retry_after() -> None:
    error = RegistryError.of_answer(404, spec_errors("BLOB_UNKNOWN"), "7")
    assert (error.status, error.codes, error.retry_after) == (404, ("BLOB_UNKNOWN",), 7.0)
    assert error.message == str(error) == "404 BLOB_UNKNOWN: blob unknown"  # the detail (a name) stays out
    assert not error.temporary
    throttled = RegistryError.of_answer(429, b"")
    assert (throttled.message, throttled.codes, throttled.retry_after, throttled.temporary) == (
        "429 TOOMANYREQUESTS",
        (),
        None,
        True,
    )
    assert RegistryError.of_answer(503, b"<html>down</html>").message == "503 Service Unavailable"


@pytest.mark.parametrize(
    ("status", "temporary"),
    [(408, True), (429, True), (500, True), (502, True), (503, True), (504, True), (599, True),
     (400, False), (401, False), (403, False), (404, False), (405, False), (412, False), (416, False),
     (200, False), (202, False), (307, False), (None, False)],
)  # fmt: skip
def test_temporary_is_what_real_clients_retry(status: int | None, temporary: bool) -> None:
    assert temporary_status(status) is temporary
    assert RegistryError("x", status).temporary is temporary
    assert RequestFailed("x", status).temporary is temporary


def test_no_whole_answer_and_the_network_are_temporary_whatever_carries_them() -> None:
    assert RegistryError("timeout: no progress for 2 s", network=True).temporary  # timeout, cut body, not HTTP
    assert not RegistryError("bad response: a listing that is not a JSON object", 200).temporary
    assert DigestMismatch("blob bytes do not match their digest").temporary  # a corrupt body: fetched again
    for network in (ConnectionRefusedError(111, "refused"), ConnectionResetError(104, "reset"), TimeoutError()):
        assert is_temporary(network)
        failed = RequestFailed.of(ConnectionError(f"{type(network).__name__}: {network}"))
        assert (failed.status, failed.codes, failed.temporary) == (None, (), True)
    assert not is_temporary(TypeError("a bug of ours")) and not is_temporary(ValueError("nor this"))


def test_a_reported_failure_keeps_its_causes_status_and_codes_through_nested_blocks() -> None:
    cause = RegistryError.of_answer(503, spec_errors("UNAVAILABLE"), "2")
    inner = RequestFailed.of(cause)
    outer = RequestFailed.of(inner)  # an image-pull failing of its blob-get
    for failed in (inner, outer):
        assert (failed.message, failed.status, failed.codes, failed.temporary) == (
            "503 UNAVAILABLE: unavailable",
            503,
            ("UNAVAILABLE",),
            True,
        )
    assert retryable(outer)
    assert not retryable(RequestFailed.of(RegistryError.of_answer(404, spec_errors("MANIFEST_UNKNOWN"))))
    assert not retryable(RequestFailed.of(RegistryError("401 registry asks for Basic auth", 401)))


def test_a_body_that_is_not_a_json_object_is_a_bad_response_where_it_is_parsed() -> None:
    assert json_object(b'{"tags": ["a"]}', 200, "a listing") == {"tags": ["a"]}
    with pytest.raises(RegistryError) as not_json:
        json_object(b"<html>", 200, "a listing")
    assert (str(not_json.value), not_json.value.status) == (
        "bad response: Expecting value: line 1 column 1 (char 0)",
        200,
    )
    with pytest.raises(RegistryError, match=r"^bad response: a listing that is not a JSON object$"):
        json_object(b"[]", 200, "a listing")
    with pytest.raises(RegistryError, match="^bad response: "):
        json_object(b"\xff\xfe", 200, "a listing")  # not UTF-8 either: still the registry's


def test_every_error_class_of_ours_is_under_the_one_root() -> None:
    """Ours and only ours: `except RegistryTasksError` never catches a bug (a TypeError, a KeyError)."""
    modules = [
        importlib.import_module(".".join(("registry_tasks", *path.relative_to(PACKAGE).with_suffix("").parts)))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in ("plugin", "__main__.py", "__init__.py")
    ]
    ours = {
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__.startswith(PREFIX)
    }
    assert len(ours) >= 14, sorted(cls.__name__ for cls in ours)
    assert [cls.__name__ for cls in ours if not issubclass(cls, RegistryTasksError)] == []
    for kept in (SettingsError, ImageError, AuthError, TraceError):  # callers and tests catch them as ValueError
        assert issubclass(kept, ValueError)
    assert issubclass(ConnectTimeout, TimeoutError) and not issubclass(ProtocolError, ValueError)
    plugin = [
        path
        for path in (PACKAGE / "plugin").rglob("*.py")
        if re.search(r"^class \w+\(.*(Error|Exception)\b", path.read_text(), re.M)
    ]
    assert plugin == []  # it defines none (it is not imported here: that would load Locust)
