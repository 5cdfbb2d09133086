"""The real clients (docker 20.10, containerd 1.6's ctr, skopeo 1.9) push then pull the fixture image on a fresh
registry; each operation's requests, taken from the registry's own log by offset, reduce to the signature that
docs/real-clients.md describes (where the real program differs from that page, the program wins:
see DIFFERENCES_FROM_THE_REFERENCE). The measured signatures go to `signatures.json` in the test's tmp dir and to
stdout (`pytest -s`).

Daemons start at most once for the module (`real_clients`, module scope); a daemon that cannot start skips its
tests locally and fails them under CI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_tasks.tools.local_registry import LocalRegistry, start_registry

from ..support.real_clients import (
    FIXTURE_CONFIG_DIGEST,
    FIXTURE_TAG,
    DaemonStartError,
    RealClients,
    containerd_daemon,
    real_clients,  # noqa: F401 - the module-scoped fixture
    real_signatures,
    require_client,
    signatures_json,
)
from ..support.registry_log import REQUEST_LOG_CONFIG, Request, capture, read_requests, settled_offset
from ..support.signatures import (
    NEW_CONNECTION_PER_REQUEST,
    POOLED,
    Signature,
    blob_get_order,
    classify,
    segment,
    signature,
)

NEW = NEW_CONNECTION_PER_REQUEST


def pull(pings: int, resolution: tuple[str, ...], connections: str, product: str) -> Signature:
    return Signature(
        pings=pings,
        manifest_resolution=resolution,
        blob_gets=3,
        blob_heads=(),
        posts=0,
        mounts=0,
        patches_per_upload=(),
        blob_puts=0,
        upload_deletes=0,
        manifest_heads=tuple(sorted(int(step.split()[-1]) for step in resolution if step.startswith("HEAD"))),
        manifest_puts=0,
        last="blob-get",
        connections=connections,
        product=product,
    )


def push(
    pings: int,
    blob_heads: tuple[int, ...],
    patches: tuple[int, ...],
    manifest_heads: tuple[int, ...],
    connections: str,
    product: str,
) -> Signature:
    return Signature(
        pings=pings,
        manifest_resolution=tuple(f"HEAD tag {status}" for status in manifest_heads),
        blob_gets=0,
        blob_heads=blob_heads,
        posts=3,
        mounts=0,
        patches_per_upload=patches,
        blob_puts=3,
        upload_deletes=0,
        manifest_heads=manifest_heads,
        manifest_puts=1,
        last="manifest-put",
        connections=connections,
        product=product,
    )


EXPECTED: dict[tuple[str, str], Signature] = {
    # GET /v2/, HEAD tag, GET digest, 3 blob GETs; a new TCP connection for every request.
    ("docker", "pull"): pull(1, ("HEAD tag 200", "GET digest 200"), NEW, "docker"),
    # Layers: POST, one PATCH, PUT ?digest=, HEAD 200; the config: HEAD 404 first, then the same; the manifest last.
    ("docker", "push"): push(1, (200, 200, 200, 404), (1, 1, 1), (), NEW, "docker"),
    # No ping; HEAD tag, GET digest, 3 blobs, on pooled connections.
    ("containerd", "pull"): pull(0, ("HEAD tag 200", "GET digest 200"), POOLED, "containerd"),
    # HEAD 404 x3, POST x3, PUT ?digest= x3 with the body (no PATCH), HEAD manifest 404, PUT manifest; pooled.
    ("containerd", "push"): push(0, (404, 404, 404), (0, 0, 0), (404,), POOLED, "containerd"),
    # GET /v2/, GET tag, 3 blob GETs; no two requests on one connection.
    ("skopeo", "pull"): pull(1, ("GET tag 200",), NEW, "skopeo"),
    # GET /v2/, HEAD 404 x3, POST x3, one PATCH per upload, PUT ?digest= x3, PUT manifest; new connections.
    ("skopeo", "push"): push(1, (404, 404, 404), (1, 1, 1), (), NEW, "skopeo"),
}
"""What each real client sends for the 2-layer fixture (config + 2 layers), as measured here; it agrees with
docs/real-clients.md except for DIFFERENCES_FROM_THE_REFERENCE."""

DIFFERENCES_FROM_THE_REFERENCE = {
    "containerd pull order": "the reference says 'config, then layers'; ctr 1.6 here begins the layer GETs before "
    "the config GET in most runs (by the registry's start times: time - duration); not asserted",
    "skopeo pull order": "skopeo 1.9 (containers/image 5.2x) begins the config GET after both layer GETs in every "
    "run; the reference's 'config first' is for containers/image >= 5.34; not asserted",
    "docker pull manifest cache": "dockerd 20.10 caches pulled manifests in containerd's content store (namespace "
    "moby): a pull whose manifest is still cached sends HEAD by tag and no GET by digest; removing the image frees "
    "the cache only at containerd's next garbage collection. RealClients.docker_pull empties it first",
    "docker push of known layers": "the push sequence of the reference (no HEAD before a layer's POST) holds for "
    "layers docker never met; after a push or pull of them (its distribution metadata) it sends HEAD 404 before "
    "each POST, or mounts from a remembered repository. RealClients.docker_push makes it forget first",
    "skopeo push to a second repository": "skopeo mounts too: its blob-info cache (/var/lib/containers/cache as "
    "root, shared by all runs) remembers blobs per registry and repository, and a push to another repository of "
    "that registry sends HEAD 200 to the remembered one and POST ?mount=&from= (201). RealClients.skopeo gives "
    "each run a fresh cache",
    "invisible TLS attempt": "docker and skopeo open one TLS connection first (an https ping), which fails against "
    "the plain-HTTP registry before any HTTP request; the registry logs nothing of it (1 more TCP connection than "
    "logged requests). ctr --plain-http does not",
}
"""Where the real programs here add to or differ from docs/real-clients.md (the signatures in
EXPECTED agree with its table)."""

CLIENTS = ("docker", "containerd", "skopeo")


@pytest.fixture
def logged_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    """A fresh registry whose log has one JSON record per request."""
    with start_registry(binary=registry_binary, extra_config=REQUEST_LOG_CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Signature]]:
    """Every signature the module measured; written to signatures.json and printed at the module's end."""
    found: dict[str, Signature] = {}
    yield found
    if found:
        path = tmp_path_factory.mktemp("real-signatures") / "signatures.json"
        path.write_text(signatures_json(found) + "\n")
        print(f"\nmeasured signatures of the real clients ({path}):")
        for name, value in sorted(found.items()):
            print(f"  {name:<16} {value}")


def explain(client: str, kind: str, requests: list[Request], got: Signature) -> str:
    lines = [f"{client} {kind}: measured {got}", f"expected {EXPECTED[client, kind]}", "requests:"]
    lines += [f"  {request}  [{classify(request).kind}] {request.user_agent[:40]}" for request in requests]
    return "\n".join(lines)


@pytest.mark.parametrize("client", CLIENTS)
def test_real_client_push_then_pull(
    client: str,
    real_clients: RealClients,  # noqa: F811 - the imported fixture
    logged_registry: LocalRegistry,
    measured: dict[str, Signature],
    tmp_path: Path,
) -> None:
    require_client(real_clients, client)
    start = settled_offset(logged_registry.log_path)
    probe = read_requests(logged_registry.log_path, 0, start)
    assert [(r.method, r.path) for r in probe] == [("GET", "/v2/")], "start_registry's readiness probe"
    ref = f"{logged_registry.host_port}/real/{client}:1.0"

    with capture(logged_registry.log_path) as pushed:
        real_clients.push(client, ref)
    with capture(logged_registry.log_path) as pulled:
        real_clients.pull(client, ref)

    got = {"push": signature(pushed.requests), "pull": signature(pulled.requests)}
    order = blob_get_order(pulled.requests, FIXTURE_CONFIG_DIGEST)  # recorded, not asserted: downloads run concurrently
    results: dict[str, object] = {kind: value.to_json() for kind, value in got.items()}
    results["pull blob GETs in the order begun"] = list(order)
    (tmp_path / "signatures.json").write_text(json.dumps(results, indent=2) + "\n")
    for kind, value in got.items():
        measured[f"{client} {kind}"] = value
        print(f"\n{client} {kind}: {value}")
    print(f"{client} pull: blob GETs begun in the order {', '.join(order)}")

    assert pushed.start == start, "nothing between the probe and the push"
    for kind, captured in (("push", pushed), ("pull", pulled)):
        assert not any(r.user_agent.startswith("Python-urllib") for r in captured.requests)
        assert got[kind] == EXPECTED[client, kind], explain(client, kind, captured.requests, got[kind])
    assert sorted(order) == ["config", "layer", "layer"]

    push_calls = [classify(r) for r in pushed.requests]
    assert {call.repository for call in push_calls if call.kind != "ping"} == {f"real/{client}"}
    if EXPECTED[client, "push"].pings:
        assert push_calls[0].kind == "ping", "the ping comes first"
    pull_calls = [classify(r) for r in pulled.requests]
    first_manifest = next(call for call in pull_calls if call.kind.startswith("manifest"))
    assert (first_manifest.by, first_manifest.reference) == ("tag", "1.0")


@pytest.mark.parametrize("client", CLIENTS)
def test_segment_splits_a_real_log_of_sequential_operations(
    client: str,
    real_clients: RealClients,  # noqa: F811 - the imported fixture
    logged_registry: LocalRegistry,
) -> None:
    """Two pushes to two repositories, then two pulls of one of them, in one log window: `segment` finds the
    operations, and each has the signature of that operation run alone."""
    require_client(real_clients, client)
    refs = [f"{logged_registry.host_port}/seq/{client}-{i}:1.0" for i in (1, 2)]
    with capture(logged_registry.log_path) as pushes:
        for ref in refs:
            real_clients.push(client, ref)
    with capture(logged_registry.log_path) as pulls:
        for _ in range(2):
            real_clients.pull(client, refs[0])

    push_operations = segment(pushes.requests, "push")
    assert [{classify(r).repository for r in op} - {None} for op in push_operations] == [
        {f"seq/{client}-1"},
        {f"seq/{client}-2"},
    ]
    assert [signature(op) for op in push_operations] == [EXPECTED[client, "push"]] * 2
    pull_operations = segment(pulls.requests, "pull")
    assert [signature(op) for op in pull_operations] == [EXPECTED[client, "pull"]] * 2


@pytest.mark.parametrize("kind", ["push", "pull"])
@pytest.mark.parametrize("client", CLIENTS)
def test_real_signatures_runs_one_operation(
    client: str,
    kind: str,
    real_clients: RealClients,  # noqa: F811 - the imported fixture
    logged_registry: LocalRegistry,
) -> None:
    """What another test compares its own signatures with: one real operation on a given registry."""
    require_client(real_clients, client)
    assert real_signatures(client, kind, logged_registry, real_clients) == EXPECTED[client, kind]


def test_the_fixture_loads_into_every_client(real_clients: RealClients) -> None:  # noqa: F811
    """The one tarball is a legacy `docker save`: docker load, ctr import and skopeo docker-archive all read it."""
    for client in CLIENTS:
        require_client(real_clients, client)
    assert f"Loaded image: {FIXTURE_TAG}" in real_clients.docker("load", "-i", str(real_clients.fixture)).stdout
    namespace = "fixture-check"
    real_clients.ctr(namespace, "images", "import", str(real_clients.fixture))
    assert "docker.io/example/app:1.0" in real_clients.ctr(namespace, "images", "ls", "--quiet").stdout
    out = real_clients.skopeo("inspect", f"docker-archive:{real_clients.fixture}").stdout
    assert len(json.loads(out)["Layers"]) == 2


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_daemon_is_stopped_and_its_root_removed_also_when_the_block_fails(real_clients: RealClients) -> None:  # noqa: F811
    """By its pid, within bounded waits, whatever happens in the block (a containerd of its own: cheap)."""
    require_client(real_clients, "containerd")
    with pytest.raises(RuntimeError, match="the test failed"), containerd_daemon() as daemon:
        pid, root = daemon.process.pid, daemon.root
        assert _alive(pid)
        raise RuntimeError("the test failed")
    assert not _alive(pid)
    assert not root.exists()


def test_a_daemon_that_cannot_start_says_why(real_clients: RealClients) -> None:  # noqa: F811
    require_client(real_clients, "containerd")
    with (
        pytest.raises(DaemonStartError, match="containerd exited with code") as error,
        containerd_daemon("this is = not [ toml\n"),
    ):
        pass
    assert "its log:" in str(error.value)
