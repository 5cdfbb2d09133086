"""--record's lines: distribution's JSON log form, read back by the trace reader as the same requests."""

from __future__ import annotations

import json
from pathlib import Path

from registry_tasks.load.arrivals import Dropped
from registry_tasks.load.traces import read_trace
from registry_tasks.plugin.reporting.recorder import Recorder, line
from registry_tasks.registry.errors import Failure, RegistryError


def event(name: str, method: str, exception: BaseException | None = None, **context: str) -> dict[str, object]:
    return {"request_type": method, "name": name, "response_time": 12.5, "response_length": 1234,
            "exception": exception, "context": context}  # fmt: skip


def test_lines_read_back_as_the_requests_they_record(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorder = Recorder(str(path))
    recorder(**event("blob-get", "GET", repository="lt/app", digest="sha256:" + "a" * 64))
    recorder(**event("manifest-get", "GET", Failure("404", RegistryError("MANIFEST_UNKNOWN", 404)), repository="lt/app",
                     reference="v1"))  # fmt: skip
    recorder(**event("upload-start", "POST", repository="lt/app"))
    recorder(**event("ping", "GET"))
    recorder(**event("image-pull", "PULL", repository="lt/app"))  # a whole operation: not a request
    recorder(**event("manifest-get", "GET", Failure("dropped: 10 arrivals", Dropped())))  # never sent
    recorder.close()
    assert recorder.written == 4
    records = list(read_trace(str(path)))
    assert [(r.kind, r.repository, r.status) for r in records] == [
        ("blob-get", "lt/app", 200), ("manifest-get", "lt/app", 404), ("upload-start", "lt/app", 202), ("ping", "", 200)
    ]  # fmt: skip
    assert records[0].written == 1234 and abs(records[0].duration - 0.0125) < 1e-9
    assert records[0].start <= records[1].start  # start = end - duration, in order


def test_a_line_is_one_json_object() -> None:
    data = line(event("manifest-put", "PUT", repository="a", reference="t"), "host-1", 0.0)
    assert data is not None and data.endswith(b"\n") and data.count(b"\n") == 1
    fields = json.loads(data)
    assert fields["http.request.uri"] == "/v2/a/manifests/t" and fields["http.response.status"] == 201
    assert fields["time"] == "1970-01-01T00:00:00.000000Z"
