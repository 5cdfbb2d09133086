"""The peers `make peers` builds at pinned versions (registry_tasks/tools/peers.py) run here: a smoke test of each
against real things on loopback (distribution 3, crane and its registry, containerd 2 with ctr and its CRI image
service through crictl, containers/image's copy.Image, dockerd 29 with each image store and the docker CLI), each
process bounded in time and stopped by its pid; and
the table itself: every entry pinned, every blocked one with its reason, the CLI's answers without a build.

A peer that is not built skips its test (fails under CI): `make peers` builds them."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_tasks import RegistryClient, push_image, synthetic_image
from registry_tasks.image import Image
from registry_tasks.tools import peers as table
from registry_tasks.tools.local_registry import API_VERSION_HEADER, LocalRegistry, start_registry

from ..support.helpers import ROOT
from ..support.peers import Containerd2, Dockerd, containerd2, crane_registry, dockerd29, peer, run
from ..support.registry_log import REQUEST_LOG_CONFIG, Request, capture, read_requests

# --- the table and the CLI, without building anything -----------------------------------------------------------


def test_every_peer_is_pinned_and_every_blocked_one_says_why() -> None:
    names = [entry.name for entry in table.PEERS]
    assert len(names) == len(set(names)), names
    for entry in table.PEERS:
        # semver with at most a pre-release of alpha/beta/rc.N (moby/v2), +incompatible a v2+ module without one
        assert re.fullmatch(r"v\d+\.\d+\.\d+(-(alpha|beta|rc)\.\d+)?(\+incompatible)?", entry.version), entry
        assert entry.module and entry.what and entry.binaries, entry
        assert entry.method in ("install", "copy", "local"), entry
        if entry.method != "install":
            assert len(entry.packages) == len(entry.binaries), entry
        if entry.method == "local":
            assert (ROOT / entry.local / "go.sum").is_file(), entry
    blocked = {entry.name: entry.blocked for entry in table.PEERS if entry.blocked}
    assert set(blocked) == {"zot", "zb", "k6", "skopeo"} and all(blocked.values()), blocked


def test_our_containers_image_program_is_built_on_the_pinned_library() -> None:
    entry = table.find("containers-image")
    assert entry is not None
    go_mod = (ROOT / entry.local / "go.mod").read_text()
    assert re.search(rf"^require {re.escape(entry.module)} {re.escape(entry.version)}$", go_mod, re.M), go_mod


def peers_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "registry_tasks.tools.peers", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def empty_cache(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine on which nothing is built yet."""
    return {**os.environ, "REGISTRY_TASKS_PEERS": str(tmp_path / "peers")}


def test_the_list_names_every_peer_its_version_and_why_a_blocked_one_is_not_built(
    empty_cache: dict[str, str],
) -> None:
    listed = peers_cli("list", env=empty_cache)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == len(table.PEERS)
    for line, entry in zip(lines, table.PEERS, strict=True):
        assert line.split()[:2] == [entry.name, entry.version], line
        assert line.endswith(f"not built: {entry.blocked}" if entry.blocked else "not built"), line


def test_path_of_a_peer_not_built_is_one_line_and_exit_1(empty_cache: dict[str, str]) -> None:
    answered = peers_cli("path", "crane", env=empty_cache)
    assert (answered.returncode, answered.stdout) == (1, "")
    assert answered.stderr == "crane v0.22.1 is not built: run `make peers`\n"
    blocked = peers_cli("path", "k6", env=empty_cache)
    assert blocked.returncode == 1 and blocked.stderr.startswith("k6 v1.8.1 is not built: k6 is AGPL"), blocked


def test_without_go_peers_are_skipped_in_one_line_but_not_under_ci(empty_cache: dict[str, str]) -> None:
    no_go = {**empty_cache, "PATH": "/nonexistent"}
    no_go.pop("CI", None)
    skipped = peers_cli("build", env=no_go)
    assert (skipped.returncode, skipped.stdout) == (0, ""), skipped
    assert skipped.stderr == "peers skipped: go is not installed (https://go.dev/dl/)\n"
    assert peers_cli("build", env={**no_go, "CI": "true"}).returncode == 1


# --- the programs ----------------------------------------------------------------------------------------------


def seed(url: str, repository: str, seed_number: int) -> Image:
    """An image of ours pushed to `url` as `repository`:v1 (two small uncompressed tar layers, OCI media types)."""
    image = synthetic_image("2x32KiB", seed=seed_number)
    push_image(RegistryClient(url, lambda **event: None), repository, "v1", image)
    return image


def manifest_digest(url: str, repository: str, reference: str) -> str:
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
    request = urllib.request.Request(f"{url}/v2/{repository}/manifests/{reference}", method="HEAD")
    request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test's loopback registry
        return str(response.headers["Docker-Content-Digest"])


def blob_gets(requests: list[Request], repository: str) -> set[str]:
    """Digests of the blobs the registry served (GET, 200) from `repository`."""
    prefix = f"/v2/{repository}/blobs/"
    return {r.path.removeprefix(prefix) for r in requests if r.method == "GET" and r.status == 200
            and r.path.startswith(prefix)}  # fmt: skip


@pytest.fixture(scope="module")
def local(registry_binary: str) -> Iterator[LocalRegistry]:
    """A distribution 2.8 registry of this module's own, logging every request (to see what a peer fetched)."""
    with start_registry(binary=registry_binary, extra_config=REQUEST_LOG_CONFIG) as running:
        yield running


def test_distribution_3_serves_the_api_and_says_its_version() -> None:
    registry = peer("distribution")
    assert "v3.1.2" in run(registry, "--version", timeout=30).stdout.split()
    with start_registry(binary=registry, extra_config=REQUEST_LOG_CONFIG) as running:
        with urllib.request.urlopen(f"{running.url}/v2/", timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200 and response.headers[API_VERSION_HEADER] == "registry/2.0"
        image = seed(running.url, "peers/v3", 11)
        assert manifest_digest(running.url, "peers/v3", "v1") == image.manifest.digest
        logged = read_requests(running.log_path)  # its JSON log reads as 2.8's does
        assert any(r.method == "PUT" and r.path == "/v2/peers/v3/manifests/v1" and r.status == 201 for r in logged)


def test_crane_pushes_to_its_own_registry_and_copies_from_distribution(local: LocalRegistry, tmp_path: Path) -> None:
    crane = peer("crane")
    assert run(crane, "version", timeout=30).stdout.strip() == "v0.22.1"
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    with crane_registry(crane) as (url, _):
        host = url.removeprefix("http://")
        run(crane, "append", "-f", str(layer), "-t", f"{host}/peers/crane:v1", timeout=60)
        manifest = json.loads(run(crane, "manifest", f"{host}/peers/crane:v1", timeout=60).stdout)
        assert len(manifest["layers"]) == 1, manifest
        image = seed(local.url, "peers/crane-source", 12)
        run(crane, "copy", f"{local.host_port}/peers/crane-source:v1", f"{host}/peers/copied:v1", timeout=60)
        assert manifest_digest(url, "peers/copied", "v1") == image.manifest.digest
        # go-containerregistry's registry has the OCI 1.1 referrers API, but `crane registry serve` leaves it off
        referrers = urllib.request.Request(f"{url}/v2/peers/copied/referrers/{image.manifest.digest}")
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(referrers, timeout=10)  # noqa: S310 - loopback
        assert answer.value.code == 404 and b"METHOD_UNKNOWN" in answer.value.read()


@pytest.fixture(scope="module")
def containerd() -> Iterator[Containerd2]:
    with containerd2() as daemon:
        yield daemon


def test_ctr_of_containerd_2_pulls_from_a_plain_http_registry(local: LocalRegistry, containerd: Containerd2) -> None:
    assert "v2.4.2" in containerd.ctr("--version", timeout=30).stdout.split()
    image = seed(local.url, "peers/ctr", 13)
    reference = f"{local.host_port}/peers/ctr:v1"
    with capture(local.log_path) as captured:
        containerd.ctr("images", "pull", "--plain-http", reference, timeout=120)
    assert reference in containerd.ctr("images", "ls", "--quiet").stdout.split()
    assert blob_gets(captured.requests, "peers/ctr") >= {layer.digest for layer in image.layers}
    assert {r.user_agent.split()[0] for r in captured.requests} == {"containerd/v2.4.2"}


def test_crictl_pulls_through_containerd_2s_cri_image_service(
    local: LocalRegistry, containerd: Containerd2, tmp_path: Path
) -> None:
    crictl = peer("crictl")
    assert "v1.37.0" in run(crictl, "--version", timeout=30).stdout.split()
    config = tmp_path / "crictl.yaml"  # ours, so that no /etc/crictl.yaml points it elsewhere
    endpoint = f"unix://{containerd.address}"
    config.write_text(f"runtime-endpoint: {endpoint}\nimage-endpoint: {endpoint}\ntimeout: 60\n")
    image = seed(local.url, "peers/cri", 14)
    containerd.plain_http(local.host_port)
    reference = f"{local.host_port}/peers/cri:v1"
    with capture(local.log_path) as captured:
        run(crictl, "--config", str(config), "pull", reference, timeout=120)
    listed = run(crictl, "--config", str(config), "images", timeout=60).stdout
    assert re.search(rf"^{re.escape(local.host_port)}/peers/cri\s+v1\s", listed, re.M), listed
    assert blob_gets(captured.requests, "peers/cri") >= {layer.digest for layer in image.layers}


def test_containers_image_copies_to_an_oci_layout_and_pushes_it_back(local: LocalRegistry, tmp_path: Path) -> None:
    program = peer("containers-image")
    image = seed(local.url, "peers/copy", 15)
    layout = tmp_path / "layout"
    source, copied = f"docker://{local.host_port}/peers/copy:v1", f"docker://{local.host_port}/peers/copy:copied"
    run(program, "--src-tls-verify=false", source, f"oci:{layout}:v1", timeout=120)
    [entry] = json.loads((layout / "index.json").read_text())["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    written = json.loads((layout / "blobs" / entry["digest"].replace(":", "/")).read_text())
    # As skopeo does: an oci: destination gets our uncompressed layers gzipped (a new manifest), the config as is
    assert written["config"]["digest"] == image.config.digest
    assert [layer["mediaType"] for layer in written["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"] * 2
    with capture(local.log_path) as captured:
        run(program, "--dest-tls-verify=false", f"oci:{layout}:v1", copied, timeout=120)
    assert manifest_digest(local.url, "peers/copy", "copied") == entry["digest"]
    assert any(r.method == "PUT" and r.path == "/v2/peers/copy/manifests/copied" for r in captured.requests)


@pytest.fixture(scope="module", params=["containerd", "overlay2"])
def docker(request: pytest.FixtureRequest) -> Iterator[Dockerd]:
    """dockerd 29 on a containerd 2 of its own, once with each image store (the tests run per store)."""
    with dockerd29(request.param) as daemon:
        yield daemon


def test_docker_29_client_and_daemon_say_their_versions(docker: Dockerd) -> None:
    versions = json.loads(docker.docker("version", "--format", "{{json .}}", timeout=60).stdout)
    assert versions["Client"]["Version"] == "29.10.0", versions["Client"]
    assert versions["Server"]["Version"].startswith("29.8.0"), versions["Server"]
    components = {component["Name"]: component["Version"] for component in versions["Server"]["Components"]}
    assert components["containerd"] == "v2.4.2", components
    info = json.loads(docker.docker("info", "--format", "{{json .}}", timeout=60).stdout)
    if docker.image_store == "containerd":
        assert ["driver-type", "io.containerd.snapshotter.v1"] in info["DriverStatus"], info["DriverStatus"]
    else:
        assert info["Driver"] == "overlay2" and ["driver-type", "io.containerd.snapshotter.v1"] not in (
            info["DriverStatus"] or []
        ), (info["Driver"], info["DriverStatus"])


PUSHED_MEDIA_TYPES = {
    # containerd's store keeps the pulled OCI manifest (no index: ours is a single manifest) and pushes it as it is
    "containerd": ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.layer.v1.tar"),
    # the graphdriver store writes a new Docker v2 manifest; a layer mounted from the repository it was pulled from
    # is the same (here uncompressed) blob, yet labelled gzip: moby sets that type on every mount (moby/moby#19509)
    "overlay2": (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
}


def served_manifest(url: str, repository: str, reference: str) -> tuple[str, dict[str, Any]]:
    """The manifest the registry serves (any media type accepted): its Content-Type and its JSON."""
    accept = ", ".join((
        "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ))  # fmt: skip
    request = urllib.request.Request(f"{url}/v2/{repository}/manifests/{reference}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test's loopback registry
        return str(response.headers["Content-Type"]), json.loads(response.read())


def test_docker_29_pulls_our_image_and_pushes_it_to_a_new_repository(local: LocalRegistry, docker: Dockerd) -> None:
    store = docker.image_store
    source_repository, pushed_repository = f"peers/docker-{store}", f"peers/docker-{store}-pushed"
    image = seed(local.url, source_repository, {"containerd": 16, "overlay2": 17}[store])
    source, target = f"{local.host_port}/{source_repository}:v1", f"{local.host_port}/{pushed_repository}:v1"
    with capture(local.log_path) as pulled:  # 127.0.0.0/8 is an insecure (plain HTTP) registry by default
        docker.docker("pull", source, timeout=120)
    assert blob_gets(pulled.requests, source_repository) >= {layer.digest for layer in image.layers}
    docker.docker("tag", source, target, timeout=60)
    with capture(local.log_path) as pushed:
        docker.docker("push", target, timeout=120)
    assert any(r.method == "PUT" and r.path == f"/v2/{pushed_repository}/manifests/v1" and r.status == 201
               for r in pushed.requests), [str(r) for r in pushed.requests]  # fmt: skip
    # both stores know where the layers came from: they are mounted from the source repository, not uploaded
    mounted = {r.query.get("mount") for r in pushed.requests if r.method == "POST" and r.query.get("from")
               == source_repository and r.status == 201}  # fmt: skip
    assert mounted >= {layer.digest for layer in image.layers}, [str(r) for r in pushed.requests]
    uploaded = {r.query.get("digest") for r in pushed.requests if r.method == "PUT" and "/blobs/uploads/" in r.path}
    assert not uploaded & {layer.digest for layer in image.layers}, uploaded
    media_type, layer_type = PUSHED_MEDIA_TYPES[store]
    content_type, manifest = served_manifest(local.url, pushed_repository, "v1")
    assert (content_type, manifest["mediaType"]) == (media_type, media_type), (content_type, manifest)
    assert manifest["config"]["digest"] == image.config.digest  # the config goes as it came, in both stores
    assert [(layer["mediaType"], layer["digest"]) for layer in manifest["layers"]] == [
        (layer_type, layer.digest) for layer in image.layers
    ], manifest
    if store == "containerd":
        assert manifest_digest(local.url, pushed_repository, "v1") == image.manifest.digest
    else:  # the "gzip" layer the registry serves is our uncompressed tar
        blob = f"{local.url}/v2/{pushed_repository}/blobs/{manifest['layers'][0]['digest']}"
        with urllib.request.urlopen(blob, timeout=10) as response:  # noqa: S310 - the test's loopback registry
            data = response.read()
        assert data[:2] != b"\x1f\x8b" and tarfile.is_tarfile(io.BytesIO(data)), data[:16]
    agents = {r.user_agent for r in pulled.requests + pushed.requests}
    assert all(agent.startswith("docker/29.8.0") and "Docker-Client/29.10.0" in agent for agent in agents), agents
    # the containerd store's requests go through containerd's client (dockerd's vendored one) and say so
    through_containerd = {"containerd-client/" in agent and "storage-driver/overlayfs" in agent for agent in agents}
    assert through_containerd == {store == "containerd"}, agents
