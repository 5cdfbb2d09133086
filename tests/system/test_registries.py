"""The core suite against each registry (tests/support/registries.py: distribution 2.8, distribution 3, crane's
registry), through the shipped locustfile.py as an operator types it.

One run per registry does nearly everything at once: every task of the five user classes (`--tags` with all of
them, weighted by a scenario file so that the rare ones come round), on a docker schema2, an OCI and a
multi-platform (OCI index) fixture, with the docker client profile (its stream-encoded uploads and its
cross-repository mounts), chunked uploads of 64 KiB, listings in pages of one, and Basic auth where the registry
has it. Each test then reads that run (its summary file, its CSV, the registry's own log) for one feature. Beside
it, started once it ends: a short `--cleanup` run (skopeo's stream uploads, then every pushed manifest deleted),
and the start-up check's refusals (a URL that is no registry; a wrong password). What the runs pushed is pulled
again by real clients: crane (every pushed, seeded and artifact image, digests checked) and ctr of containerd 2.
How the registries differ at the protocol level is asserted by `test_where_the_registries_differ`, with plain
HTTP; docs/registries.md's table "Where the registries differ" says the same in words."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_tasks.image import OCI_INDEX, OCI_MANIFEST, Image, Platform
from registry_tasks.registry.artifacts import EMPTY_CONFIG, build_artifact, referrers_tag
from registry_tasks.registry.client import ClientConfig, RegistryClient
from registry_tasks.registry.errors import error_codes
from registry_tasks.registry.workflows import push_image
from registry_tasks.sources import load_fixtures, synthetic_image

from ..support import fixture_builders as fb
from ..support.auth_servers import PASSWORD
from ..support.helpers import locust_command, stats
from ..support.peers import Containerd2, containerd2, peer
from ..support.registries import (
    Registry,
    Seen,
    each_registry,  # noqa: F401 - the module-scoped fixture, one registry after another
)

PREFIX = "core"
CHUNK = 64 << 10
AMD64 = Platform("linux", "amd64")
TASKS = ("manifest-get", "blob-get", "image-pull", "chunked-upload", "manifest-put", "image-push", "tags-list",
         "catalog", "tag-churn", "artifact-push", "referrers-get")  # fmt: skip
"""Every task but manifest-delete, which runs after the main run (the `churn` run): distribution's catalog walks its
storage tree, and a tag directory a delete removes under that walk answers the catalog page 500 (seen once in about
15 runs on 2.8: the registry's race, not ours)."""
SCENARIO = """\
weights: {manifest-get: 3, blob-get: 2, image-pull: 2, chunked-upload: 2, manifest-put: 1, image-push: 2,
          tags-list: 3, catalog: 1, tag-churn: 1, artifact-push: 1, referrers-get: 1}
user-weights: {pull: 3, push: 2, browse: 1, churn: 1, artifact: 1}
"""
"""Two push users, the others one each (-u 8): one artifact user, since distribution 2.8 answers a GET racing a PUT
of the same tag (its fallback tag) with 500 now and then (tests/system/test_artifacts.py)."""
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


# --- the runs --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Image]]:
    """A legacy `docker save` (docker schema2, a 300 KB layer), an OCI layout (a 200 KB layer) and a multi-platform
    OCI layout (an index of linux/amd64, linux/arm64 and an attestation), as loaded for linux/amd64."""
    directory = tmp_path_factory.mktemp("fixtures")
    noise = synthetic_image("1x300KiB", seed=5).layers[0].body.read_all()  # incompressible, the same every time
    save = fb.legacy_docker_save([fb.layer_tar({"big/data": noise[:300_000]}), fb.layer_tar({"etc/x": b"x\n"})])
    fb.write_tar(directory / "docker.tar", save.entries)
    files, _ = fb.oci_layout([fb.layer_tar({"oci/data": noise[100_000:]})], ref_name="2.0")
    fb.write_dir(directory / "oci", files)
    fb.write_multi_platform(directory, "layout")
    images = load_fixtures(str(directory), AMD64)
    assert [(image.name, image.tag) for image in images] == [("example/app", "1.0"), ("multi", "3.1"), ("oci", "2.0")]
    return directory, images


@dataclass
class Background:
    """A `locust` run started beside the others, its output in files; `result()` waits for it (a run that hangs is
    killed by its pid)."""

    process: subprocess.Popen[bytes]
    directory: Path

    def result(self, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        output = [(self.directory / name).read_text(errors="replace") for name in ("stdout.txt", "stderr.txt")]
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, *output)


@dataclass
class Core:
    """The main run against one registry, what it left, and the runs started after it."""

    registry: Registry
    images: list[Image]
    directory: Path
    result: subprocess.CompletedProcess[str]
    summary: dict[str, Any]
    table: dict[tuple[str, str], dict[str, str]]
    pushed: list[dict[str, str]]
    requests: list[Seen]
    challenges: int
    """Requests it answered 401 (Basic auth's challenge)."""
    end: int
    """Where the main run's requests end in the registry's log."""
    cleanup: Background
    churn: Background
    """Tags moved and manifests deleted, after the main run (TASKS says why)."""
    refusals: dict[str, Background]

    def count(self, name: str) -> int:
        return sum(int(row["Request Count"]) for (_, entry), row in self.table.items() if entry == name)

    def logged(self, method: str, pattern: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]


def start_locust(registry: Registry, directory: Path, *args: str, password: str | None = None) -> Background:
    directory.mkdir(parents=True, exist_ok=True)
    command = locust_command(*registry.locust_args(), *args)
    with open(directory / "stdout.txt", "wb") as stdout, open(directory / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(command, cwd=directory, env=registry.env(password), stdout=stdout, stderr=stderr)
    return Background(process, directory)


@pytest.fixture(scope="module")
def core(
    each_registry: Registry,  # noqa: F811 - the imported fixture
    fixtures: tuple[Path, list[Image]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Core]:
    registry, (fixtures_dir, images) = each_registry, fixtures
    directory = tmp_path_factory.mktemp(registry.kind.id)
    (directory / "scenario.yaml").write_text(SCENARIO)
    start = registry.offset()
    main = start_locust(
        registry, directory / "main", "-u", "8", "-r", "8", "-t", "8s", "--scenario", str(directory / "scenario.yaml"),
        "--tags", *TASKS, "--fixtures-dir", str(fixtures_dir), "--repository-prefix", PREFIX,
        "--chunk-size", f"{CHUNK}B", "--page-size", "1", "--summary-file", "summary.json", "--csv", "run",
        "--pushed-log", "pushed.jsonl",
    ).result(timeout=120)  # fmt: skip
    end = registry.offset()
    requests = registry.requests(start, end)
    main_dir = directory / "main"
    assert main.returncode == 0, "\n".join([main.stderr[-4000:], "its errors:", *registry.errors(start, end)])
    cleanup = start_locust(
        registry, directory / "cleanup", "-u", "2", "-r", "2", "-t", "3s", "--tags", "image-push", "--cleanup",
        "--client-profile", "skopeo", "--unique-layers", "--fixtures-dir", str(fixtures_dir),
        "--repository-prefix", PREFIX, "--summary-file", "summary.json", "--pushed-log", "pushed.jsonl",
    )  # fmt: skip
    churn = start_locust(
        registry, directory / "churn", "-u", "2", "-r", "2", "-t", "4s", "--tags", "tag-churn", "manifest-delete",
        "--fixtures-dir", str(fixtures_dir), "--repository-prefix", PREFIX, "--summary-file", "summary.json",
        "--csv", "run",
    )  # fmt: skip
    refusals = {"no registry": start_locust(registry, directory / "path", "-u", "1", "-t", "20s",
                                            "-H", f"{registry.url}/not-a-registry")}  # fmt: skip
    if registry.credentials:
        refusals["wrong password"] = start_locust(registry, directory / "password", "-u", "1", "-t", "20s",
                                                  password="not-" + PASSWORD)  # fmt: skip
    log = main_dir / "pushed.jsonl"
    pushed = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    summary = json.loads((main_dir / "summary.json").read_text())
    try:
        yield Core(registry, images, main_dir, main, summary, stats(main_dir / "run"), pushed, requests,
                   registry.challenges(start, end), end, cleanup, churn, refusals)  # fmt: skip
    finally:
        for background in (cleanup, churn, *refusals.values()):
            if background.process.poll() is None:
                background.process.kill()
                background.process.wait(timeout=10)


@pytest.fixture(scope="module")
def containerd() -> Iterator[Containerd2]:
    with containerd2() as daemon:
        yield daemon


def http(registry: Registry, method: str, path: str, body: bytes | None = None, **headers: str
         ) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """One plain request (urllib), with the registry's credentials: status, headers (lower-case names), body."""
    if registry.credentials:
        basic = f"{registry.credentials.username}:{registry.credentials.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(basic).decode()
    url = path if "://" in path else registry.url + path
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the test's loopback registry
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def patch(registry: Registry, location: str, data: bytes, start: int | None = None) -> tuple[int, dict[str, str]]:
    """A PATCH on an upload URL: a chunk with its Content-Range from `start`, else a stream (no Content-Range)."""
    headers = {"Content-Type": "application/octet-stream"}
    if start is not None:
        headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
    status, answered, _ = http(registry, "PATCH", location, data, **headers)
    return status, answered


def repository(image: Image) -> str:
    return f"{PREFIX}/{image.name}"


def tags_of(registry: Registry, name: str) -> list[str]:
    status, _, body = http(registry, "GET", f"/v2/{name}/tags/list?n=1000")
    assert status == 200, body
    return list(json.loads(body)["tags"] or [])


def seeded_digest(image: Image) -> str:
    """What a seeded image's tag points at: its index when it has one, else its manifest."""
    return image.index.digest if image.index is not None else image.manifest.digest


def fallback_index(registry: Registry, image: Image) -> list[dict[str, Any]]:
    """The referrers fallback tag of a seeded image (the artifacts pushed onto it), [] when there is none."""
    tag = referrers_tag(image.manifest.digest)
    status, headers, body = http(registry, "GET", f"/v2/{repository(image)}/manifests/{tag}", Accept=OCI_INDEX)
    if status == 404:
        return []
    assert status == 200 and headers["content-type"] == OCI_INDEX, (status, body)
    return list(json.loads(body)["manifests"])


def errors_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if "/ERROR/" in line]


# --- the main run, feature by feature ----------------------------------------------------------------------------


def test_every_task_ran_without_a_failure(core: Core) -> None:
    entries = {entry["name"]: entry for entry in core.summary["entries"]}
    assert core.summary["complete"] and all(entry["failures"] == 0 for entry in entries.values()), entries
    ran = ("manifest-get", "blob-get", "image-pull", "upload-chunk", "upload-finish", "manifest-put", "image-push",
           "tags-walk", "catalog-walk", "artifact-push", "referrers-get", "blob-mount", "blob-head",
           "manifest-head", "ping")  # fmt: skip
    assert [name for name in ran if entries.get(name, {}).get("requests", 0) == 0] == [], entries
    assert (core.directory / "run_failures.csv").read_text().splitlines()[1:] == []
    assert "Traceback" not in core.result.stderr


def test_the_start_up_check_asks_v2_first_and_refuses_what_is_no_registry(core: Core) -> None:
    first = core.requests[0]
    assert (first.method, first.path) == ("GET", "/v2/"), core.requests[:3]
    assert any(r.path == "/v2/" and r.ok for r in core.requests[:3])
    refused = core.refusals["no registry"].result()
    assert refused.returncode == 1 and len(errors_of(refused)) == 1, refused.stderr[-3000:]
    url = f"{core.registry.url}/not-a-registry/v2/"
    assert errors_of(refused)[0].endswith(f"{url} answered 404: not a Registry API V2 endpoint (check the path prefix)")


def test_auth_where_the_registry_has_it(core: Core) -> None:
    assert [r for r in core.requests if r.status == 401] == []  # a 401 is logged otherwise (Registry.challenges)
    if core.registry.credentials is None:
        assert core.challenges == 0 and "wrong password" not in core.refusals
        return
    assert 0 < core.challenges < len(core.requests) / 20, core.challenges  # once per client, then sent up front
    refused = core.refusals["wrong password"].result()
    assert refused.returncode == 1 and len(errors_of(refused)) == 1, refused.stderr[-3000:]
    assert f"{core.registry.url}/v2/ answered 401: the registry refused the credentials" in errors_of(refused)[0]
    assert "not-" + PASSWORD not in refused.stderr + refused.stdout


def test_pulls_take_the_platforms_child_of_each_manifest_format(core: Core) -> None:
    multi = next(image for image in core.images if image.index is not None)
    others = {sibling.manifest.digest for sibling in multi.siblings} - {multi.manifest.digest}
    for image in core.images:  # by tag, and by digest as docker resolves a tag (the fallback tags' 404s aside)
        gets = core.logged("GET", f"^/v2/{repository(image)}/manifests/({re.escape(image.tag)}|sha256:)")
        assert gets and all(r.ok for r in gets)
        assert core.logged("GET", f"^/v2/{repository(image)}/blobs/{image.layers[0].digest}$")
    assert core.logged("GET", f"^/v2/{repository(multi)}/manifests/{multi.manifest.digest}$")  # docker: by digest
    assert [r for r in core.requests if r.method == "GET" and r.path.rsplit("/", 1)[1] in others] == []


def test_uploads_in_each_style(core: Core) -> None:
    """chunked-upload: a PATCH per 64 KiB of the image's largest layer; image-push (docker): one PATCH per blob
    (chunked transfer encoding); churn's blobs (in the tag repositories): monolithic, no PATCH at all."""
    per_repository: dict[str, Counter[str]] = {}
    for r in core.requests:
        if "/blobs/uploads/" in r.path and r.ok:
            name = r.path.removeprefix("/v2/").split("/blobs/uploads/")[0]
            per_repository.setdefault(name, Counter())[r.method] += 1
    chunks = {math.ceil(max(layer.size for layer in image.layers) / CHUNK) for image in core.images}
    chunked = [seen for name, seen in per_repository.items() if name.startswith(f"{PREFIX}/upload-") and seen["PUT"]]
    assert chunked and all(seen["PATCH"] in chunks and seen["PUT"] == 1 for seen in chunked), chunked
    assert max(seen["PATCH"] for seen in chunked) > 1
    pushes = [seen for name, seen in per_repository.items() if name.startswith(f"{PREFIX}/push-")]
    assert pushes and all(seen["PATCH"] == seen["PUT"] for seen in pushes), pushes
    churned = [per_repository.get(f"{repository(image)}-tags", Counter()) for image in core.images]
    assert sum(seen["PUT"] for seen in churned) > 0 and sum(seen["PATCH"] for seen in churned) == 0


def test_cross_repository_mounts(core: Core) -> None:
    pushes = [r for r in core.requests if r.path.startswith(f"/v2/{PREFIX}/push-")]  # (seeding mounts too: not counted)
    mounts = [r for r in pushes if r.method == "POST" and "mount" in r.query]
    assert mounts and len(mounts) == core.count("blob-mount")
    cancels = [r for r in pushes if r.method == "DELETE" and "/blobs/uploads/" in r.path]
    if core.registry.kind.mounts:
        assert {r.status for r in mounts} == {201} and cancels == []
    else:  # it answers 202 and an upload session, which it cannot cancel: the blob is uploaded in a session of its own
        assert {r.status for r in mounts} == {None}  # (crane's registry logs no status for a success)
        assert len(cancels) == len(mounts) and {(r.status, r.code) for r in cancels} == {(400, "NAME_INVALID")}


def walks_of(pages: list[Seen]) -> list[list[Seen]]:
    """The pages of one browse user's walks, one walk after another: a walk begins with a page without `last=`."""
    walks: list[list[Seen]] = []
    for page in pages:
        if "last" not in page.query or not walks:
            walks.append([])
        walks[-1].append(page)
    return walks


def test_listings_walk_page_by_page_as_the_registry_pages(core: Core) -> None:
    """Pages of one (`--page-size 1`), walked by the one browse user: every page asked is a request of its own."""
    tags, catalog = core.logged("GET", "/tags/list$"), core.logged("GET", "^/v2/_catalog$")
    assert {r.query.get("n") for r in tags + catalog} == {"1"} and all(r.ok for r in tags + catalog)
    assert len(tags) == core.count("tags-list") and len(catalog) == core.count("catalog")
    walks = walks_of(tags)
    assert len(walks) == core.count("tags-walk") > 0
    if core.registry.kind.tags_paging == "all":  # every tag in one answer; exactly one tag (n) is asked once more
        assert {len(walk) for walk in walks} <= {1, 2}
    else:  # a page per tag after `last=`: a Link's (distribution 3), or built after a full page without one (ggcr)
        assert min(len(walk) for walk in walks) >= 2
    walks = walks_of(catalog)
    assert len(walks) == core.count("catalog-walk") > 0
    warning = "the registry's catalog: after a full page without a Link, the page asked with last= does not come"
    if core.registry.kind.catalog_paging == "link":
        assert min(len(walk) for walk in walks) >= 6  # 3 seeded repositories, 3 tag repositories, what was pushed
        assert warning not in core.result.stderr
    else:  # a page of one at random, `last=` ignored: the walk goes on while the page drawn comes after the last,
        # and ends, with a warning, at the first that does not
        assert min(len(walk) for walk in walks) >= 2 and core.result.stderr.count(warning) == 1


def test_deletes_under_churn(core: Core) -> None:
    result = core.churn.result()
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    requests = core.registry.requests(core.end, core.registry.offset())
    deletes = [r for r in requests if r.method == "DELETE" and re.search(r"-tags/manifests/sha256:", r.path)]
    moves = [r for r in requests if r.method == "PUT" and re.search(r"-tags/manifests/churn-", r.path)]
    assert moves and all(r.ok for r in moves)
    entries = {entry["name"]: entry for entry in json.loads((core.churn.directory / "summary.json").read_text())
               ["entries"]}  # fmt: skip
    assert deletes and all(r.ok for r in deletes) and len(deletes) == entries["manifest-delete"]["requests"]
    left = [tag for image in core.images for tag in tags_of(core.registry, f"{repository(image)}-tags")
            if tag.startswith("del-")]  # fmt: skip
    assert len(left) == (len(deletes) if core.registry.kind.tag_outlives_digest else 0)


def test_artifacts_take_the_referrers_fallback_tag(core: Core) -> None:
    """None of these registries has the referrers API: each artifact push updates the fallback tag once, and each
    referrers read asks the API (404), then reads the tag."""
    pushed = core.count("artifact-push")
    tag_puts = core.logged("PUT", "/manifests/sha256-")
    assert pushed and len(tag_puts) == pushed and all(r.ok for r in tag_puts)
    assert len(core.logged("GET", "/manifests/sha256-")) >= core.count("referrers-get")
    api = core.logged("GET", "/referrers/")
    if core.registry.kind.json_log:
        assert api == []  # distribution's router answers 404 before any handler: no record in its request log
    else:
        assert len(api) == core.count("referrers-get")
        assert {(r.status, r.code) for r in api} == {(404, "METHOD_UNKNOWN")}
    listed = [(image, entry) for image in core.images for entry in fallback_index(core.registry, image)]
    assert len(listed) == pushed  # one artifact user, one push after another: no update lost
    for image, entry in listed:
        status, _, body = http(core.registry, "GET", f"/v2/{repository(image)}/manifests/{entry['digest']}",
                               Accept=OCI_MANIFEST)  # fmt: skip
        artifact = json.loads(body)
        assert status == 200 and artifact["subject"]["digest"] == image.manifest.digest
        assert artifact["artifactType"] == entry["artifactType"] and entry["size"] == len(body)


# --- real clients pull what the runs pushed ----------------------------------------------------------------------


def test_crane_pulls_every_pushed_image_with_its_digests(core: Core, tmp_path: Path) -> None:
    """Every image-push of the main run (by tag: the tag must still give the digest it was pushed as), every seeded
    image (docker schema2, OCI manifest, OCI index with every child), every artifact and every churned tag, in one
    `crane pull` into an OCI layout; crane checks each manifest and blob against its digest."""
    registry, host = core.registry, core.registry.host_port
    expected = {f"{host}/{entry['repository']}:{entry['tag']}": entry["digest"] for entry in core.pushed}
    expected |= {f"{host}/{repository(image)}:{image.tag}": seeded_digest(image) for image in core.images}
    for image in core.images:
        for entry in fallback_index(registry, image):
            expected[f"{host}/{repository(image)}@{entry['digest']}"] = entry["digest"]
    churned = [f"{host}/{repository(image)}-tags:{tag}" for image in core.images
               for tag in tags_of(registry, f"{repository(image)}-tags") if tag.startswith("churn-")]  # fmt: skip
    assert core.pushed and churned
    layout = tmp_path / "layout"
    env = {"DOCKER_CONFIG": str(registry.docker_config(tmp_path / "docker")), "PATH": "/usr/bin:/bin"}
    command = [peer("crane"), "pull", "--format", "oci", "--annotate-ref", *expected, *churned, str(layout)]
    pulled = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    index = json.loads((layout / "index.json").read_text())["manifests"]
    found = {entry["annotations"]["org.opencontainers.image.ref.name"]: entry for entry in index}
    assert {ref: found[ref]["digest"] for ref in expected} == expected
    assert set(churned) <= set(found)
    media_types = {image.name: found[f"{host}/{repository(image)}:{image.tag}"]["mediaType"] for image in core.images}
    assert media_types == {"example/app": DOCKER_V2, "oci": OCI_MANIFEST, "multi": OCI_INDEX}
    blobs = {path.name for path in (layout / "blobs" / "sha256").iterdir()}
    multi = next(image for image in core.images if image.index is not None)
    assert {blob.digest.removeprefix("sha256:") for sibling in multi.siblings for blob in sibling.blobs} <= blobs


def test_ctr_of_containerd_2_pulls_the_seeded_and_a_pushed_image(core: Core, containerd: Containerd2) -> None:
    host = core.registry.host_port
    wanted = {f"{host}/{repository(image)}:{image.tag}": seeded_digest(image) for image in core.images}
    wanted[f"{host}/{core.pushed[0]['repository']}:{core.pushed[0]['tag']}"] = core.pushed[0]["digest"]
    user = ["--user", f"{core.registry.credentials.username}:{PASSWORD}"] if core.registry.credentials else []
    for reference in wanted:
        containerd.ctr("images", "pull", "--plain-http", *user, reference, timeout=120)
    listed = {line.split()[0]: line.split()[2] for line in containerd.ctr("images", "ls").stdout.splitlines()[1:]}
    assert {reference: listed.get(reference) for reference in wanted} == wanted


# --- the runs beside it ------------------------------------------------------------------------------------------


def test_cleanup_deletes_every_pushed_manifest_and_its_tag(core: Core) -> None:
    """A short run of skopeo's pushes (new layers each, uploaded with one PATCH each), every manifest it pushed
    deleted at its end: by digest, and by tag where the tag outlives its digest (go-containerregistry)."""
    result = core.cleanup.result()
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    pushed = [json.loads(line) for line in (core.cleanup.directory / "pushed.jsonl").read_text().splitlines()]
    entries = {entry["name"]: entry for entry in json.loads((core.cleanup.directory / "summary.json").read_text())
               ["entries"]}  # fmt: skip
    assert pushed and entries["image-push"]["requests"] == len(pushed)
    deleted = re.search(r"--cleanup: deleted (\d+) of (\d+) pushed manifests", result.stderr)
    assert deleted and deleted[1] == deleted[2], result.stderr[-3000:]
    for entry in pushed:
        for reference in (entry["tag"], entry["digest"]):
            assert http(core.registry, "HEAD", f"/v2/{entry['repository']}/manifests/{reference}")[0] == 404, entry
    requests = core.registry.requests(core.end, core.registry.offset())
    pushes = [r for r in requests if r.ok and re.match(f"^/v2/{PREFIX}/push-.*/blobs/uploads/", r.path)]
    uploads = Counter(r.method for r in pushes)
    assert uploads["PUT"] > 0 and uploads["PATCH"] == uploads["PUT"]  # skopeo's: one PATCH with Content-Length each
    tag_deletes = [r for r in requests if r.method == "DELETE" and re.search(f"^/v2/{PREFIX}/push-.*/manifests/[^:]+$",
                                                                             r.path)]  # fmt: skip
    assert all(r.ok for r in tag_deletes)
    if core.registry.kind.tag_outlives_digest:  # deleted by digest, then by tag
        assert {r.path for r in tag_deletes} >= {f"/v2/{e['repository']}/manifests/{e['tag']}" for e in pushed}
    else:
        assert tag_deletes == []
    assert entries["manifest-delete"]["requests"] == int(deleted[1]) + len(tag_deletes)
    assert entries["manifest-delete"]["failures"] == 0


# --- the protocol, with plain HTTP -------------------------------------------------------------------------------


def test_where_the_registries_differ(each_registry: Registry) -> None:  # noqa: F811 - the imported fixture
    """What docs/registries.md's table says, asked of each registry with plain HTTP (tests/support/registries.py's
    `Kind` holds each one's answers): the version check, error bodies, listings' paging, mounts, blobs' scope,
    upload sessions, ranges, ETags, deletes, the referrers API and OCI-Subject."""
    registry, kind = each_registry, each_registry.kind
    client = RegistryClient(registry.url, lambda **event: None, ClientConfig(credentials=registry.credentials))
    image = synthetic_image("1x4KiB", seed=21)
    for tag in ("a", "b", "c"):
        push_image(client, "facts/app", tag, image, "monolithic")
    push_image(client, "facts/other", "v1", image, "monolithic")
    layer, manifests = image.layers[0], "/v2/facts/app/manifests"

    status, headers, body = http(registry, "GET", "/v2/")
    assert (status, headers["docker-distribution-api-version"], body) == (200, "registry/2.0", kind.v2_body)
    status, headers, body = http(registry, "GET", f"{manifests}/nothing")
    assert (status, error_codes(body)) == (404, ("MANIFEST_UNKNOWN",))  # what our client reads, whatever the type
    assert headers["content-type"].startswith(kind.error_type)

    status, headers, body = http(registry, "GET", "/v2/facts/app/tags/list?n=2")
    assert status == 200 and len(json.loads(body)["tags"]) == (3 if kind.tags_paging == "all" else 2)
    assert ("link" in headers) == (kind.tags_paging == "link")
    after_last = {"link": [], "no-link": ["a", "b"], "all": ["a", "b", "c"]}[kind.tags_paging]  # ggcr: starts over
    status, _, body = http(registry, "GET", "/v2/facts/app/tags/list?n=2&last=c")
    assert status == 200 and sorted(json.loads(body)["tags"] or []) == after_last
    status, headers, _ = http(registry, "GET", "/v2/_catalog?n=1")
    assert status == 200 and ("link" in headers) == (kind.catalog_paging == "link")
    status, _, body = http(registry, "GET", "/v2/_catalog?n=1000&last=facts/app")  # ggcr: every one, `last=` or not
    after = sorted(name for name in json.loads(body)["repositories"] if name.startswith("facts/"))
    assert status == 200 and after == ["facts/app", "facts/other"][kind.catalog_paging == "link" :]

    status, _, _ = http(registry, "POST", f"/v2/facts/mounted/blobs/uploads/?mount={layer.digest}&from=facts/app")
    assert status == (201 if kind.mounts else 202)
    assert http(registry, "HEAD", f"/v2/facts/elsewhere/blobs/{layer.digest}")[0] == (200 if kind.blobs_global else 404)
    status, headers, _ = http(registry, "POST", "/v2/facts/app/blobs/uploads/")
    assert status == 202 and "oci-chunk-min-length" not in headers  # no chunk minimum on any of the three
    status, headers = patch(registry, headers["location"], b"0123456789", 0)
    assert (status, headers["range"]) == (202, "0-9")
    assert http(registry, "GET", headers["location"])[0] == (204 if kind.upload_status else 400)
    assert patch(registry, headers["location"], b"x" * 10, 5)[0] == (416 if kind.range_checked else 202)
    started = http(registry, "POST", "/v2/facts/app/blobs/uploads/")[1]["location"]
    location = patch(registry, started, b"01234", 0)[1]["location"]
    status, headers = patch(registry, location, b"56789")
    assert status == (202 if kind.mixes_uploads else 400)
    assert http(registry, "DELETE", headers.get("location", location))[0] == (204 if kind.upload_status else 400)
    data = b"posted whole"
    posted = f"/v2/facts/app/blobs/uploads/?digest=sha256:{hashlib.sha256(data).hexdigest()}"
    assert http(registry, "POST", posted, data, **{"Content-Type": "application/octet-stream"})[0] == kind.single_post
    status, _, body = http(registry, "GET", f"/v2/facts/app/blobs/{layer.digest}", Range="bytes=10-")
    assert (status, len(body)) == ((206, layer.size - 10) if kind.open_range else (416, len(body)))
    assert http(registry, "GET", f"/v2/facts/app/blobs/{layer.digest}", Range="bytes=10-19")[0] == 206
    assert ("etag" in http(registry, "GET", f"{manifests}/a", Accept=OCI_MANIFEST)[1]) == kind.etag
    stale = {"Content-Type": OCI_MANIFEST, "If-Match": '"sha256:' + "0" * 64 + '"'}
    assert http(registry, "PUT", f"{manifests}/b", image.manifest.body.read_all(), **stale)[0] == 201  # not checked

    status, _, body = http(registry, "GET", f"/v2/facts/app/referrers/{image.manifest.digest}")
    assert (status, body) == (404, kind.referrers_not_found)
    artifact = build_artifact("sbom", image.manifest.descriptor, "facts", "facts/app")
    for blob in (EMPTY_CONFIG, artifact.layer):
        client.upload_blob("facts/app", blob, "monolithic", 1)
    status, headers, _ = http(registry, "PUT", f"{manifests}/{artifact.digest}", artifact.manifest.body.read_all(),
                              **{"Content-Type": OCI_MANIFEST})  # fmt: skip
    assert status == 201 and "oci-subject" not in headers

    assert http(registry, "DELETE", f"{manifests}/c")[0] == kind.tag_delete
    assert http(registry, "DELETE", f"/v2/facts/other/manifests/{image.manifest.digest}")[0] == 202
    assert http(registry, "HEAD", "/v2/facts/other/manifests/v1")[0] == (200 if kind.tag_outlives_digest else 404)
    client.close()
