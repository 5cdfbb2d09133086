"""`--record FILE`: this run's requests as JSON lines in distribution's own log form, so that `--replay FILE`
sends them again later (against another registry, or another version: an A/B of the same traffic).

One record per request, written when Locust is told of it: `msg` "response completed", `time` (its end,
RFC 3339), `http.request.method`, `http.request.uri` (rebuilt from the entry and its context),
`http.request.remoteaddr` (this process), `http.request.useragent`, `http.response.status`,
`http.response.written`, `http.response.duration`. Whole-operation entries (image-pull, image-push), token
fetches and dropped arrivals (never sent) are not requests to the registry and are left out. Each line is
one `write` to a file opened for appending, so the processes of a distributed run on one machine share it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from ...load.arrivals import Dropped
from ...registry import names
from ..open_model.arrival_pool import status_of

SUCCESS_STATUS = MappingProxyType({names.MANIFEST_PUT: 201, names.UPLOAD_FINISH: 201, names.BLOB_MOUNT: 201,
                                   names.UPLOAD_START: 202, names.UPLOAD_CHUNK: 202, names.MANIFEST_DELETE: 202})
NOT_REQUESTS = (*names.OPERATION_NAMES, names.TOKEN)


def uri(name: str, context: dict[str, Any]) -> str:
    repository = context.get("repository") or "-"
    reference = context.get("reference") or context.get("digest") or "-"
    if name == names.PING:
        return "/v2/"
    if name in (names.MANIFEST_GET, names.MANIFEST_HEAD, names.MANIFEST_PUT, names.MANIFEST_DELETE):
        return f"/v2/{repository}/manifests/{reference}"
    if name in (names.BLOB_GET, names.BLOB_HEAD):
        return f"/v2/{repository}/blobs/{reference}"
    if name == names.BLOB_MOUNT:
        return f"/v2/{repository}/blobs/uploads/?mount={reference}"
    if name == names.UPLOAD_START:
        return f"/v2/{repository}/blobs/uploads/"
    return f"/v2/{repository}/blobs/uploads/-"  # a chunk, finish or status: the replay sends it with its start


def line(event: dict[str, Any], client: str, now: float) -> bytes | None:
    """The JSON line of one request event, or None when it is not a request the registry saw."""
    name, exception = event["name"], event.get("exception")
    if name in NOT_REQUESTS or isinstance(getattr(exception, "cause", None), Dropped):  # never sent
        return None
    status = SUCCESS_STATUS.get(name, 200) if exception is None else (status_of(exception) or 0)
    record = {
        "msg": "response completed",
        "time": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "http.request.method": event["request_type"],
        "http.request.uri": uri(name, event.get("context") or {}),
        "http.request.remoteaddr": client,
        "http.request.useragent": "registry-tasks --record",
        "http.response.status": status,
        "http.response.written": int(event.get("response_length") or 0),
        "http.response.duration": f"{float(event['response_time'] or 0):.3f}ms",
    }
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


class Recorder:
    """A request listener appending one line per request to `path`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.client = f"{socket.gethostname()}-{os.getpid()}"
        self.fd = os.open(os.path.expanduser(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.written = 0

    def __call__(self, **event: Any) -> None:
        data = line(event, self.client, time.time())
        if data is not None and self.fd >= 0:
            os.write(self.fd, data)
            self.written += 1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def watch(recorder: Recorder | None, request_event: Any, path: str) -> Recorder | None:
    """At test start in a load process: the recorder into `path` (None when it is empty), listening to
    `request_event`; `recorder` (the last test's) is kept when its path is the same, else closed."""
    if recorder is not None and recorder.path != path:
        request_event.remove_listener(recorder)
        recorder.close()
        recorder = None
    if path and recorder is None:
        recorder = Recorder(path)
        request_event.add_listener(recorder)
    return recorder
