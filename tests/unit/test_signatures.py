"""Reading a registry's JSON request log, naming its requests, reducing an operation to a signature, and cutting a
long log of sequential operations into operations (tests/support/registry_log.py, signatures.py), on synthetic
records; tests/system/test_real_clients.py runs the same code on the logs of real clients."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from ..support.registry_log import (
    Request,
    capture,
    epoch_seconds,
    go_duration,
    log_offset,
    parse_record,
    read_requests,
    settled_offset,
)
from ..support.signatures import (
    NEW_CONNECTION_PER_REQUEST,
    POOLED,
    Signature,
    blob_get_order,
    classify,
    product,
    segment,
    signature,
    signatures,
    split_at_starts,
    split_by_repository,
)

D1, D2, D3, D4 = ("sha256:" + c * 64 for c in "abcd")
DOCKER_UA = "docker/20.10.24+dfsg1 go/go1.19.8 git-commit/5d6db84 os/linux arch/amd64"
_ports = itertools.count(40000)


def req(method: str, uri: str, status: int = 200, port: int | None = None, ua: str = DOCKER_UA) -> Request:
    """A request as parse_record makes it from a log record (a new port each time unless given)."""
    record = {
        "msg": "response completed" if status < 400 else "response completed with error",
        "http.request.method": method,
        "http.request.uri": uri,
        "http.request.remoteaddr": f"127.0.0.1:{port if port is not None else next(_ports)}",
        "http.request.useragent": ua,
        "http.response.status": status,
        "http.response.written": 0,
        "time": "2026-01-01T00:00:00.000000001Z",
    }
    parsed = parse_record(record)
    assert parsed is not None
    return parsed


def upload(repo: str, uuid: str, method: str, digest: str | None = None, status: int = 202, **kw: Any) -> Request:
    query = "_state=abc%3D%3D" + (f"&digest={digest.replace(':', '%3A')}" if digest else "")
    return req(method, f"/v2/{repo}/blobs/uploads/{uuid}?{query}", status, **kw)


def docker_pull(repo: str = "lib/app", tag: str = "1.0") -> list[Request]:
    """What docker 20.10 sends for a 2-layer image (measured)."""
    return [
        req("GET", "/v2/"),
        req("HEAD", f"/v2/{repo}/manifests/{tag}"),
        req("GET", f"/v2/{repo}/manifests/{D4}"),
        *(req("GET", f"/v2/{repo}/blobs/{d}") for d in (D1, D2, D3)),
    ]


def containerd_pull(repo: str = "lib/app", tag: str = "1.0") -> list[Request]:
    ua = "containerd/1.6.20~ds1"
    return [
        req("HEAD", f"/v2/{repo}/manifests/{tag}", port=50001, ua=ua),
        req("GET", f"/v2/{repo}/manifests/{D4}", port=50002, ua=ua),
        req("GET", f"/v2/{repo}/blobs/{D1}", port=50002, ua=ua),
        req("GET", f"/v2/{repo}/blobs/{D2}", port=50003, ua=ua),
        req("GET", f"/v2/{repo}/blobs/{D3}", port=50004, ua=ua),
    ]


def docker_push(repo: str) -> list[Request]:
    """Two layers (POST, PATCH, PUT, HEAD 200), then the config (HEAD 404 first), then the manifest."""
    requests = [req("GET", "/v2/")]
    for i, digest in enumerate((D1, D2, D3)):
        if digest == D3:
            requests.append(req("HEAD", f"/v2/{repo}/blobs/{digest}", 404))
        requests += [
            req("POST", f"/v2/{repo}/blobs/uploads/", 202),
            upload(repo, f"u{i}", "PATCH"),
            upload(repo, f"u{i}", "PUT", digest, 201),
            req("HEAD", f"/v2/{repo}/blobs/{digest}"),
        ]
    return [*requests, req("PUT", f"/v2/{repo}/manifests/1.0", 201)]


# --- the log ----------------------------------------------------------------------------------------------------


def record(method: str, uri: str, status: int = 200, address: str = "127.0.0.1:40000", **extra: Any) -> str:
    """One log line as distribution 2.8 writes it (`extra` overrides or adds fields)."""
    fields = {
        "msg": "response completed",
        "http.request.method": method,
        "http.request.uri": uri,
        "http.request.remoteaddr": address,
        "http.request.useragent": "skopeo/1.9.3",
        "http.response.status": status,
        "http.response.written": 2,
        "time": "2026-01-01T00:00:00.5Z",
        "level": "info",
        **extra,
    }
    return json.dumps(fields) + "\n"


def test_read_requests_takes_the_completed_records_between_offsets(tmp_path: Path) -> None:
    log = tmp_path / "registry.log"
    log.write_text(
        json.dumps({"msg": "listening on 127.0.0.1:5000", "level": "info"})
        + "\n"
        + record("GET", "/v2/", address="127.0.0.1:1111")
        + "panic: not json at all\n"
    )
    start = log_offset(log)
    with open(log, "a") as handle:
        handle.write(record("HEAD", "/v2/a/b/manifests/1.0", 404, "[::1]:2222", msg="response completed with error"))
        handle.write(record("PUT", "/v2/a/blobs/uploads/u1?_state=x%3D&digest=sha256%3Aab", 201))
        handle.write(record("GET", "/v2/a/blobs/x")[:40])  # a record still being written
    requests = read_requests(log, start)
    assert [(r.method, r.path, r.status) for r in requests] == [
        ("HEAD", "/v2/a/b/manifests/1.0", 404),
        ("PUT", "/v2/a/blobs/uploads/u1", 201),
    ]
    head, put = requests
    assert (head.remote, head.port, head.user_agent, head.written) == ("::1", 2222, "skopeo/1.9.3", 2)
    assert put.query == {"_state": "x=", "digest": "sha256:ab"}
    assert put.uri == "/v2/a/blobs/uploads/u1?_state=x%3D&digest=sha256%3Aab"
    assert [r.path for r in read_requests(log)] == ["/v2/", *(r.path for r in requests)]
    assert read_requests(log, 0, start) == read_requests(log)[:1]


def test_durations_and_times_give_the_order_requests_began() -> None:
    assert go_duration("6.218469ms") == pytest.approx(0.006218469)
    assert go_duration("1m0.5s") == pytest.approx(60.5)
    assert go_duration("512µs") == pytest.approx(0.000512)
    assert go_duration("") == 0.0
    assert epoch_seconds("1970-01-01T00:00:01.5Z") == pytest.approx(1.5)
    assert epoch_seconds("1970-01-01T01:00:01+01:00") == pytest.approx(1.0)
    assert epoch_seconds("2026-12-01T07:49:08.640926771Z") - epoch_seconds("2026-12-01T07:49:08Z") == pytest.approx(
        0.640926771
    )
    assert epoch_seconds("yesterday") == 0.0
    fields: dict[str, Any] = {"time": "1970-01-01T00:00:10Z", "http.response.duration": "5s"}
    long = parse_record(json.loads(record("GET", f"/v2/r/blobs/{D1}", **fields)))
    short = parse_record(json.loads(record("GET", f"/v2/r/blobs/{D2}", time="1970-01-01T00:00:07Z")))
    assert long is not None and short is not None
    assert (long.duration, long.started, short.started) == (5.0, pytest.approx(5.0), pytest.approx(7.0))
    # In the log the config completed first; the layer began first.
    assert blob_get_order([short, long], config_digest=D2) == ("layer", "config")


def test_a_record_of_another_kind_is_no_request() -> None:
    assert parse_record({"msg": "redis not configured", "level": "info"}) is None
    assert parse_record({"msg": "response completed"}) is None  # no request fields


def test_settled_offset_waits_for_the_log_to_be_quiet(tmp_path: Path) -> None:
    log = tmp_path / "registry.log"
    assert settled_offset(log, quiet=0.05, timeout=1) == 0  # not there yet
    log.write_text(record("GET", "/v2/"))
    assert settled_offset(log, quiet=0.05, timeout=1) == log.stat().st_size


def test_capture_takes_only_the_requests_of_its_block(tmp_path: Path) -> None:
    log = tmp_path / "registry.log"
    log.write_text(record("GET", "/v2/", address="127.0.0.1:1"))  # a readiness probe, before the block
    with capture(log, quiet=0.05) as captured, open(log, "a") as handle:
        handle.write(record("GET", "/v2/r/manifests/t", address="127.0.0.1:2"))
    assert [(r.path, r.port) for r in captured.requests] == [("/v2/r/manifests/t", 2)]
    assert captured.start < (captured.end or 0)


# --- kinds ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "uri", "kind", "repository", "extra"),
    [
        ("GET", "/v2/", "ping", None, {}),
        ("HEAD", "/v2/a/b/manifests/1.0", "manifest-head", "a/b", {"by": "tag", "reference": "1.0"}),
        ("GET", f"/v2/a/manifests/{D1}", "manifest-get", "a", {"by": "digest"}),
        ("PUT", "/v2/a/manifests/latest", "manifest-put", "a", {"by": "tag"}),
        ("HEAD", f"/v2/a/b/c/blobs/{D1}", "blob-head", "a/b/c", {"reference": D1}),
        ("GET", f"/v2/a/blobs/{D1}", "blob-get", "a", {}),
        ("POST", "/v2/a/b/blobs/uploads/", "upload-start", "a/b", {"mount": False}),
        ("POST", f"/v2/a/blobs/uploads/?mount={D1}&from=b", "upload-start", "a", {"mount": True}),
        ("PATCH", "/v2/a/blobs/uploads/u1?_state=x", "upload-patch", "a", {"upload": "u1"}),
        ("PUT", f"/v2/a/blobs/uploads/u1?_state=x&digest={D1}", "upload-put", "a", {"upload": "u1"}),
        ("DELETE", "/v2/a/blobs/uploads/u1?_state=x", "upload-delete", "a", {"upload": "u1"}),
        ("GET", "/v2/a/tags/list", "tags-list", "a", {}),
        ("GET", "/v2/_catalog?n=10", "catalog", None, {}),
        ("GET", "/favicon.ico", "other", None, {}),
    ],
)
def test_classify(method: str, uri: str, kind: str, repository: str | None, extra: dict[str, Any]) -> None:
    call = classify(req(method, uri))
    assert (call.kind, call.repository) == (kind, repository)
    for name, value in extra.items():
        assert getattr(call, name) == value, name


def test_product_is_the_user_agent_s_first_token_before_the_slash() -> None:
    assert product(DOCKER_UA) == "docker"
    assert product("containerd/1.6.20~ds1") == "containerd"
    assert product("Python-urllib/3.11") == "Python-urllib"
    assert product("") == ""


# --- signatures -------------------------------------------------------------------------------------------------


def test_signature_of_a_docker_pull() -> None:
    assert signature(docker_pull()) == Signature(
        pings=1,
        manifest_resolution=("HEAD tag 200", "GET digest 200"),
        blob_gets=3,
        blob_heads=(),
        posts=0,
        mounts=0,
        patches_per_upload=(),
        blob_puts=0,
        upload_deletes=0,
        manifest_heads=(200,),
        manifest_puts=0,
        last="blob-get",
        connections=NEW_CONNECTION_PER_REQUEST,
        product="docker",
    )


def test_signature_of_a_docker_push() -> None:
    measured = signature(docker_push("r"))
    assert (measured.pings, measured.posts, measured.patches_per_upload, measured.blob_puts) == (1, 3, (1, 1, 1), 3)
    assert measured.blob_heads == (200, 200, 200, 404)
    assert (measured.manifest_resolution, measured.manifest_puts, measured.last) == ((), 1, "manifest-put")


def test_uploads_without_patch_and_mounts() -> None:
    ua = "containerd/1.6.20~ds1"
    requests = [
        req("HEAD", f"/v2/r/blobs/{D1}", 404, port=1, ua=ua),
        req("POST", "/v2/r/blobs/uploads/", 202, port=1, ua=ua),
        upload("r", "u1", "PUT", D1, 201, port=1, ua=ua),
        req("POST", f"/v2/r/blobs/uploads/?mount={D2}&from=other", 201, port=1, ua=ua),
        req("POST", f"/v2/r/blobs/uploads/?mount={D3}&from=other", 202, port=2, ua=ua),
        upload("r", "u2", "DELETE", status=204, port=2, ua=ua),
        req("HEAD", "/v2/r/manifests/1.0", 404, port=2, ua=ua),
        req("PUT", "/v2/r/manifests/1.0", 201, port=2, ua=ua),
    ]
    measured = signature(requests)
    assert (measured.posts, measured.mounts, measured.patches_per_upload) == (3, 2, (0, 0))
    assert (measured.blob_puts, measured.upload_deletes) == (1, 1)
    assert (measured.manifest_resolution, measured.manifest_heads) == (("HEAD tag 404",), (404,))
    assert (measured.connections, measured.product) == (POOLED, "containerd")


def test_a_put_on_an_upload_without_digest_is_no_blob_put() -> None:
    requests = [req("POST", "/v2/r/blobs/uploads/", 202), upload("r", "u", "PUT", None, 400)]
    assert signature(requests).blob_puts == 0


def test_signature_reads_well_and_tells_its_differences() -> None:
    docker, containerd = signature(docker_pull()), signature(containerd_pull())
    line = str(docker)
    assert "\n" not in line
    assert "pings=1 manifests=[HEAD tag 200, GET digest 200] blob-gets=3" in line
    assert "connections='new connection per request' product=docker" in line
    assert "manifest_resolution  [HEAD tag 200, GET digest 200]" in docker.table()
    assert docker.differences(containerd) == {
        "pings": (1, 0),
        "connections": (NEW_CONNECTION_PER_REQUEST, POOLED),
        "product": ("docker", "containerd"),
    }
    assert docker.to_json()["manifest_resolution"] == ["HEAD tag 200", "GET digest 200"]
    assert json.loads(json.dumps(docker.to_json())) == docker.to_json()
    assert signature([]).last == ""


def test_signatures_are_comparable_and_hashable() -> None:
    assert signature(docker_pull("a")) == signature(docker_pull("b/c", tag="2"))
    assert len({signature(docker_pull()), signature(docker_pull()), signature(containerd_pull())}) == 2


# --- segmentation -----------------------------------------------------------------------------------------------


def paths(operations: list[list[Request]]) -> list[list[str]]:
    return [[request.path for request in operation] for operation in operations]


def test_pushes_split_by_repository_the_ping_going_with_the_next() -> None:
    log = [*docker_push("a"), *docker_push("b"), *docker_push("c/d")]
    operations = segment(log, "push")
    assert [len(op) for op in operations] == [len(docker_push("x"))] * 3
    assert [op[0].path for op in operations] == ["/v2/"] * 3
    assert [classify(op[1]).repository for op in operations] == ["a", "b", "c/d"]
    assert signatures(log, "push") == [signature(docker_push("x"))] * 3


def test_a_ping_inside_an_operation_stays_there_and_trailing_pings_are_their_own() -> None:
    log = [
        req("POST", "/v2/a/blobs/uploads/", 202),
        req("GET", "/v2/"),
        req("PUT", "/v2/a/manifests/1", 201),
        req("GET", "/v2/"),
        req("PUT", "/v2/b/manifests/1", 201),
        req("GET", "/v2/"),
    ]
    assert paths(split_by_repository(log)) == [
        ["/v2/a/blobs/uploads/", "/v2/", "/v2/a/manifests/1"],
        ["/v2/", "/v2/b/manifests/1"],
        ["/v2/"],
    ]


def test_pulls_of_a_pinging_client_split_at_each_ping() -> None:
    log = [*docker_pull(), *docker_pull(), *docker_pull()]
    operations = segment(log, "pull")
    assert [len(op) for op in operations] == [6, 6, 6]
    assert all(op[0].path == "/v2/" for op in operations)
    assert signatures(log, "pull") == [signature(docker_pull())] * 3


def timed(request: Request, began: float, took: float) -> Request:
    """`request` as the registry logs it when it began at `began` (seconds since the epoch) and took `took`."""
    return dataclasses.replace(request, time=f"1970-01-01T00:00:{began + took:012.9f}Z", duration=took)


def test_operations_are_cut_by_when_requests_began_not_by_log_order() -> None:
    """The registry logs a request when its handler returns, which can be after the client has read the answer
    and begun its next pull: the first pull's last blob GET is logged after the second pull's ping (seen in CI)."""
    first = [timed(request, 1 + i * 0.01, 0.002) for i, request in enumerate(docker_pull())]
    second = [timed(request, 2 + i * 0.01, 0.002) for i, request in enumerate(docker_pull())]
    late = timed(first[-1], 1.05, 1.5)  # began before the second pull's ping, logged after it
    log = [*first[:-1], second[0], late, *second[1:]]
    assert [request.path for request in log].index("/v2/", 1) < log.index(late)
    assert [len(op) for op in segment(log, "pull")] == [6, 6]
    assert signatures(log, "pull") == [signature(docker_pull())] * 2
    pushes = [*docker_push("a"), *docker_push("b")]
    pushes = [timed(request, 1 + i * 0.01, 0.002) for i, request in enumerate(pushes)]
    half = len(pushes) // 2
    pushes[half - 1] = timed(pushes[half - 1], 1 + (half - 1) * 0.01, 0.05)  # the manifest PUT, logged late
    crossed = [*pushes[: half - 1], pushes[half], pushes[half - 1], *pushes[half + 1 :]]
    assert signatures(crossed, "push") == [signature(docker_push("x"))] * 2


def test_pulls_of_a_client_that_does_not_ping_split_at_the_manifest_by_tag() -> None:
    log = [*containerd_pull(), *containerd_pull(), *containerd_pull("other/repo")]
    operations = split_at_starts(log)
    assert [len(op) for op in operations] == [5, 5, 5]
    assert [op[0].method + " " + op[0].path for op in operations] == [
        "HEAD /v2/lib/app/manifests/1.0",
        "HEAD /v2/lib/app/manifests/1.0",
        "HEAD /v2/other/repo/manifests/1.0",
    ]


def test_a_head_then_get_by_tag_opens_one_pull() -> None:
    """containerd's resolver falls back to GET by tag when HEAD is not allowed: still one operation."""
    one = [
        req("HEAD", "/v2/r/manifests/1", 405),
        req("GET", "/v2/r/manifests/1"),
        req("GET", f"/v2/r/blobs/{D1}"),
    ]
    assert [len(op) for op in split_at_starts([*one, *one])] == [3, 3]


def test_requests_before_the_first_start_belong_to_the_first_operation() -> None:
    log = [req("GET", f"/v2/r/blobs/{D1}"), *docker_pull()]
    assert [len(op) for op in split_at_starts(log)] == [7]
    assert split_at_starts([]) == [] == split_by_repository([])


def test_segment_wants_a_kind() -> None:
    with pytest.raises(ValueError, match="push"):
        segment([], "copy")
