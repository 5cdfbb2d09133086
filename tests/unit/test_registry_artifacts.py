"""OCI 1.1 artifacts: the manifests pushed, the fallback tag's name, and push + referrers listing against an
in-test registry that has the referrers API (none installed here has it), or plays one without it. Against
distribution 2.8 (fallback tag only): tests/system/test_artifacts.py."""

from __future__ import annotations

import json
from collections.abc import Iterator

import gevent
import pytest

from registry_tasks.image import OCI_INDEX, OCI_MANIFEST, Descriptor, Image
from registry_tasks.registry.artifacts import (
    ARTIFACT_KINDS,
    CREATED,
    EMPTY_CONFIG,
    add_referrer,
    build_artifact,
    get_referrers,
    push_artifact,
    referrers_tag,
)
from registry_tasks.registry.client import RegistryClient
from registry_tasks.registry.errors import RequestFailed
from registry_tasks.registry.workflows import push_image
from registry_tasks.sources import synthetic_image

from ..support.helpers import Recorder
from ..support.referrers_server import RegistryState, referrers_registry

SUBJECT = Descriptor(OCI_MANIFEST, "sha256:" + "ab" * 32, 1234)
WHEN = "2026-01-02T03:04:05Z"
SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"


@pytest.mark.parametrize("kind", sorted(ARTIFACT_KINDS))
def test_an_artifact_manifest_has_the_fields_of_spec_1_1(kind: str) -> None:
    artifact = build_artifact(kind, SUBJECT, "t1", "app", WHEN)
    manifest = json.loads(artifact.manifest.body.read_all())
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == OCI_MANIFEST == artifact.manifest.descriptor.media_type
    assert manifest["artifactType"] == ARTIFACT_KINDS[kind].artifact_type
    assert manifest["config"] == EMPTY_CONFIG.descriptor.to_json()
    assert manifest["subject"] == {"mediaType": OCI_MANIFEST, "digest": SUBJECT.digest, "size": 1234}
    assert manifest["annotations"] == {CREATED: WHEN}
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == ARTIFACT_KINDS[kind].layer_type
    assert (layer["digest"], layer["size"]) == (artifact.layer.digest, artifact.layer.size)
    assert json.loads(artifact.layer.body.read_all())  # a JSON payload of the kind's shape
    assert artifact.referrer() == {
        "mediaType": OCI_MANIFEST,
        "digest": artifact.digest,
        "size": artifact.manifest.size,
        "artifactType": ARTIFACT_KINDS[kind].artifact_type,
        "annotations": {CREATED: WHEN},
    }


def test_the_kinds_are_a_signature_an_sbom_and_an_attestation() -> None:
    types = {name: (kind.artifact_type, kind.layer_type) for name, kind in ARTIFACT_KINDS.items()}
    assert types == {
        "signature": (SIGNATURE_TYPE, "application/vnd.dev.cosign.simplesigning.v1+json"),
        "sbom": ("application/spdx+json", "application/spdx+json"),
        "attestation": ("application/vnd.in-toto+json", "application/vnd.in-toto+json"),
    }


def test_the_empty_config_is_the_image_spec_empty_descriptor() -> None:
    assert EMPTY_CONFIG.descriptor.to_json() == {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "size": 2,
    }
    assert EMPTY_CONFIG.body.read_all() == b"{}"


@pytest.mark.parametrize("kind", sorted(ARTIFACT_KINDS))
def test_each_token_makes_another_artifact_and_the_same_token_the_same_bytes(kind: str) -> None:
    one, again, other = (build_artifact(kind, SUBJECT, token, "app", WHEN) for token in ("t1", "t1", "t2"))
    assert one.manifest.body.read_all() == again.manifest.body.read_all()
    assert one.digest != other.digest
    assert one.layer.digest != other.layer.digest


def test_an_unknown_kind_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="signature, sbom, attestation"):
        build_artifact("vex", SUBJECT, "t1")


@pytest.mark.parametrize(
    ("digest", "tag"),
    [
        ("sha256:" + "a" * 64, "sha256-" + "a" * 64),
        ("sha512:" + "a" * 128, "sha512-" + "a" * 64),
        (  # the spec's own example of truncation and replacement
            "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:"
            "alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation",
            "test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot",
        ),
    ],
)
def test_the_fallback_tag_follows_the_referrers_tag_schema(digest: str, tag: str) -> None:
    assert referrers_tag(digest) == tag


# --- against the in-test registry -------------------------------------------------------------------------------


@pytest.fixture
def image() -> Image:
    return synthetic_image("1x1KiB", seed=7)


def subject_of(image: Image) -> Descriptor:
    return image.manifest.descriptor


def push_subject(client: RegistryClient, image: Image) -> Descriptor:
    push_image(client, "app", "v1", image, "monolithic")
    return subject_of(image)


@pytest.fixture
def api_registry() -> Iterator[tuple[str, RegistryState]]:
    with referrers_registry(api=True, page_size=2) as running:
        yield running


@pytest.fixture
def old_registry() -> Iterator[tuple[str, RegistryState]]:
    with referrers_registry(api=False, page_size=2) as running:
        yield running


def test_with_the_referrers_api_no_tag_is_written_and_pages_are_followed(
    api_registry: tuple[str, RegistryState], image: Image
) -> None:
    url, state = api_registry
    recorder = Recorder()
    client = RegistryClient(url, recorder)
    subject = push_subject(client, image)
    recorder.events.clear()
    pushed = [push_artifact(client, "app", subject, kind, f"t{n}") for n, kind in enumerate([*ARTIFACT_KINDS, "sbom"])]
    assert recorder.failures() == []
    assert recorder.named("manifest-get") == []  # the registry answered OCI-Subject: no fallback tag
    assert ("app", referrers_tag(subject.digest)) not in state.tags
    assert [event["context"]["reference"] for event in recorder.named("manifest-put")] == pushed
    pushes = recorder.named("artifact-push")
    assert [(event["request_type"], event["context"]["fallback"]) for event in pushes] == [("PUSH", False)] * 4
    assert all(event["context"]["subject"] == subject.digest and event["response_length"] > 0 for event in pushes)

    recorder.events.clear()
    listed = get_referrers(client, "app", subject.digest)
    assert sorted(entry["digest"] for entry in listed) == sorted(pushed)
    assert len(recorder.named("referrers-get")) == 2  # 4 referrers, 2 a page
    assert all(entry["annotations"][CREATED] and entry["artifactType"] for entry in listed)

    recorder.events.clear()
    signatures = get_referrers(client, "app", subject.digest, SIGNATURE_TYPE)
    assert [entry["digest"] for entry in signatures] == [pushed[0]]
    (page,) = recorder.named("referrers-get")
    assert ("GET", f"/v2/app/referrers/{subject.digest}?artifactType={SIGNATURE_TYPE.replace('+', '%2B')}") in [
        (method, path.replace("%2F", "/")) for method, path in state.requests
    ]
    assert page["context"]["digest"] == subject.digest
    client.close()


def test_the_fallback_tag_lists_what_the_api_would(old_registry: tuple[str, RegistryState], image: Image) -> None:
    url, state = old_registry
    recorder = Recorder()
    client = RegistryClient(url, recorder)
    subject = push_subject(client, image)
    recorder.events.clear()
    pushed = [push_artifact(client, "app", subject, kind, f"t{n}") for n, kind in enumerate(ARTIFACT_KINDS)]
    assert recorder.failures() == []
    tag = referrers_tag(subject.digest)
    index = state.tag_document("app", tag)
    assert index is not None and index["mediaType"] == OCI_INDEX
    assert [entry["digest"] for entry in index["manifests"]] == pushed
    tag_puts = [event for event in recorder.named("manifest-put") if event["context"]["reference"] == tag]
    assert len(tag_puts) == 3 and len(recorder.named("manifest-get")) == 3
    assert all(event["context"]["fallback"] for event in recorder.named("artifact-push"))

    recorder.events.clear()
    from_tag = get_referrers(client, "app", subject.digest)
    assert [event["name"] for event in recorder.events] == ["referrers-get", "manifest-get"]  # 404, then the tag
    assert get_referrers(client, "app", subject.digest, SIGNATURE_TYPE) == [from_tag[0]]
    state.api = True  # the same registry with the API switched on: the same answer
    from_api = get_referrers(client, "app", subject.digest)
    assert sorted(from_tag, key=lambda entry: entry["digest"]) == from_api
    client.close()


def test_a_filter_the_registry_did_not_apply_is_applied_by_the_client(
    api_registry: tuple[str, RegistryState], image: Image
) -> None:
    url, state = api_registry
    state.filters = False
    client = RegistryClient(url, Recorder())
    subject = push_subject(client, image)
    pushed = {kind: push_artifact(client, "app", subject, kind, kind) for kind in ARTIFACT_KINDS}
    sboms = get_referrers(client, "app", subject.digest, "application/spdx+json")
    assert [entry["digest"] for entry in sboms] == [pushed["sbom"]]
    client.close()


def test_a_writer_coming_between_read_and_write_makes_the_update_read_again(
    old_registry: tuple[str, RegistryState], image: Image
) -> None:
    url, state = old_registry
    recorder = Recorder()
    client = RegistryClient(url, recorder)
    subject = push_subject(client, image)
    tag = referrers_tag(subject.digest)
    other = build_artifact("sbom", subject, "other", "app", WHEN)
    interfered: list[str] = []

    def another_writer(state: RegistryState, repository: str, reference: str) -> None:
        if reference == tag and not interfered:  # the first tag PUT: someone else's update lands first
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [other.referrer()]}
            interfered.append(state.put_manifest(repository, tag, OCI_INDEX, json.dumps(index).encode()))

    state.before_put = another_writer
    recorder.events.clear()
    mine = push_artifact(client, "app", subject, "signature", "mine")
    assert recorder.failures() == []
    index = state.tag_document("app", tag)
    assert index is not None
    assert [entry["digest"] for entry in index["manifests"]] == [other.digest, mine]
    assert len(recorder.named("manifest-get")) == 2  # read, 412 on write, read again
    tag_puts = [event for event in recorder.named("manifest-put") if event["context"]["reference"] == tag]
    assert len(tag_puts) == 2
    client.close()


def test_concurrent_pushes_all_end_in_the_tag_where_the_registry_checks_if_match(
    old_registry: tuple[str, RegistryState], image: Image
) -> None:
    url, state = old_registry
    recorder = Recorder()
    clients = [RegistryClient(url, recorder) for _ in range(4)]
    subject = push_subject(clients[0], image)
    jobs = [
        gevent.spawn(push_artifact, client, "app", subject, "signature", f"r{n}") for n, client in enumerate(clients)
    ]
    gevent.joinall(jobs, raise_error=True)
    assert recorder.failures() == []
    index = state.tag_document("app", referrers_tag(subject.digest))
    assert index is not None
    assert sorted(entry["digest"] for entry in index["manifests"]) == sorted(job.value for job in jobs)
    for client in clients:
        client.close()


def test_a_referrer_already_listed_is_not_written_again(old_registry: tuple[str, RegistryState]) -> None:
    url, state = old_registry
    recorder = Recorder()
    client = RegistryClient(url, recorder)
    referrer = build_artifact("signature", SUBJECT, "t1", "app", WHEN).referrer()
    assert add_referrer(client, "app", SUBJECT.digest, referrer) > 0
    assert add_referrer(client, "app", SUBJECT.digest, referrer) == 0
    assert len(recorder.named("manifest-put")) == 1 and len(recorder.named("manifest-get")) == 2
    index = state.tag_document("app", referrers_tag(SUBJECT.digest))
    assert index is not None and index["manifests"] == [referrer]
    client.close()


def test_a_fallback_tag_that_is_no_index_fails_the_push_and_lists_nothing(
    old_registry: tuple[str, RegistryState], image: Image
) -> None:
    url, state = old_registry
    recorder = Recorder()
    client = RegistryClient(url, recorder)
    subject = push_subject(client, image)
    push_image(client, "app", referrers_tag(subject.digest), image, "monolithic")  # an image under the tag
    with pytest.raises(RequestFailed, match="referrers tag holds something other than an OCI index"):
        push_artifact(client, "app", subject, "sbom", "t1")
    (push,) = recorder.named("artifact-push")
    assert "other than an OCI index" in str(push["exception"])
    assert get_referrers(client, "app", subject.digest) == []  # the spec: no valid index means no referrers
    client.close()


def test_no_api_and_no_tag_means_no_referrers(old_registry: tuple[str, RegistryState]) -> None:
    url, _ = old_registry
    recorder = Recorder()
    client = RegistryClient(url, recorder)
    assert get_referrers(client, "app", SUBJECT.digest) == []
    assert recorder.failures() == []
    client.close()
