"""Our client profiles against the real clients: the registry's own log is the judge.

For docker, containerd (ctr) and skopeo, the real program pulls and pushes the fixture image once; then a
one-user, 6 s Locust run with `--client-profile` of that client pulls (or pushes, with --unique-layers, so that
every push is of layers the client never met) the same image again and again on the same registry. Each of
our image operations is cut out of the log and its signature (pings, manifest resolution, blob GETs, HEAD
answers, POSTs and mounts, PATCHes per upload, PUTs, manifest HEADs and PUTs, the last request, connection
policy, the user agent's product) compared with the real client's: at least 90% must be equal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_tasks.tools.local_registry import LocalRegistry, start_registry

from ..support.helpers import ROOT, run_locust, stats
from ..support.real_clients import RealClients, real_clients, real_signatures, require_client, write_fixture
from ..support.registry_log import REQUEST_LOG_CONFIG, read_requests, settled_offset
from ..support.signatures import Signature, product, signatures

__all__ = ["real_clients"]  # the module-scoped fixture, found by pytest in this module's namespace

CLIENTS = ("docker", "containerd", "skopeo")
KINDS = ("pull", "push")
SHARE_REQUIRED = 0.9
REPORTS = ROOT / "reports" / "profiles"
"""Where each comparison is written (real signature, ours, counts), for people to read."""


@pytest.fixture(scope="module")
def judged_registry(registry_binary: str) -> Iterator[LocalRegistry]:
    """A registry logging every request as JSON: the ground truth of both sides."""
    with start_registry(binary=registry_binary, extra_config=REQUEST_LOG_CONFIG) as running:
        yield running


def our_signatures(registry: LocalRegistry, workdir: Path, profile: str, kind: str) -> list[Signature]:
    """Run Locust as `profile` for 6 s doing only `kind`, and return the signature of each image operation."""
    fixtures = workdir / "fixtures"
    write_fixture(fixtures)
    start = settled_offset(registry.log_path)
    result = run_locust(
        workdir,
        "-H", registry.url,
        "-u", "1", "-r", "1", "-t", "6s",
        "--fixtures-dir", str(fixtures),
        "--client-profile", profile,
        "--tags", f"image-{kind}",
        *(["--unique-layers"] if kind == "push" else []),
        "--repository-prefix", f"ours/{profile}-{kind}",
        "--csv", str(workdir / "run"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    table = stats(workdir / "run")
    assert all(row["Failure Count"] == "0" for row in table.values()), table
    requests = read_requests(registry.log_path, start, settled_offset(registry.log_path))
    ours = [request for request in requests if product(request.user_agent) == profile]  # seeding sends as minimal
    return signatures(ours, kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("client", CLIENTS)
def test_our_profile_sends_what_the_real_client_sends(
    client: str, kind: str, real_clients: RealClients, judged_registry: LocalRegistry, tmp_path: Path
) -> None:
    require_client(real_clients, client)
    REPORTS.mkdir(parents=True, exist_ok=True)
    real = real_signatures(client, kind, judged_registry, real_clients)
    ours = our_signatures(judged_registry, tmp_path, client, kind)
    equal = [signature for signature in ours if signature == real]
    differing = [signature.differences(real) for signature in ours if signature != real]
    common = str(max(ours, key=ours.count)) if ours else ""
    report = {
        "client": client, "kind": kind, "real": str(real), "ours_most_common": common,
        "operations": len(ours), "equal": len(equal), "first_differences": [str(d) for d in differing[:3]],
    }  # fmt: skip
    (REPORTS / f"{client}-{kind}.json").write_text(json.dumps(report, indent=2) + "\n")
    assert len(ours) >= 3, f"only {len(ours)} image operations in 6 s"
    assert len(equal) >= SHARE_REQUIRED * len(ours), (
        f"{len(equal)}/{len(ours)} of our {kind}s as {client} have the real signature\n"
        f"real: {real}\nours, first that differ: {differing[:3]}"
    )
