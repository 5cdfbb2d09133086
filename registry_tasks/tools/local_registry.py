"""Start the reference registry (distribution 2.8, the program inside `registry:2`) on a free loopback port.

Tests, `make run` and benchmarks need a real registry without a Docker engine; Debian ships the same
program as `docker-registry`. Each instance gets its own temporary directory (config, storage, log)
that is removed on stop, so runs never see each other's data.

CLI for `make run` (the registry outlives the Python process):
    python -m registry_tasks.tools.local_registry start --state-dir DIR   # prints the URL
    python -m registry_tasks.tools.local_registry stop --state-dir DIR
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import RegistryTasksError

BINARY_NAMES = ("docker-registry", "registry")
API_VERSION_HEADER = "Docker-Distribution-Api-Version"
INSTALL_HINT = (
    "install distribution's registry: `apt-get install docker-registry` (Debian/Ubuntu), "
    "or run `docker compose up -d registry` and point the tests at http://127.0.0.1:5000"
)
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 3


class RegistryStartError(RegistryTasksError, RuntimeError):
    """The registry binary is missing, exited, or never answered on /v2/."""


class _PortTaken(RegistryStartError):
    """The probed free port was taken before the registry could bind it; worth another try."""


@dataclass
class LocalRegistry:
    """A running registry process and the temporary directory it owns."""

    url: str
    host_port: str
    root_dir: Path
    storage_dir: Path
    log_path: Path
    config_path: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Terminate (then kill) the process and remove its directory; safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        shutil.rmtree(self.root_dir, ignore_errors=True)

    def kill(self) -> None:
        """Kill the process as a crash would (SIGKILL), keeping config, storage and log for `restart`."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def restart(self, timeout: float = 20) -> None:
        """Run the registry again on the same address with the same config and storage (killing it first if it
        still runs), and wait until it answers: a registry that went down and came back, for fault tests."""
        self.kill()
        command = self.process.args
        assert isinstance(command, list)  # _spawn always passes a list
        self.process = _spawn(command, self.root_dir, self.log_path, detach=False)
        _wait_ready(self, timeout)

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the registry's output, for error messages."""
        return _tail(self.log_path, lines)

    def __enter__(self) -> LocalRegistry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def find_binary(binary: str | None = None) -> str:
    """Path of the registry program: the given one, else `docker-registry` or `registry` on PATH."""
    candidates = (binary,) if binary else BINARY_NAMES
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    raise RegistryStartError(f"registry binary {' or '.join(candidates)} not found; {INSTALL_HINT}")


def start_registry(
    workdir: str | None = None,
    *,
    binary: str | None = None,
    extra_config: dict[str, Any] | None = None,
    timeout: float = 20,
    detach: bool = False,
) -> LocalRegistry:
    """Start a registry in a fresh temp dir (created under `workdir` if given) and wait until /v2/ answers.

    `extra_config` is deep-merged over the defaults (auth, TLS, ...). `detach` puts the process in its own
    session so it survives this Python process and the terminal's Ctrl-C (for the CLI).
    """
    path = find_binary(binary)
    for _ in range(PORT_ATTEMPTS - 1):
        with contextlib.suppress(_PortTaken):  # another process took the free port between probe and bind
            return _start_once(path, workdir, extra_config or {}, timeout, detach)
    return _start_once(path, workdir, extra_config or {}, timeout, detach)


def _start_once(
    binary: str, workdir: str | None, extra_config: dict[str, Any], timeout: float, detach: bool
) -> LocalRegistry:
    if workdir is not None:
        os.makedirs(workdir, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="registry-", dir=workdir)).resolve()  # the process runs in root
    host_port = f"127.0.0.1:{free_port()}"
    config = _deep_merge(_default_config(root / "storage", host_port), extra_config)
    host_port = config["http"]["addr"]
    scheme = "https" if config["http"].get("tls") else "http"
    storage_dir = Path(config["storage"]["filesystem"]["rootdirectory"])
    storage_dir.mkdir(parents=True, exist_ok=True)
    config_path = root / "config.yml"
    # JSON is YAML: no PyYAML needed to write the config.
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    log_path = root / "registry.log"
    process = _spawn([binary, "serve", str(config_path)], root, log_path, detach)
    registry = LocalRegistry(
        url=f"{scheme}://{host_port}",
        host_port=host_port,
        root_dir=root,
        storage_dir=storage_dir,
        log_path=log_path,
        config_path=config_path,
        process=process,
    )
    try:
        _wait_ready(registry, timeout)
    except BaseException:
        registry.stop()
        raise
    return registry


def _spawn(args: list[str], root: Path, log_path: Path, detach: bool) -> subprocess.Popen[bytes]:
    """The registry process, running in `root`, its output appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=detach
        )


def _default_config(storage_dir: Path, host_port: str) -> dict[str, Any]:
    return {
        "version": "0.1",
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": True},
            # The upload purger would otherwise walk the storage at start and every 24 h.
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": host_port, "secret": secrets.token_hex(16)},
        "health": {"storagedriver": {"enabled": False}},
    }


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Copy of `base` with `override` merged in: nested dicts merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def free_port() -> int:
    """A loopback port free right now (the registry, and tests that start Locust masters and web UIs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(registry: LocalRegistry, timeout: float) -> None:
    """Poll /v2/ until the registry answers: 200, or 401 when auth is configured."""
    context = ssl.create_default_context()  # readiness only: tests check certificates themselves
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while True:
        code = registry.process.poll()
        if code is not None:
            tail = registry.log_tail()
            error_type = _PortTaken if "address already in use" in tail else RegistryStartError
            raise error_type(f"registry exited with code {code} during start; its output:\n{tail}")
        try:
            with urllib.request.urlopen(f"{registry.url}/v2/", timeout=1, context=context) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            if error.code == 401 and error.headers.get(API_VERSION_HEADER):
                return
        except (OSError, ssl.SSLError):
            pass
        if time.monotonic() > deadline:
            raise RegistryStartError(
                f"registry at {registry.url} not ready after {timeout:g}s; its output:\n" + registry.log_tail()
            )
        time.sleep(0.05)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --- CLI: a detached registry for `make run` ---------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (an orphan may wait for a busy init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _is_registry(pid: int) -> bool:
    """Guard against a recycled pid: only signal a process that runs `... serve ...`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _pid_alive(pid)
    return len(argv) >= 2 and argv[1] == b"serve"


def stop_detached(state_dir: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the registry recorded in `state_dir` and remove the directory; False if none was running."""
    pid_file = state_dir / "pid"
    stopped = False
    if pid_file.exists():
        pid = int(pid_file.read_text().strip())
        if _pid_alive(pid) and _is_registry(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped = True
    shutil.rmtree(state_dir, ignore_errors=True)
    return stopped


def start_detached(state_dir: Path, timeout: float = 20) -> LocalRegistry:
    """Start a registry that outlives this process; record its URL and pid in `state_dir`."""
    pid_file = state_dir / "pid"
    if pid_file.exists() and _pid_alive(int(pid_file.read_text().strip())):
        raise RegistryStartError(
            f"a registry from {state_dir} is still running at {(state_dir / 'url').read_text().strip()}; "
            f"stop it with: python -m registry_tasks.tools.local_registry stop --state-dir {state_dir}"
        )
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    registry = start_registry(str(state_dir), timeout=timeout, detach=True)
    (state_dir / "url").write_text(registry.url + "\n")
    pid_file.write_text(f"{registry.process.pid}\n")
    return registry


def main(argv: list[str] | None = None) -> int:
    prog = "python -m registry_tasks.tools.local_registry"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument("--state-dir", type=Path, default=Path(".run/registry"), help="where url, pid, data live")
    parser.add_argument("--timeout", type=float, default=20, help="seconds to wait for the registry to answer")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            registry = start_detached(args.state_dir, args.timeout)
            print(registry.url)
        elif not stop_detached(args.state_dir, args.timeout):
            print(f"no registry was running from {args.state_dir}", file=sys.stderr)
    except RegistryStartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
