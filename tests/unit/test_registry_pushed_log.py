"""`--pushed-log FILE`: one JSON line per successful image-push, from this process's request events; a file that
cannot be written costs one error line per lost record, never an exception in the user that pushed, and the log
goes on once a path can be written again. Read back by `read_pushed_log` (the audit's input)."""

from __future__ import annotations

import array
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from locust.event import EventHook

from registry_tasks.registry.pushed_log import Pushed, PushedLog, read_pushed_log

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def request_event() -> EventHook:
    """A request event of its own (as Locust's `events.request`), so that no other test's listener hears it."""
    return EventHook()


@pytest.fixture
def pushed_log() -> Iterator[PushedLog]:
    log = PushedLog()
    yield log
    log.close()


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """`errors()`: the error lines pushed_log has logged so far in the test."""
    caplog.set_level(logging.ERROR, logger="registry_tasks.registry.pushed_log")

    def lines() -> list[str]:
        return [record.getMessage() for record in caplog.records if record.name == "registry_tasks.registry.pushed_log"]

    return lines


def push(request_event: EventHook, tag: str, name: str = "image-push", exception: Exception | None = None) -> None:
    """Fire what RegistryClient fires when an image push ends."""
    context = {"repository": "lt/push-a", "reference": tag, "digest": DIGEST}
    request_event.fire(
        request_type="PUSH", name=name, response_time=1.0, response_length=10, exception=exception, context=context
    )


def records(path: Path) -> list[Pushed | str]:
    return list(read_pushed_log(str(path)))


def assert_a_good_path_works(request_event: EventHook, pushed_log: PushedLog, path: Path) -> None:
    """After failed writes, the log switched to a writable path records the next push there."""
    pushed_log.watch(request_event, str(path))
    push(request_event, "kept")
    assert records(path) == [Pushed("lt/push-a", "kept", DIGEST)]


def test_successful_image_pushes_are_logged_one_line_each(
    request_event: EventHook, pushed_log: PushedLog, tmp_path: Path, errors: Callable[[], list[str]]
) -> None:
    path = tmp_path / "pushed.jsonl"
    pushed_log.watch(request_event, str(path))
    push(request_event, "t1")
    push(request_event, "t2", exception=RuntimeError("500"))  # failed: not stored
    push(request_event, "t3", name="manifest-put")  # a part of a push, not the image
    push(request_event, "t4")
    assert records(path) == [Pushed("lt/push-a", "t1", DIGEST), Pushed("lt/push-a", "t4", DIGEST)]
    assert json.loads(path.read_text().splitlines()[0]) == {"repository": "lt/push-a", "tag": "t1", "digest": DIGEST}
    assert errors() == []


def test_a_removed_directory_costs_one_error_line_and_the_log_recovers(
    request_event: EventHook, pushed_log: PushedLog, tmp_path: Path, errors: Callable[[], list[str]]
) -> None:
    """The directory goes away before the first record (as a cleaned-up temp dir would)."""
    directory = tmp_path / "logs"
    directory.mkdir()
    path = directory / "pushed.jsonl"
    pushed_log.watch(request_event, str(path))
    shutil.rmtree(directory)
    push(request_event, "lost")  # raises nothing
    assert errors() == [f"--pushed-log {path}: cannot write (No such file or directory)"]
    directory.mkdir()
    push(request_event, "kept")  # the same path works again once it can be written
    assert records(path) == [Pushed("lt/push-a", "kept", DIGEST)]
    assert_a_good_path_works(request_event, pushed_log, tmp_path / "good.jsonl")
    assert len(errors()) == 1


def test_a_directory_as_the_path_costs_one_error_line_per_record(
    request_event: EventHook, pushed_log: PushedLog, tmp_path: Path, errors: Callable[[], list[str]]
) -> None:
    path = tmp_path / "a-directory"
    path.mkdir()
    pushed_log.watch(request_event, str(path))
    push(request_event, "lost-1")
    push(request_event, "lost-2")
    assert errors() == [f"--pushed-log {path}: cannot write (Is a directory)"] * 2
    assert_a_good_path_works(request_event, pushed_log, tmp_path / "pushed.jsonl")
    assert list(path.iterdir()) == []


FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IMMUTABLE_FL = 0x80086601, 0x40086602, 0x10  # linux/fs.h


def set_immutable(path: Path, on: bool) -> None:
    """chattr +i / -i: the one way to make a file read-only for root too (needs CAP_LINUX_IMMUTABLE)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        flags[0] = flags[0] | FS_IMMUTABLE_FL if on else flags[0] & ~FS_IMMUTABLE_FL
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags, True)
    finally:
        os.close(fd)


@pytest.fixture
def read_only_file(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A file holding "earlier\n" that this process cannot open for writing, and the reason the OS gives."""
    path = tmp_path / "pushed.jsonl"
    path.write_text("earlier\n")
    path.chmod(0o444)
    immutable = False
    if os.geteuid() == 0:  # root ignores the mode
        try:
            set_immutable(path, True)
            immutable = True
        except OSError as exc:
            pytest.skip(f"running as root, and this file system cannot make a file immutable ({exc.strerror})")
    try:
        reason = ""
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            reason = str(exc.strerror)
        if not reason:
            pytest.skip("this process can write to a read-only file")
        yield path, reason
    finally:
        if immutable:
            set_immutable(path, False)  # else nothing can remove the test's directory


def test_a_read_only_file_costs_one_error_line_and_stays_unchanged(
    request_event: EventHook,
    pushed_log: PushedLog,
    read_only_file: tuple[Path, str],
    tmp_path: Path,
    errors: Callable[[], list[str]],
) -> None:
    path, reason = read_only_file
    pushed_log.watch(request_event, str(path))
    push(request_event, "lost")
    assert errors() == [f"--pushed-log {path}: cannot write ({reason})"]
    assert path.read_text() == "earlier\n"
    assert_a_good_path_works(request_event, pushed_log, tmp_path / "good.jsonl")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full (Linux has one)")
def test_a_full_device_costs_one_error_line_per_record(
    request_event: EventHook, pushed_log: PushedLog, tmp_path: Path, errors: Callable[[], list[str]]
) -> None:
    """Opened fine, but every write fails (as a full disk would): even root meets this one."""
    pushed_log.watch(request_event, "/dev/full")
    push(request_event, "lost-1")
    push(request_event, "lost-2")
    assert errors() == ["--pushed-log /dev/full: cannot write (No space left on device)"] * 2
    assert_a_good_path_works(request_event, pushed_log, tmp_path / "pushed.jsonl")
