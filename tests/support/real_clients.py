"""The real container clients (docker, containerd's ctr, skopeo) against a local registry, for tests that compare
what they send with what our tool sends.

Daemons run with temporary roots of their own and are always stopped by their process id (also when a test
fails), with bounded waits; every client command has a timeout. Nothing comes from the internet: the one image is
`write_fixture`'s docker-save tarball, loaded into the client and pushed to a local registry.

    with RealClients(workdir) as clients:           # containerd/dockerd start on first use
        clients.docker_push("127.0.0.1:5000/r:1")   # load + tag + push
        clients.docker_pull("127.0.0.1:5000/r:1")   # after removing every local image
        print(real_signatures("docker", "pull", registry, clients))

Needs root (dockerd and containerd do), `/usr/sbin/dockerd` (Debian's docker.io 20.10; the client is
`/usr/bin/docker`, not whatever `docker` is first on PATH), `containerd` + `ctr` (1.6) and `skopeo`.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

from registry_tasks.tools.local_registry import LocalRegistry

from .fixture_builders import SAMPLE_LAYERS, LegacySave, legacy_docker_save, write_tar
from .helpers import missing
from .registry_log import capture
from .signatures import Signature, signature

CLIENTS = ("docker", "containerd", "skopeo")
KINDS = ("pull", "push")

DOCKER = "/usr/bin/docker"
"""Debian's docker client, the one that matches dockerd 20.10 (/usr/local/bin/docker may be another)."""
DOCKERD_CANDIDATES = ("/usr/sbin/dockerd", "/usr/bin/dockerd")
DOCKER_CONTAINERD_NAMESPACE = "moby"
"""Where dockerd keeps its things in containerd (its `--containerd-namespace` default)."""

FIXTURE_TAG = "example/app:1.0"
"""The name inside the fixture tarball (`docker load` keeps it; `ctr images import` makes it docker.io/...)."""
CTR_IMPORTED = f"docker.io/{FIXTURE_TAG}"

SKOPEO_CACHE_UID = 65534
"""What skopeo is told its uid is, so that its blob-info cache follows XDG_DATA_HOME (see `RealClients.skopeo`)."""

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
COMMAND_TIMEOUT = 120.0


class DaemonStartError(RuntimeError):
    """A daemon is not installed, or exited or never answered during its start (the message has its log)."""


class ClientError(AssertionError):
    """A client command exited non-zero or timed out (the message has the command and its output)."""


def fixture_image() -> LegacySave:
    """The test image, config + 2 uncompressed layers, as the members of a legacy `docker save` of
    `example/app:1.0`."""
    return legacy_docker_save(layers=SAMPLE_LAYERS, repo_tags=(FIXTURE_TAG,))


FIXTURE_CONFIG_DIGEST = fixture_image().config_digest
"""The fixture's config blob. Every client pushes the config unchanged; docker and skopeo compress the layers on
the way (other digests in the registry), containerd pushes them as they are."""


def write_fixture(directory: Path) -> Path:
    """`fixture_image` as a tarball: `docker load`, `ctr images import` and skopeo's `docker-archive:` all read
    it (checked by tests/system/test_real_clients.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_tar(directory / "fixture.tar", fixture_image().entries)


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def _clean_env(**extra: str) -> dict[str, str]:
    """Our environment without anything that would point a client elsewhere (DOCKER_*, proxies)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DOCKER_", "CONTAINERD_")) and name.lower() not in _PROXY_VARIABLES
    }
    env.update(extra)
    return env


def run(
    command: list[str], *, timeout: float = COMMAND_TIMEOUT, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a client command; a non-zero exit or a timeout raises ClientError with its output."""
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=dict(env or _clean_env()), check=False
        )
    except subprocess.TimeoutExpired as error:
        output = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else error.stderr or ""
        raise ClientError(f"{' '.join(command)} timed out after {timeout:g}s; output:\n{output}") from None
    if result.returncode != 0:
        output = (result.stderr.strip() + "\n" + result.stdout.strip()).strip()
        raise ClientError(f"{' '.join(command)} exited with {result.returncode}:\n{output}")
    return result


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"
    except OSError:
        return "(no log)"


def _stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process by its id, wait (bounded), then SIGKILL; safe when it has already exited."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root` (dockerd bind-mounts its data root onto itself), deepest first."""
    prefix = str(root)
    points = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        point = line.split()[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def _remove_root(root: Path) -> None:
    """Unmount whatever a daemon left mounted under its root (after a SIGKILL), then remove the root."""
    for point in _mounts_under(root):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)
    shutil.rmtree(root, ignore_errors=True)


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        code = process.poll()
        if code is not None:
            raise DaemonStartError(f"{what} exited with code {code} during start; its log:\n{_tail(log)}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise DaemonStartError(f"{what} did not answer within {START_TIMEOUT:g}s; its log:\n{_tail(log)}")
        time.sleep(0.1)


def _answers(socket_path: str, command: list[str]) -> bool:
    """The daemon's socket exists and `command` (a client's version query) succeeds on it."""
    if not os.path.exists(socket_path):
        return False
    try:
        return subprocess.run(command, capture_output=True, timeout=5, env=_clean_env(), check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _short_root(prefix: str) -> Path:
    """A fresh directory under the system temp dir: unix socket paths must stay under 108 bytes, which pytest's
    tmp_path does not promise."""
    return Path(tempfile.mkdtemp(prefix=prefix)).resolve()


# --- containerd ---------------------------------------------------------------------------------------------


@dataclass
class Containerd:
    """A running containerd with its own root, state and socket."""

    root: Path
    address: str
    log_path: Path
    process: subprocess.Popen[bytes]
    binary: str
    ctr: str

    def ctr_command(self, namespace: str, *args: str) -> list[str]:
        return [self.ctr, "--address", self.address, "--namespace", namespace, *args]


def containerd_config(root: Path) -> str:
    """containerd's config: everything under `root`, content isolated per namespace (otherwise a pull in one
    namespace sees blobs another pulled and sends only a HEAD), no CRI plugin (it wants CNI, a sandbox image, and
    is not needed to pull and push)."""
    return f"""version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{root}/containerd.sock"

[debug]
  level = "info"

[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
"""


@contextmanager
def containerd_daemon(extra_config: str = "") -> Iterator[Containerd]:
    """containerd on a socket of its own, stopped (by its pid) and its root removed when the block ends.
    `extra_config` is appended to `containerd_config` (TOML)."""
    binary, ctr = shutil.which("containerd"), shutil.which("ctr")
    if binary is None or ctr is None:
        raise DaemonStartError("containerd/ctr is not installed (Debian: apt-get install containerd)")
    if os.geteuid() != 0:
        raise DaemonStartError("containerd needs root")
    root = _short_root("ctd-")
    config = root / "config.toml"
    config.write_text(containerd_config(root) + extra_config)
    log_path = root / "containerd.log"
    address = str(root / "containerd.sock")
    process = None
    try:
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [binary, "--config", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=_clean_env(),
            )  # fmt: skip
        daemon = Containerd(root, address, log_path, process, binary, ctr)
        ready = [ctr, "--address", address, "version"]
        _wait_until(lambda: _answers(address, ready), process, log_path, "containerd")
        yield daemon
    finally:
        if process is not None:
            _stop_process(process)
        _remove_root(root)


# --- dockerd ------------------------------------------------------------------------------------------------


@dataclass
class Dockerd:
    """A running dockerd on a socket of its own, using a given containerd."""

    root: Path
    host: str
    data_root: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    client_config: Path

    def command(self, *args: str) -> list[str]:
        return [DOCKER, "-H", self.host, *args]

    def env(self) -> dict[str, str]:
        """The docker client's environment: a config dir of its own (no credentials, no contexts of the user)."""
        return _clean_env(DOCKER_CONFIG=str(self.client_config))

    def forget_distribution_metadata(self) -> None:
        """Forget which registries and repositories dockerd has seen layers at. Docker remembers that for every
        layer it pushed or pulled (`image/<driver>/distribution/` in its data root, files it reads on each push)
        and then sends a HEAD (same repository) or tries a mount (other repository) before uploading; with
        that forgotten, a push sends what it sends for layers it never met."""
        for store in self.data_root.glob("image/*/distribution"):
            for child in store.iterdir():
                shutil.rmtree(child, ignore_errors=True)


def dockerd_binary() -> str | None:
    for candidate in DOCKERD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("dockerd")


def dockerd_command(binary: str, root: Path, containerd: Containerd) -> list[str]:
    """The flags that run dockerd beside everything else on the machine: its own data root, exec root, socket
    and pid file; no iptables, NAT or bridge (no network is created); vfs storage (no overlay mounts); the given
    containerd; a daemon.json of its own (`daemon_json`) instead of /etc/docker/daemon.json."""
    return [
        binary,
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "-H", f"unix://{root}/docker.sock",
        "--pidfile", str(root / "docker.pid"),
        "--iptables=false",
        "--ip-masq=false",
        "--bridge=none",
        "--storage-driver=vfs",
        "--containerd", containerd.address,
        "--config-file", str(root / "daemon.json"),
    ]  # fmt: skip


def daemon_json(root: Path) -> str:
    """dockerd's daemon.json: only where its key file goes (20.10 has no flag for it; the default is
    /etc/docker/key.json)."""
    return json.dumps({"deprecated-key-path": str(root / "key.json")}) + "\n"


@contextmanager
def dockerd_daemon(containerd: Containerd) -> Iterator[Dockerd]:
    """dockerd on a socket of its own, stopped (by its pid) and its root removed (unmounted first) at the end."""
    binary = dockerd_binary()
    if binary is None or not os.access(DOCKER, os.X_OK):
        raise DaemonStartError(f"dockerd or {DOCKER} is not installed (Debian: apt-get install docker.io)")
    if os.geteuid() != 0:
        raise DaemonStartError("dockerd needs root")
    root = _short_root("dkd-")
    (root / "daemon.json").write_text(daemon_json(root))
    (root / "client").mkdir()
    log_path = root / "dockerd.log"
    process = None
    try:
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                dockerd_command(binary, root, containerd), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=_clean_env(),
            )  # fmt: skip
        daemon = Dockerd(root, f"unix://{root}/docker.sock", root / "data", log_path, process, root / "client")
        ping = daemon.command("version", "--format", "{{.Server.Version}}")
        _wait_until(lambda: _answers(str(root / "docker.sock"), ping), process, log_path, "dockerd")
        yield daemon
    finally:
        if process is not None:
            _stop_process(process)
        _remove_root(root)


# --- the clients --------------------------------------------------------------------------------------------


class RealClients:
    """The three real clients on one fixture image. containerd starts when ctr or docker is first needed, dockerd
    when docker is; `close` (or the end of a `with`) stops them. A daemon that failed to start is not tried again:
    `require` raises the same DaemonStartError."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.fixture = write_fixture(workdir / "fixture")
        self._stack = ExitStack()
        self._containerd: Containerd | None = None
        self._dockerd: Dockerd | None = None
        self._failed: dict[str, DaemonStartError] = {}
        self._serial = itertools.count(1)

    def __enter__(self) -> RealClients:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the daemons (dockerd first, then containerd)."""
        self._stack.close()
        self._containerd = self._dockerd = None

    def _start(self, name: str, starter: Callable[[], object]) -> object:
        if name in self._failed:
            raise self._failed[name]
        try:
            return starter()
        except DaemonStartError as error:
            self._failed[name] = error
            raise

    def containerd(self) -> Containerd:
        if self._containerd is None:
            started = self._start("containerd", lambda: self._stack.enter_context(containerd_daemon()))
            assert isinstance(started, Containerd)
            self._containerd = started
        return self._containerd

    def dockerd(self) -> Dockerd:
        if self._dockerd is None:
            containerd = self.containerd()
            started = self._start("dockerd", lambda: self._stack.enter_context(dockerd_daemon(containerd)))
            assert isinstance(started, Dockerd)
            self._dockerd = started
        return self._dockerd

    def require(self, client: str) -> None:
        """Start what `client` ("docker", "containerd", "skopeo") needs; DaemonStartError when that fails."""
        if client == "docker":
            self.dockerd()
        elif client == "containerd":
            self.containerd()
        elif client == "skopeo":
            if shutil.which("skopeo") is None:
                raise DaemonStartError("skopeo is not installed (Debian: apt-get install skopeo)")
        else:
            raise ValueError(f"client must be one of {CLIENTS}, not {client!r}")

    def _fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self._serial)}"

    # docker

    def docker(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        daemon = self.dockerd()
        return run(daemon.command(*args), timeout=timeout, env=daemon.env())

    def docker_remove_all_images(self) -> None:
        """Remove every image of our dockerd and the manifests it cached, so that the next pull fetches the
        manifest and every blob.

        dockerd 20.10 keeps the manifests it pulled in containerd's content store (namespace `moby`) and, once a
        HEAD by tag has given the digest, takes a cached manifest instead of sending the GET by digest. Removing
        the image only lets containerd's garbage collector drop that copy some time later, so the cache is
        emptied here explicitly."""
        ids = self.docker("image", "ls", "--all", "--quiet").stdout.split()
        if ids:
            self.docker("image", "rm", "--force", *sorted(set(ids)))
        cached = self.ctr(DOCKER_CONTAINERD_NAMESPACE, "content", "ls", "--quiet").stdout.split()
        if cached:
            self.ctr(DOCKER_CONTAINERD_NAMESPACE, "content", "rm", *cached)

    def docker_push(self, ref: str, *, as_new: bool = True) -> None:
        """`docker load -i fixture.tar`, `docker tag`, `docker push ref`. With `as_new`, every local image and
        what docker remembers of earlier pushes and pulls are gone first: the push is one of layers docker never
        met (no HEAD before the upload, no mount attempt)."""
        if as_new:
            self.docker_remove_all_images()
            self.dockerd().forget_distribution_metadata()
        self.docker("load", "-i", str(self.fixture))
        self.docker("tag", FIXTURE_TAG, ref)
        self.docker("push", ref)

    def docker_pull(self, ref: str) -> None:
        """`docker pull ref` after removing every local image (otherwise it would fetch nothing)."""
        self.docker_remove_all_images()
        self.docker("pull", ref)

    # containerd

    def ctr(self, namespace: str, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return run(self.containerd().ctr_command(namespace, *args), timeout=timeout)

    def ctr_push(self, ref: str, namespace: str | None = None) -> str:
        """`ctr images import fixture.tar`, `images tag`, `images push --plain-http ref`, in a fresh namespace by
        default (no content of earlier pulls, so no distribution-source labels and no mount attempts). Returns the
        namespace."""
        namespace = namespace or self._fresh("push")
        self.ctr(namespace, "images", "import", str(self.fixture))
        self.ctr(namespace, "images", "tag", CTR_IMPORTED, ref)
        self.ctr(namespace, "images", "push", "--plain-http", ref)
        return namespace

    def ctr_pull(self, ref: str, namespace: str | None = None) -> str:
        """`ctr images pull --plain-http ref` in a fresh namespace by default: with content isolated per
        namespace, it fetches every blob. Returns the namespace."""
        namespace = namespace or self._fresh("pull")
        self.ctr(namespace, "images", "pull", "--plain-http", ref)
        return namespace

    # skopeo

    def skopeo(
        self, *args: str, timeout: float = COMMAND_TIMEOUT, cache: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`skopeo --insecure-policy ARGS` with a blob-info cache of its own (`cache`, default a fresh one).

        containers/image remembers in that cache (as root: /var/lib/containers/cache, shared by every run on the
        machine) which blobs it saw in which repository of which registry; a later push to another repository of
        that registry then sends HEADs to the remembered repository and mounts from it. A fresh cache makes the
        push one of blobs skopeo never met (and keeps the machine's cache out of the tests). skopeo has no flag for
        the cache's place; it follows XDG_DATA_HOME when it believes it runs rootless (_CONTAINERS_ROOTLESS_UID,
        which containers/image reads instead of the real euid), and nothing else of a docker:// to dir: or
        docker-archive: copy depends on that."""
        self.require("skopeo")
        skopeo = shutil.which("skopeo")
        assert skopeo is not None
        data_home = cache or self.workdir / self._fresh("skopeo-cache-")
        env = _clean_env(_CONTAINERS_ROOTLESS_UID=str(SKOPEO_CACHE_UID), XDG_DATA_HOME=str(data_home))
        return run([skopeo, "--insecure-policy", *args], timeout=timeout, env=env)

    def skopeo_push(self, archive: Path | None, ref: str) -> None:
        """`skopeo copy --dest-tls-verify=false docker-archive:ARCHIVE docker://ref` (None: the fixture)."""
        self.skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive or self.fixture}", f"docker://{ref}")

    def skopeo_pull(self, ref: str) -> Path:
        """`skopeo copy --src-tls-verify=false docker://ref dir:OUT` into a fresh directory; returns it."""
        out = self.workdir / self._fresh("skopeo-pull-")
        self.skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{out}")
        return out

    # by name

    def push(self, client: str, ref: str) -> None:
        """The fixture pushed to `ref` by `client` ("docker", "containerd", "skopeo"), as an image it never met."""
        if client == "docker":
            self.docker_push(ref)
        elif client == "containerd":
            self.ctr_push(ref)
        elif client == "skopeo":
            self.skopeo_push(None, ref)
        else:
            raise ValueError(f"client must be one of {CLIENTS}, not {client!r}")

    def pull(self, client: str, ref: str) -> None:
        """`ref` pulled by `client` with nothing of it local."""
        if client == "docker":
            self.docker_pull(ref)
        elif client == "containerd":
            self.ctr_pull(ref)
        elif client == "skopeo":
            self.skopeo_pull(ref)
        else:
            raise ValueError(f"client must be one of {CLIENTS}, not {client!r}")


def real_signatures(
    client: str, kind: str, registry: LocalRegistry, clients: RealClients, repository: str | None = None
) -> Signature:
    """Run the real `client` ("docker", "containerd", "skopeo") once, a `kind` ("pull" or "push") of the fixture
    image, against `registry` (started with `registry_log.REQUEST_LOG_CONFIG`), and return the signature of
    that operation's requests, taken from the registry's log by offset.

    A push goes to a repository of its own (`repository`, default a fresh `real/<client>-push-N`) as an image the
    client never met. A pull first pushes the fixture with the same client (not measured; like a user who pushed
    then pulls elsewhere) to a fresh repository and pulls it with nothing of it local. Use a registry where the
    image's blobs are not in other repositories when mounts should not appear (docker and containerd only mount
    what they remember, which the pushes here make them forget).

    Raises DaemonStartError when the client's daemon cannot start: call `require_client(clients, client)` first
    in a test to skip (locally) or fail (CI) instead."""
    if client not in CLIENTS or kind not in KINDS:
        raise ValueError(f"client in {CLIENTS}, kind in {KINDS}; not {client!r}, {kind!r}")
    clients.require(client)
    ref = f"{registry.host_port}/{repository or clients._fresh(f'real/{client}-{kind}-')}:1.0"
    if kind == "pull":
        clients.push(client, ref)
    with capture(registry.log_path) as captured:
        (clients.pull if kind == "pull" else clients.push)(client, ref)
    if not captured.requests:
        raise AssertionError(f"{client} {kind} of {ref}: the registry logged no requests (is its log level info?)")
    return signature(captured.requests)


def signatures_json(measured: Mapping[str, Signature]) -> str:
    """`{"docker pull": {...}, ...}` for a report."""
    return json.dumps({name: value.to_json() for name, value in measured.items()}, indent=2, sort_keys=True)


# --- pytest -------------------------------------------------------------------------------------------------


def require_client(clients: RealClients, client: str) -> None:
    """`clients.require(client)`, skipping the test (failing it under CI) when a daemon cannot start."""
    try:
        clients.require(client)
    except DaemonStartError as error:
        missing(f"{client}: {error}")


@pytest.fixture(scope="module")
def real_clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealClients]:
    """The real clients for one test module: each daemon starts at most once per module (on first use) and is
    stopped at the module's end. Another test module uses it with `from tests.support.real_clients import
    real_clients` (pytest finds fixtures in a module's namespace)."""
    with RealClients(tmp_path_factory.mktemp("real-clients")) as clients:
        yield clients
