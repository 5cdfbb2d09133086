"""The real programs `make peers` builds at pinned versions (registry_tasks/tools/peers.py), for tests: the path
of a built one (else a skip, a failure under CI), and the daemons among them run for a test: containerd 2 on a
root and socket of its own, dockerd 29 on such a containerd (with the image store chosen), and crane's in-memory
registry on a free loopback port. Each is stopped by its pid within bounded waits, and its directory removed,
whatever the test does."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from registry_tasks.tools.local_registry import free_port
from registry_tasks.tools.peers import binary_path, find

from .helpers import missing

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
COMMAND_TIMEOUT = 120.0


def peer(name: str, binary: str | None = None) -> str:
    """The path of a built peer's binary (its first unless named); skips (fails under CI) when it is not built."""
    entry = find(name)
    assert entry is not None, f"no peer {name!r} in registry_tasks/tools/peers.py"
    path = binary_path(name, binary)
    if path is None:
        missing(f"{name} {entry.version} is not built: run `make peers`")
    return str(path)


def run(
    *command: str, timeout: float = COMMAND_TIMEOUT, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a peer's command (in `env`, else this process's environment); a non-zero exit or a timeout fails with
    its output."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{' '.join(command)} did not end within {timeout:g} s") from None
    output = f"{result.stderr.strip()}\n{result.stdout.strip()}".strip()
    assert result.returncode == 0, f"{' '.join(command)} exited with {result.returncode}:\n{output[-4000:]}"
    return result


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by its pid, a bounded wait, then SIGKILL; safe when it has ended already."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"
    except OSError:
        return "(no log)"


def wait_ready(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str, timeout: float = START_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"{what} exited with {process.returncode} during start:\n{tail(log)}"
        assert time.monotonic() < deadline, f"{what} did not answer within {timeout:g} s:\n{tail(log)}"
        time.sleep(0.1)


def answers_v2(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def crane_registry(crane: str) -> Iterator[tuple[str, Path]]:
    """`crane registry serve` (go-containerregistry's in-memory registry) on a free loopback port; yields its URL and
    its log (a line per request), both gone once it stops."""
    directory = Path(tempfile.mkdtemp(prefix="crane-registry-"))
    log = directory / "crane.log"
    address = f"127.0.0.1:{free_port()}"
    with open(log, "ab") as output:
        process = subprocess.Popen([crane, "registry", "serve", "--address", address], stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_ready(lambda: answers_v2(f"http://{address}"), process, log, "crane registry serve")
        yield f"http://{address}", log
    finally:
        stop(process)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Containerd2:
    """A running containerd 2 with its own root, state, socket and registry hosts directory (config_path)."""

    root: Path
    address: str
    log_path: Path
    process: subprocess.Popen[bytes]
    ctr_binary: str

    @property
    def hosts_dir(self) -> Path:
        return self.root / "certs.d"

    def ctr(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return run(self.ctr_binary, "--address", self.address, *args, timeout=timeout)

    def plain_http(self, host_port: str) -> None:
        """hosts.toml for `host_port` (docs/hosts.md of containerd 2.4): served over plain HTTP, pull and resolve."""
        directory = self.hosts_dir / host_port
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts.toml").write_text(
            f'server = "http://{host_port}"\n\n[host."http://{host_port}"]\n  capabilities = ["pull", "resolve"]\n'
        )


def containerd2_config(root: Path) -> str:
    """Version 3 (containerd 2.0-2.3's format; 2.4 migrates it to its 4 at start, with a warning): everything under
    `root`, no imported drop-ins (2.4 reads /etc/containerd/conf.d/*.toml by default), content isolated per
    namespace (so a CRI pull does not find what a ctr pull fetched), registry hosts from `root`/certs.d."""
    return f"""version = 3
imports = []
root = "{root}/root"
state = "{root}/state"

[grpc]
  address = "{root}/containerd.sock"

[debug]
  level = "info"

[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.cri.v1.images".registry]
  config_path = "{root}/certs.d"
"""


def unmount_under(root: Path) -> None:
    """Unmount what a killed daemon may have left mounted under `root` (deepest first)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = {line.split()[4] for line in lines}
    for point in sorted((p for p in points if p == str(root) or p.startswith(f"{root}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)


@contextmanager
def containerd2() -> Iterator[Containerd2]:
    """containerd 2 (the pinned build) as root on a socket of its own; skips (fails under CI) when not root."""
    binary, ctr = peer("containerd"), peer("containerd", "ctr")
    if os.geteuid() != 0:
        missing("containerd 2 needs root (its snapshotters mount, its content store chowns)")
    root = Path(tempfile.mkdtemp(prefix="ctd2-")).resolve()  # a unix socket path must stay under 108 bytes
    (root / "config.toml").write_text(containerd2_config(root))
    (root / "certs.d").mkdir()
    log = root / "containerd.log"
    process = None
    try:
        with open(log, "ab") as output:
            process = subprocess.Popen([binary, "--config", str(root / "config.toml")], stdin=subprocess.DEVNULL,
                                       stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
        daemon = Containerd2(root, str(root / "containerd.sock"), log, process, ctr)

        def ready() -> bool:
            if not os.path.exists(daemon.address):
                return False
            command = [ctr, "--address", daemon.address, "version"]
            try:
                return subprocess.run(command, capture_output=True, timeout=5, check=False).returncode == 0
            except subprocess.TimeoutExpired:
                return False

        wait_ready(ready, process, log, "containerd 2")
        yield daemon
    finally:
        tear_down(process, root)


def tear_down(process: subprocess.Popen[bytes] | None, root: Path) -> None:
    """A daemon stopped by its pid (if it started), then what it mounted under its root and the root itself gone."""
    if process is not None:
        stop(process)
    unmount_under(root)
    shutil.rmtree(root, ignore_errors=True)


DOCKERD_START_TIMEOUT = 60.0
"""dockerd's start (its containerd namespaces, image store, networks) is slower than the others', more so on a
busy machine."""

ImageStore = Literal["containerd", "overlay2"]
"""dockerd's image store: containerd's snapshotters and content store (Docker 29's default on a new install, it
pushes OCI media types), or the classic graphdriver store, overlay2 (Docker v2 media types)."""


@dataclass
class Dockerd:
    """A running dockerd 29 on a containerd 2 of its own, and the docker CLI 29 set up to talk to it alone."""

    root: Path
    socket_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    docker_binary: str
    containerd: Containerd2
    image_store: ImageStore

    @property
    def environment(self) -> dict[str, str]:
        """The CLI's environment: this daemon's socket, a CLI config directory of its own (no ~/.docker)."""
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket_path}", "DOCKER_CONFIG": str(self.root / "cli")}

    def docker(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return run(self.docker_binary, *args, timeout=timeout, env=self.environment)


def dockerd_config(root: Path, containerd_address: str, image_store: ImageStore) -> dict[str, object]:
    """Everything under `root`, on the external containerd; no bridge, no iptables, no userland proxy (nothing
    here runs a container); the image store chosen. Read with --config-file, so no /etc/docker/daemon.json."""
    config: dict[str, object] = {
        "data-root": f"{root}/data",
        "exec-root": f"{root}/exec",
        "pidfile": f"{root}/dockerd.pid",
        "hosts": [f"unix://{root}/docker.sock"],
        "containerd": containerd_address,
        "bridge": "none",
        "iptables": False,
        "ip6tables": False,
        "userland-proxy": False,
    }
    if image_store == "containerd":
        config["features"] = {"containerd-snapshotter": True}
    else:
        config.update({"features": {"containerd-snapshotter": False}, "storage-driver": "overlay2"})
    return config


def answers_ping(socket_path: Path) -> bool:
    """The Engine API's GET /_ping over the unix socket answers 200 OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(2)
            connection.connect(str(socket_path))
            connection.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = b""
            while chunk := connection.recv(4096):
                answer += chunk
    except OSError:
        return False
    return answer.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")) and answer.endswith(b"OK")


@contextmanager
def dockerd29(image_store: ImageStore = "containerd") -> Iterator[Dockerd]:
    """dockerd 29 (the pinned build) as root on a containerd 2 of its own, with `image_store`; skips (fails under
    CI) when not built or not root. dockerd is stopped by its pid before its containerd."""
    binary, docker = peer("dockerd"), peer("docker")
    proxy = peer("dockerd", "docker-proxy")
    if os.geteuid() != 0:
        missing("dockerd needs root (it mounts, owns its data root and talks to a root containerd)")
    with containerd2() as containerd:
        root = Path(tempfile.mkdtemp(prefix="dockerd-")).resolve()  # a unix socket path must stay under 108 bytes
        config = root / "daemon.json"
        config.write_text(json.dumps(dockerd_config(root, containerd.address, image_store), indent=2) + "\n")
        (root / "cli").mkdir()
        log = root / "dockerd.log"
        environment = {**os.environ, "PATH": f"{Path(proxy).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        process = None
        try:
            with open(log, "ab") as output:
                process = subprocess.Popen([binary, "--config-file", str(config)], stdin=subprocess.DEVNULL,
                                           stdout=output, stderr=subprocess.STDOUT, env=environment)  # fmt: skip
            daemon = Dockerd(root, root / "docker.sock", log, process, docker, containerd, image_store)
            wait_ready(lambda: answers_ping(daemon.socket_path), process, log, "dockerd 29", DOCKERD_START_TIMEOUT)
            yield daemon
        finally:
            tear_down(process, root)
