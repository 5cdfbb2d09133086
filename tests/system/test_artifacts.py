"""OCI 1.1 artifacts against distribution 2.8, which has no referrers API: it answers no `OCI-Subject` and 404 to
/referrers/, so every push maintains the fallback tag and every listing reads it. Checked from outside with
plain HTTP (the tag, the artifacts it lists). With the referrers API (an in-test server):
tests/unit/test_registry_artifacts.py."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import gevent

from registry_tasks.image import OCI_INDEX, OCI_MANIFEST, Descriptor
from registry_tasks.registry.artifacts import ARTIFACT_KINDS, get_referrers, push_artifact, referrers_tag
from registry_tasks.registry.client import ClientConfig, RegistryClient
from registry_tasks.registry.workflows import push_image
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry

from ..support.helpers import Recorder, run_locust, stats


def http(
    method: str, url: str, accept: str = "", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One plain request (urllib, not our client): status, headers, body."""
    sent = {**({"Accept": accept} if accept else {}), **(headers or {})}
    request = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback registry
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def pushed_subject(client: RegistryClient, repository: str, seed: int) -> Descriptor:
    image = synthetic_image("1x4KiB", seed=seed)
    push_image(client, repository, "v1", image, "monolithic")
    return image.manifest.descriptor


def tag_index(registry: LocalRegistry, repository: str, subject: Descriptor) -> dict[str, Any]:
    status, headers, body = http(
        "GET", f"{registry.url}/v2/{repository}/manifests/{referrers_tag(subject.digest)}", OCI_INDEX
    )
    assert status == 200 and headers["Content-Type"] == OCI_INDEX
    return dict(json.loads(body))


def test_artifacts_pushed_to_distribution_2_8_are_listed_by_the_fallback_tag(registry: LocalRegistry) -> None:
    recorder = Recorder()
    client = RegistryClient(registry.url, recorder, ClientConfig())
    repository = "artifacts/app"
    subject = pushed_subject(client, repository, seed=11)
    recorder.events.clear()
    pushed = {kind: push_artifact(client, repository, subject, kind, f"{kind}-1") for kind in ARTIFACT_KINDS}
    assert recorder.failures() == []
    assert len(recorder.named("artifact-push")) == 3
    assert all(event["context"]["fallback"] for event in recorder.named("artifact-push"))  # no OCI-Subject
    assert len(recorder.named("manifest-put")) == 6  # each artifact, then the tag after each
    assert len(recorder.named("manifest-get")) == 3  # the tag read before each write

    index = tag_index(registry, repository, subject)
    assert index["mediaType"] == OCI_INDEX and index["schemaVersion"] == 2
    assert [entry["digest"] for entry in index["manifests"]] == list(pushed.values())
    for kind, entry in zip(ARTIFACT_KINDS, index["manifests"], strict=True):
        status, headers, body = http("GET", f"{registry.url}/v2/{repository}/manifests/{entry['digest']}", OCI_MANIFEST)
        assert status == 200 and headers["Docker-Content-Digest"] == entry["digest"]
        artifact = json.loads(body)
        assert artifact["subject"]["digest"] == subject.digest
        assert artifact["artifactType"] == entry["artifactType"] == ARTIFACT_KINDS[kind].artifact_type
        assert entry["annotations"] == artifact["annotations"] and entry["size"] == len(body)

    recorder.events.clear()
    listed = get_referrers(client, repository, subject.digest)
    assert listed == index["manifests"]
    assert [event["name"] for event in recorder.events] == ["referrers-get", "manifest-get"]
    assert recorder.failures() == []  # the API's 404 is an answer (use the tag), not a failure
    sboms = get_referrers(client, repository, subject.digest, "application/spdx+json")
    assert [entry["digest"] for entry in sboms] == [pushed["sbom"]]
    client.close()


def test_distribution_2_8_has_no_referrers_api_and_ignores_if_match(registry: LocalRegistry) -> None:
    """What the fallback has to live with: 404 (not even JSON) to /referrers/, an ETag on manifest GETs, and
    If-Match / If-None-Match on a manifest PUT not checked, so the tag's read-modify-write cannot be made safe."""
    client = RegistryClient(registry.url, Recorder(), ClientConfig())
    repository = "artifacts/probe"
    subject = pushed_subject(client, repository, seed=12)
    push_artifact(client, repository, subject, "signature", "probe-1")
    base = f"{registry.url}/v2/{repository}"
    status, headers, body = http("GET", f"{base}/referrers/{subject.digest}", OCI_INDEX)
    assert status == 404 and body == b"404 page not found\n"
    tag_url = f"{base}/manifests/{referrers_tag(subject.digest)}"
    status, headers, body = http("GET", tag_url, OCI_INDEX)
    assert status == 200 and headers["Etag"] == f'"{headers["Docker-Content-Digest"]}"'
    stale = {"Content-Type": OCI_INDEX, "If-Match": '"sha256:' + "0" * 64 + '"'}
    assert http("PUT", tag_url, body=body, headers=stale)[0] == 201  # a spec-minded server would answer 412
    exists = {"Content-Type": OCI_INDEX, "If-None-Match": "*"}
    assert http("PUT", tag_url, body=body, headers=exists)[0] == 201
    client.close()


def test_concurrent_pushes_onto_one_subject_on_distribution_2_8(registry: LocalRegistry) -> None:
    """Two greenlets push artifacts onto one subject at once. Both artifacts are stored; since distribution 2.8
    ignores If-Match, the tag keeps the last writer's list: both, or one if both read before either wrote."""
    recorder = Recorder()
    repository = "artifacts/race"
    clients = [RegistryClient(registry.url, recorder, ClientConfig()) for _ in range(2)]
    subject = pushed_subject(clients[0], repository, seed=13)
    before = push_artifact(clients[0], repository, subject, "attestation", "race-0")
    jobs = [gevent.spawn(push_artifact, client, repository, subject, "signature", f"race-{n}") for n, client in
            enumerate(clients, 1)]  # fmt: skip
    gevent.joinall(jobs, raise_error=True)
    racing = {job.value for job in jobs}
    assert recorder.failures() == [] and len(racing) == 2
    for digest in racing:
        assert http("GET", f"{registry.url}/v2/{repository}/manifests/{digest}", OCI_MANIFEST)[0] == 200
    listed = [entry["digest"] for entry in tag_index(registry, repository, subject)["manifests"]]
    assert listed[0] == before  # what both read survives whichever write lands last
    assert set(listed[1:]) <= racing and listed[1:]
    assert len(listed) == len(set(listed))
    assert [entry["digest"] for entry in get_referrers(clients[0], repository, subject.digest)] == listed
    for client in clients:
        client.close()


def test_artifact_tasks_through_locust_attach_to_the_seeded_image(registry: LocalRegistry, tmp_path: Path) -> None:
    """`--tags artifact-push referrers-get`: the seeded image gets artifacts whose subject is its digest, listed by
    the fallback tag (distribution 2.8), and reading its referrers fails nothing. One user: with two, 2.8 answers
    a GET racing a PUT of the same tag with 500 UNKNOWN now and then (its revision links are rewritten in place)."""
    image = synthetic_image("1x8KiB", seed=44)
    result = run_locust(
        tmp_path, "-H", registry.url, "-u", "1", "-r", "1", "-t", "4s", "--tags", "artifact-push", "referrers-get",
        "--synthetic-images", "1x8KiB", "--synthetic-seed", "44", "--client-profile", "minimal",
        "--repository-prefix", "arttasks", "--csv", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    repository = f"arttasks/{image.name}"
    subject = image.manifest.descriptor
    index = tag_index(registry, repository, subject)
    assert index["mediaType"] == OCI_INDEX and index["manifests"]
    for entry in index["manifests"]:
        url = f"{registry.url}/v2/{repository}/manifests/{entry['digest']}"
        artifact = json.loads(http("GET", url, OCI_MANIFEST)[2])
        assert artifact["subject"]["digest"] == subject.digest and artifact["artifactType"] == entry["artifactType"]
    table = stats(tmp_path / "run")
    assert int(table[("PUSH", "artifact-push")]["Request Count"]) >= 1
    assert int(table[("GET", "referrers-get")]["Request Count"]) >= 1
