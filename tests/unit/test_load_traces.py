"""Trace readers: IBM registry traces and distribution's logs (text and JSON) as streams of records."""

from __future__ import annotations

import json
import re
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from registry_tasks.load.trace_formats import MAX_RECORD
from registry_tasks.load.traces import FORMATS, TraceError, TraceRecord, classify, detect_format, read_ibm, read_trace

NOON = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc).timestamp()
IBM_TIME = datetime(2017, 6, 20, 2, 41, 12, tzinfo=timezone.utc).timestamp()


def ibm(**fields: Any) -> dict[str, Any]:
    """One IBM trace record as the published files hold them; keyword `x_y` stands for the key `x.y`."""
    record = {
        "host": "dc118836", "http.request.duration": 0.030493, "http.request.method": "GET",
        "http.request.remoteaddr": "0ee76ffa", "http.request.uri": "v2/4715bf52/437c49db/blobs/93054319",
        "http.request.useragent": "docker/1.12.1 go/go1.6.3 git-commit/23cf638 kernel/3.10.0 os/linux arch/amd64",
        "http.response.status": 200, "http.response.written": 1518, "id": "1e7d4ac5b5",
        "timestamp": "2017-06-20T02:41:12.624Z",
    }  # fmt: skip
    record.update({key.replace("_", "."): value for key, value in fields.items()})
    return record


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def text_line(time: str = "2026-12-01T10:00:00.5Z", msg: str = "response completed", **extra: str) -> str:
    fields = {
        "http.request.method": "GET", "http.request.remoteaddr": '"127.0.0.1:43210"',
        "http.request.uri": '"/v2/library/alpine/manifests/latest"',
        "http.request.useragent": '"docker/20.10.24 go/go1.19 (linux)"', "http.response.duration": "2.345ms",
        "http.response.status": "200", "http.response.written": "1572",
    }  # fmt: skip
    fields.update({key.replace("_", "."): value for key, value in extra.items()})
    pairs = " ".join(f"{key}={value}" for key, value in fields.items() if value != "-")
    return f'time="{time}" level=info msg="{msg}" go.version=go1.19 {pairs}\n'


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/v2/", ("ping", "", "")), ("HEAD", "/v2", ("ping", "", "")), ("POST", "/v2/", ("other", "", "")),
    ("GET", "/v2/_catalog", ("catalog", "", "")), ("GET", "/v2/_catalog?n=100&last=b", ("catalog", "", "")),
    ("GET", "/v2/library/alpine/manifests/latest", ("manifest-get", "library/alpine", "latest")),
    ("HEAD", "/v2/a/b/c/manifests/sha256:abc", ("manifest-head", "a/b/c", "sha256:abc")),
    ("PUT", "/v2/alpine/manifests/v1", ("manifest-put", "alpine", "v1")),
    ("DELETE", "/v2/alpine/manifests/sha256:abc", ("manifest-delete", "alpine", "sha256:abc")),
    ("GET", "/v2/team/app/blobs/sha256:abc", ("blob-get", "team/app", "sha256:abc")),
    ("HEAD", "/v2/app/blobs/sha256:abc", ("blob-head", "app", "sha256:abc")),
    ("DELETE", "/v2/app/blobs/sha256:abc", ("blob-delete", "app", "sha256:abc")),
    ("POST", "/v2/team/app/blobs/uploads/", ("upload-start", "team/app", "")),
    ("POST", "/v2/team/app/blobs/uploads", ("upload-start", "team/app", "")),
    ("POST", "/v2/app/blobs/uploads/?mount=sha256:abc&from=other", ("upload-start", "app", "")),
    ("PATCH", "/v2/a/b/blobs/uploads/3f2e-11", ("upload-chunk", "a/b", "3f2e-11")),
    ("PUT", "/v2/a/b/blobs/uploads/3f2e-11", ("upload-finish", "a/b", "3f2e-11")),
    ("GET", "/v2/a/b/blobs/uploads/3f2e-11", ("upload-status", "a/b", "3f2e-11")),
    ("DELETE", "/v2/a/b/blobs/uploads/3f2e-11", ("upload-cancel", "a/b", "3f2e-11")),
    ("GET", "/v2/x/y/tags/list", ("tags-list", "x/y", "")), ("GET", "/v2/x/tags/list?n=10", ("tags-list", "x", "")),
    ("GET", "/v2/app/referrers/sha256:abc", ("referrers-get", "app", "sha256:abc")),
    ("GET", "/v2/x/blobs/blobs/sha256:abc", ("blob-get", "x/blobs", "sha256:abc")),
    ("GET", "/v2/x/tags/manifests/list", ("manifest-get", "x/tags", "list")),
    ("GET", "v2/4715bf52/437c49db/blobs/93054319", ("blob-get", "4715bf52/437c49db", "93054319")),
    ("HEAD", "v2/4715bf52/437c49db/manifests/7a5c1e", ("manifest-head", "4715bf52/437c49db", "7a5c1e")),
    ("get", "/v2/app/manifests/latest", ("manifest-get", "app", "latest")),
    ("PATCH", "/v2/app/manifests/latest", ("other", "", "")), ("POST", "/v2/app/blobs/sha256:abc", ("other", "", "")),
    ("PUT", "/v2/app/blobs/uploads/", ("other", "", "")), ("POST", "/v2/app/tags/list", ("other", "", "")),
    ("GET", "/v2/app/blobs/uploads", ("other", "", "")), ("GET", "/v2/manifests/latest", ("other", "", "")),
    ("GET", "/v2/a//b/manifests/latest", ("other", "", "")), ("GET", "/v2/app/manifests/", ("other", "", "")),
    ("GET", "/v2/app/unknown/x", ("other", "", "")), ("GET", "/v1/_ping", ("other", "", "")),
    ("GET", "/", ("other", "", "")), ("GET", "/v2x/app/manifests/latest", ("other", "", "")),
    ("GET", "/v2/blobs/uploads/abc", ("other", "", "")),
])  # fmt: skip
def test_classify_request_paths(method: str, path: str, expected: tuple[str, str, str]) -> None:
    assert classify(method, path) == expected


def test_ibm_array_with_whitespace_between_records_streams_every_field(tmp_path: Path) -> None:
    records = [
        ibm(),
        ibm(http_request_method="head", http_request_uri="v2/4715bf52/437c49db/manifests/a1b2?x=1",
            http_request_remoteaddr="0ee76ffa:5123", timestamp="2017-06-20T02:41:13+02:00"),
        ibm(http_request_uri="v2/", http_response_status=None, http_response_written=None, http_request_duration=None),
    ]  # fmt: skip
    text = "\n  [\n\t" + " ,\r\n\n  ".join(json.dumps(record, indent=1) for record in records) + "\n]\n\n"
    path = write(tmp_path, "trace.json", text)
    first, second, third = read_trace(path, "ibm")
    assert first == TraceRecord(
        index=0, start=IBM_TIME + 0.624, method="GET", path="/v2/4715bf52/437c49db/blobs/93054319", query="",
        client="0ee76ffa", user_agent=records[0]["http.request.useragent"], status=200, written=1518,
        duration=0.030493, kind="blob-get", repository="4715bf52/437c49db", reference="93054319",
    )  # fmt: skip
    assert (second.index, second.method, second.kind, second.repository, second.reference) == (
        1, "HEAD", "manifest-head", "4715bf52/437c49db", "a1b2")  # fmt: skip
    assert (second.path, second.query, second.client) == ("/v2/4715bf52/437c49db/manifests/a1b2", "x=1", "0ee76ffa")
    assert second.start == IBM_TIME + 1 - 7200  # an IBM timestamp is the start, as it is
    assert (third.index, third.kind, third.status, third.written, third.duration) == (2, "ping", 0, 0, 0.0)
    assert list(read_trace(write(tmp_path, "empty.json", "[ \n ]"))) == []


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, 333, 4096])
def test_ibm_records_crossing_chunk_boundaries_parse_alike(tmp_path: Path, chunk_size: int) -> None:
    records = [ibm(id=f"{i:010x}", http_response_written=i * 1000, http_request_useragent=f'ua "{i}" \\ é ✓')
               for i in range(40)]  # fmt: skip
    path = write(tmp_path, "trace.json", "[" + ",\n".join(json.dumps(record, ensure_ascii=False) for record in records)
                 + "]")  # fmt: skip
    whole = list(read_ibm(path))
    assert list(read_ibm(path, chunk_size=chunk_size)) == whole
    assert [record.index for record in whole] == list(range(40))
    assert [record.written for record in whole] == [i * 1000 for i in range(40)]
    assert whole[7].user_agent == 'ua "7" \\ é ✓'


def test_an_ibm_trace_of_200k_records_is_read_in_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    count = 200_000
    with path.open("w", encoding="utf-8") as file:
        file.write("[\n")
        for i in range(count):
            fields = {"http.request.duration": 0.030493, "http.request.method": "GET",
                      "http.request.remoteaddr": f"{i % 5000:08x}", "http.response.status": 200,
                      "http.request.uri": f"v2/4715bf52/{i % 977:08x}/blobs/{i:08x}",
                      "http.request.useragent": "docker/1.12.1", "http.response.written": 1518 + i,
                      "timestamp": "2017-06-20T02:41:12.624Z"}  # fmt: skip
            file.write(("," if i else "") + json.dumps(fields) + "\n")
        file.write("]\n")
    assert path.stat().st_size > 30_000_000
    tracemalloc.start()
    try:
        seen, last = 0, None
        for record in read_trace(path):
            seen, last = seen + 1, record
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        path.unlink()  # ~50 MB: pytest keeps the last runs' tmp_path
    assert seen == count and last is not None and last.index == count - 1 and last.reference == f"{count - 1:08x}"
    assert peak < 20_000_000, f"peak {peak} bytes: the trace was not streamed"


def test_distribution_text_log_keeps_only_requests_with_their_start(tmp_path: Path) -> None:
    agent = r'"docker/20.10.24 go/go1.19 \"quoted\" back\\slash tab\tend"'
    lines = [
        'time="2026-12-01T09:59:59Z" level=info msg="listening on [::]:5000" go.version=go1.19\n',
        text_line(),
        "127.0.0.1 - - [01/Dec/2026:10:00:00 +0000] \"GET /v2/ HTTP/1.1\" 200 2 \"\" \"docker/20.10.24\"\n",
        "\n",
        text_line("2026-12-01T10:00:01.123456789Z", "response completed with error", http_request_method="PATCH",
                  http_request_uri='"/v2/a/b/blobs/uploads/u-1?_state=xyz"', http_response_duration="1.2s",
                  http_request_remoteaddr='"[::1]:5555"', http_request_useragent=agent, http_response_status="500",
                  http_response_written="-"),
        'time="2026-12-01T10:00:02Z" level=info msg="response completed with errors" http.request.method=GET\n',
        text_line("2026-12-01T11:00:00+01:00", http_request_uri="/v2/", http_response_duration="-",
                  http_request_remoteaddr="10.1.2.3"),
    ]  # fmt: skip
    path = write(tmp_path, "registry.log", "".join(lines))
    assert detect_format(path) == "distribution-text"
    first, second, third = read_trace(path)
    assert (first.index, first.method, first.kind, first.repository, first.reference) == (
        2, "GET", "manifest-get", "library/alpine", "latest")  # fmt: skip
    assert (first.client, first.user_agent, first.status, first.written) == (
        "127.0.0.1", "docker/20.10.24 go/go1.19 (linux)", 200, 1572)  # fmt: skip
    assert first.duration == pytest.approx(0.002345) and first.start == pytest.approx(NOON + 0.5 - 0.002345)
    assert (second.index, second.kind, second.reference, second.query) == (5, "upload-chunk", "u-1", "_state=xyz")
    assert (second.client, second.status, second.written) == ("::1", 500, 0)
    assert second.user_agent == 'docker/20.10.24 go/go1.19 "quoted" back\\slash tab\tend'
    assert second.start == pytest.approx(NOON + 1.123456789 - 1.2, abs=1e-6)
    assert (third.index, third.kind, third.client, third.duration, third.start) == (7, "ping", "10.1.2.3", 0.0, NOON)


@pytest.mark.parametrize(("duration", "seconds"), [
    ("5ns", 5e-9), ("12.5us", 12.5e-6), ("350µs", 350e-6), ("350μs", 350e-6), ("2.345ms", 0.002345), ("1.2s", 1.2),
    ("1m2s", 62.0), ("1h0m0.5s", 3600.5), ("0s", 0.0), ("0", 0.0), ("1m2.5s", 62.5), (".5s", 0.5),
])  # fmt: skip
def test_go_durations_of_each_unit_move_the_start_back(tmp_path: Path, duration: str, seconds: float) -> None:
    path = write(tmp_path, "registry.log", text_line("2026-12-01T10:00:00Z", http_response_duration=duration))
    (record,) = read_trace(path, "distribution-text")
    assert record.duration == pytest.approx(seconds, rel=1e-9)
    assert record.start == pytest.approx(NOON - seconds, abs=1e-6)


@pytest.mark.parametrize(("time", "epoch"), [
    ("2026-12-01T10:00:00Z", NOON), ("2026-12-01T10:00:00.123456789Z", NOON + 0.123456789),
    ("2026-12-01T12:30:00.25+02:30", NOON + 0.25), ("2026-12-01T05:00:00-0500", NOON),
    ("2026-12-01 10:00:00.1z", NOON + 0.1), ("2026-12-01T10:00:00.1234567891234Z", NOON + 0.1234567891234),
])  # fmt: skip
def test_times_with_up_to_nanoseconds_and_offsets(tmp_path: Path, time: str, epoch: float) -> None:
    path = write(tmp_path, "registry.log", text_line(time, http_response_duration="0s"))
    (record,) = read_trace(path)
    assert record.start == pytest.approx(epoch, abs=1e-6)


def test_distribution_json_log(tmp_path: Path) -> None:
    def event(**fields: Any) -> str:
        base = {"go.version": "go1.19", "level": "info", "msg": "response completed", "time": "2026-12-01T10:00:00Z",
                "http.request.method": "HEAD", "http.request.uri": "/v2/team/app/blobs/sha256:abc",
                "http.request.remoteaddr": "192.0.2.7:40000", "http.request.useragent": "containerd/1.7.2",
                "http.response.status": 200, "http.response.written": 0, "http.response.duration": "350µs"}  # fmt: skip
        base.update({key.replace("_", "."): value for key, value in fields.items()})
        return json.dumps(base) + "\n"

    path = write(tmp_path, "registry.json", "".join([
        json.dumps({"level": "info", "msg": "redis not configured", "time": "2026-12-01T09:00:00Z"}) + "\n",
        event(), "\n", "   \n",
        "192.0.2.7 - - [01/Dec/2026:10:00:00 +0000] \"HEAD /v2/ HTTP/1.1\" 200 0 \"\" \"containerd/1.7.2\"\n",
        event(msg="response completed with error", http_request_method="PUT", http_response_status=400,
              http_request_uri="/v2/team/app/manifests/v1", http_response_duration="1m2s"),
        event(msg="authorized request", http_request_uri="/v2/"),
        event(http_request_method="POST", http_request_uri="/v2/app/blobs/uploads/?mount=sha256:abc&from=x",
              http_response_written=None, http_response_duration=None, http_response_status=202),
    ]))  # fmt: skip
    assert detect_format(path) == "distribution-json"
    first, second, third = read_trace(path)
    assert (first.index, first.kind, first.repository, first.reference, first.client) == (
        2, "blob-head", "team/app", "sha256:abc", "192.0.2.7")  # fmt: skip
    assert first.user_agent == "containerd/1.7.2" and first.start == pytest.approx(NOON - 350e-6)
    assert (second.index, second.kind, second.status, second.duration, second.start) == (
        6, "manifest-put", 400, 62.0, NOON - 62)  # fmt: skip
    assert (third.index, third.kind, third.query, third.written, third.duration, third.start) == (
        8, "upload-start", "mount=sha256:abc&from=x", 0, 0.0, NOON)  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [
    ("[{}]", "ibm"), ("\ufeff \n\t [", "ibm"), ('{"msg": "x"}\n', "distribution-json"),
    ('time="2026-12-01T10:00:00Z" level=info msg=x\n', "distribution-text"), ("level=info msg=x", "distribution-text"),
    ('msg="x"', "distribution-text"), ("\n" * 10_000 + "[]", "ibm"),
])  # fmt: skip
def test_detect_format(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in FORMATS
    assert detect_format(write(tmp_path, "trace", text)) == expected


@pytest.mark.parametrize(("text", "error"), [
    ("", "empty, neither an IBM trace nor a distribution log"),
    (" \n\n \t", "empty, neither an IBM trace nor a distribution log"),
    ("GET /v2/ HTTP/1.1\nmore", "neither an IBM trace nor a distribution log (it starts 'GET /v2/ HTTP/1.1')"),
    ("INFO[0000] response completed", "neither an IBM trace nor a distribution log"),
])  # fmt: skip
def test_detect_format_refuses_empty_files_and_garbage(tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path, "garbage.txt", text)
    with pytest.raises(TraceError, match="^" + re.escape(f"trace {path}: {error}")):
        detect_format(path)
    with pytest.raises(TraceError, match="neither an IBM trace"):
        read_trace(path)


def ibm_text(*records: Any) -> str:
    return "[" + ",".join(json.dumps(record) for record in records) + "]"


BAD_INPUTS = [
    ("t.json", ibm_text(ibm(), ibm(http_request_method=None)), "record 1: no http.request.method"),
    ("t.json", ibm_text(ibm(), ibm(), ibm(http_request_uri="")), "record 2: no http.request.uri"),
    ("t.json", ibm_text(ibm(timestamp=None)), "record 0: no timestamp"),
    ("t.json", ibm_text(ibm(timestamp="2017-13-20T02:41:12Z")),
     "record 0: bad timestamp '2017-13-20T02:41:12Z': not an ISO 8601 time"),
    ("t.json", ibm_text(ibm(timestamp=1497926472)), "record 0: bad timestamp '1497926472': not an ISO 8601 time"),
    ("t.json", ibm_text(ibm(http_response_status="ok")), "record 0: bad http.response.status 'ok': not a whole number"),
    ("t.json", ibm_text(ibm(http_request_method=7)), "record 0: bad http.request.method '7': not a string"),
    ("t.json", ibm_text(ibm(http_request_duration=-1)), "record 0: bad http.request.duration '-1': not a duration"),
    ("t.json", ibm_text(ibm(), ibm()) + ",", "text after the array's closing ']' (after 2 records)"),
    ("t.json", ibm_text(ibm())[:-1] + ", 7]", "record 1: not a JSON object"),
    ("t.json", ibm_text(ibm())[:-1] + ', [{"b": 2}]]', "record 1: not a JSON object"),
    ("t.json", ibm_text(ibm())[:-30], "record 0: JSON cut short"),
    ("t.json", ibm_text(ibm())[:-1], "record 1: JSON cut short (the array is not closed)"),
    ("t.json", ibm_text(ibm()).replace(":", "=", 3), "record 0: invalid JSON: Expecting ':' delimiter"),
    ("t.json", '{"a": 1}', "not a JSON array (an IBM trace is one array of records)"),
    ("r.log", text_line() + text_line() + text_line("2026-13-01T10:00:00Z"),
     "line 3: bad time '2026-13-01T10:00:00Z': not an ISO 8601 time"),
    ("r.log", text_line(time="yesterday"), "line 1: bad time 'yesterday': not an ISO 8601 time"),
    ("r.log", "\n" + text_line(http_request_method="-"), "line 2: no http.request.method"),
    ("r.log", text_line(http_request_uri='""'), "line 1: no http.request.uri"),
    ("r.log", text_line(http_response_duration="2.3 ms"),
     "line 1: not logrus key=value pairs from 'ms http.response.status=200...'"),
    ("r.log", text_line(http_response_duration="2.3fortnights"),
     "line 1: bad http.response.duration '2.3fortnights': not a Go duration such as 2.345ms"),
    ("r.log", text_line(http_request_useragent='"docker 1.0'), "line 1: not logrus key=value pairs from"),
    ("r.log", text_line(http_response_written="12kB"), "line 1: bad http.response.written '12kB': not a whole number"),
    ("r.jsonl", json.dumps({"msg": "response completed", "time": "2026-12-01T10:00:00Z", "http.request.uri": "/v2/"}),
     "line 1: no http.request.method"),
    ("r.jsonl", '{"msg": "x"}\n{"msg": "response completed", "time": "2026-', "line 2: JSON cut short"),
    ("r.jsonl", '{"msg": "x"}\n\n{"msg": "response completed", "time": }\n', "line 3: invalid JSON: Expecting value"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "error"), BAD_INPUTS, ids=[error for _, _, error in BAD_INPUTS])
def test_bad_input_names_the_file_and_the_record(tmp_path: Path, name: str, text: str, error: str) -> None:
    path = write(tmp_path, name, text)
    format = {"t.json": "ibm", "r.log": "distribution-text", "r.jsonl": "distribution-json"}[name]
    with pytest.raises(TraceError) as raised:
        list(read_trace(path, format))
    message = str(raised.value)
    assert message.startswith(f"trace {path}: {error}"), message
    assert "\n" not in message and "\\'" not in message


def test_records_before_a_bad_one_are_read_first(tmp_path: Path) -> None:
    path = write(tmp_path, "t.json", ibm_text(ibm(), ibm(), ibm(timestamp="now")))
    records = read_trace(path)
    assert [next(records).index, next(records).index] == [0, 1]
    with pytest.raises(TraceError, match="record 2: bad timestamp 'now'"):
        next(records)


def test_an_unknown_format_or_an_unreadable_file_fails_at_once(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.json")
    with pytest.raises(TraceError, match=f"^trace {missing}: cannot read: No such file or directory$"):
        read_trace(missing)
    with pytest.raises(TraceError, match=f"^trace {missing}: cannot read: No such file or directory$"):
        read_trace(missing, "ibm")
    with pytest.raises(TraceError, match=f"^trace {tmp_path}: cannot read: Is a directory$"):
        read_trace(str(tmp_path), "distribution-json")
    path = write(tmp_path, "t.json", "[]")
    with pytest.raises(TraceError, match=r"unknown format 'csv' \(one of ibm, distribution-text, distribution-json\)"):
        read_trace(path, "csv")
    assert list(read_trace(Path(path))) == []


def test_an_unbalanced_ibm_record_fails_without_reading_the_file_whole(tmp_path: Path) -> None:
    """A record whose braces never close looks "cut short" to a streaming reader: it stops at MAX_RECORD."""
    path = write(tmp_path, "t.json", '[{"a": [1, 2}, ' + ibm_text(*[ibm()] * 15_000)[1:])
    with pytest.raises(TraceError, match=f"record 0: invalid JSON: no end after {MAX_RECORD} characters$"):
        list(read_trace(path))
