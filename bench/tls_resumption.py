"""TLS pieces of `python -m bench.connections`: a test CA, and whether clients resume TLS sessions.

A client that opens a connection per request pays a full handshake each time unless it resumes a session (a
TLS 1.3 ticket): whether docker and skopeo do decides what a realistic load costs the registry. A recording
proxy terminates TLS in front of the plain registry (loopback only, a thread per connection) and notes, per
accepted connection, the version and whether the session was resumed (OpenSSL tells the server side too).
Through it run skopeo (if installed), our client with the docker profile, and a stdlib client that does
resume (the proof that the proxy would see a resumption if there were one).
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from bench.bare_client import HOST
from registry_tasks.registry import ClientConfig, RegistryClient
from registry_tasks.registry.profiles import DOCKER

SKOPEO_TIMEOUT = 60.0
SKOPEO_CACHE_UID = "65534"  # as tests/support/real_clients.py: skopeo's blob-info cache goes under XDG_DATA_HOME


@dataclass(frozen=True)
class TLSFiles:
    """A CA and a server certificate for 127.0.0.1, as files (the registry and the proxy read them)."""

    directory: Path
    ca_file: Path
    cert_file: Path
    key_file: Path

    def registry_config(self) -> dict[str, Any]:
        return {"http": {"tls": {"certificate": str(self.cert_file), "key": str(self.key_file)}}}


def make_ca(directory: Path) -> TLSFiles:
    """RSA like tests/support/auth_servers.py's LocalCA (trustme's default would be ECDSA: a cheaper handshake)."""
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    server = ca.issue_cert(HOST, "localhost", key_type=trustme.KeyType.RSA)
    files = TLSFiles(directory, directory / "ca.crt", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(files.ca_file))  # *.crt: what containers/image reads from a --cert-dir
    server.cert_chain_pems[0].write_to_path(str(files.cert_file))
    server.private_key_pem.write_to_path(str(files.key_file))
    return files


@dataclass
class Accepted:
    """One TLS connection the proxy accepted."""

    version: str | None
    reused: bool
    at: float
    requests: int = 0  # request lines the client sent on it: more than one means it kept the connection alive


class RecordingProxy:
    """Terminates TLS on a loopback port and relays the bytes to a plain upstream, recording each handshake."""

    def __init__(self, upstream: tuple[str, int], files: TLSFiles) -> None:
        self.upstream = upstream
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(files.cert_file), str(files.key_file))
        self.listener = socket.create_server((HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self.accepted: list[Accepted] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stopped = False

    def serve(self) -> None:
        while not self._stopped:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(raw,), daemon=True).start()

    def stop(self) -> None:
        self._stopped = True
        self.listener.close()

    def since(self, start: int) -> list[Accepted]:
        with self._lock:
            return self.accepted[start:]

    def _relay(self, raw: socket.socket) -> None:
        """One connection: handshake, record it, then copy both ways in this one thread (an SSL object must not
        be read and written from two threads at once) until the upstream closes."""
        try:
            with self.context.wrap_socket(raw, server_side=True) as tls, socket.create_connection(self.upstream) as up:
                accepted = Accepted(tls.version(), bool(tls.session_reused), time.monotonic())
                with self._lock:
                    self.accepted.append(accepted)
                client_open = True
                while True:
                    ready = [tls] if client_open and tls.pending() else select.select([tls, up], [], [], 30)[0]
                    if not ready:
                        return
                    if tls in ready and client_open:
                        data = tls.recv(65536)
                        if data:
                            accepted.requests += data.count(b" HTTP/1.1\r\n")  # heads are small: one read each
                            up.sendall(data)
                        else:
                            client_open = False
                            up.shutdown(socket.SHUT_WR)
                    if up in ready:
                        data = up.recv(65536)
                        if not data:
                            return
                        tls.sendall(data)
        except (OSError, ssl.SSLError) as exc:
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")


@contextmanager
def recording_proxy(upstream: tuple[str, int], files: TLSFiles) -> Iterator[RecordingProxy]:
    proxy = RecordingProxy(upstream, files)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.stop()
        thread.join(timeout=5)


def summary(accepted: list[Accepted]) -> dict[str, Any]:
    versions = sorted({one.version or "?" for one in accepted})
    return {
        "connections": len(accepted),
        "requests": sum(one.requests for one in accepted),
        "resumed": sum(one.reused for one in accepted),
        "versions": versions,
    }


def run_skopeo(proxy: RecordingProxy, files: TLSFiles, reference: str, work: Path) -> dict[str, Any]:
    """`skopeo inspect` and `skopeo copy ... dir:` through the proxy (each one process, several connections)."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        return {"skipped": "skopeo is not installed (Debian: apt-get install skopeo)"}
    version = subprocess.run([skopeo, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    certs = work / "skopeo-certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(files.ca_file, certs / "ca.crt")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "XDG_DATA_HOME": str(work / "skopeo-data"),
        "_CONTAINERS_ROOTLESS_UID": SKOPEO_CACHE_UID,
    }
    source = f"docker://{HOST}:{proxy.port}/{reference}"
    commands = {
        "inspect": [skopeo, "--insecure-policy", "inspect", "--cert-dir", str(certs), source],
        "copy": [skopeo, "--insecure-policy", "copy", "--src-cert-dir", str(certs), source, f"dir:{work / 'copy'}"],
    }
    results: dict[str, Any] = {"version": version}
    for name, command in commands.items():
        start = len(proxy.since(0))
        began = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=SKOPEO_TIMEOUT, check=False)
        time.sleep(0.2)  # the proxy's threads record a connection as it is accepted; let the last ones land
        results[name] = {
            **summary(proxy.since(start)),
            "exit_code": done.returncode,
            "seconds": round(time.monotonic() - began, 2),
            "stderr": done.stderr.strip().splitlines()[-3:],
        }
    return results


def run_ours(proxy: RecordingProxy, files: TLSFiles, repository: str, tag: str, count: int) -> dict[str, Any]:
    """Our client as docker (a connection per request), `count` manifest GETs through the proxy."""
    start = len(proxy.since(0))
    client = RegistryClient(
        f"https://{HOST}:{proxy.port}", lambda **_: None, ClientConfig(profile=DOCKER, ca_file=str(files.ca_file))
    )
    try:
        for _ in range(count):
            client.get_manifest(repository, tag)
    finally:
        client.close()
    time.sleep(0.2)
    return summary(proxy.since(start))


def run_resuming_stdlib(proxy: RecordingProxy, files: TLSFiles, head: bytes, count: int) -> dict[str, Any]:
    """A stdlib client passing the last `session` on: it resumes, so the proxy must count count-1 resumptions."""
    start = len(proxy.since(0))
    context = ssl.create_default_context(cafile=str(files.ca_file))
    session: ssl.SSLSession | None = None
    client_side = 0
    for _ in range(count):
        with context.wrap_socket(
            socket.create_connection((HOST, proxy.port)), server_hostname=HOST, session=session
        ) as tls:
            tls.sendall(head)
            while tls.recv(65536):
                pass
            client_side += bool(tls.session_reused)
            session = tls.session
    time.sleep(0.2)
    return {**summary(proxy.since(start)), "client_side_reused": client_side}


def resumption_findings(
    upstream: tuple[str, int], files: TLSFiles, repository: str, tag: str, head: bytes, count: int = 20
) -> dict[str, Any]:
    """Everything of part (d) that runs here: the positive control, ours, and skopeo."""
    with recording_proxy(upstream, files) as proxy, tempfile.TemporaryDirectory(prefix="bench-skopeo-") as work:
        proxy_head = head.replace(f"Host: {upstream[0]}:{upstream[1]}".encode(), f"Host: {HOST}:{proxy.port}".encode())
        found: dict[str, Any] = {
            "stdlib_resuming": run_resuming_stdlib(proxy, files, proxy_head, count),
            "ours_docker_profile": run_ours(proxy, files, repository, tag, count),
            "skopeo": run_skopeo(proxy, files, f"{repository}:{tag}", Path(work)),
            "docker": {"skipped": "not measured: no docker daemon is started by this bench"},
        }
        found["proxy_errors"] = proxy.errors[:5]
    return found


def print_resumption(found: dict[str, Any]) -> list[str]:
    """One line per client seen through the recording proxy; returns what failed (a skip is not a failure)."""
    if "error" in found:
        print(f"FAILED resumption check: {found['error']}")
        return [found["error"]]
    problems = []
    for name in ("stdlib_resuming", "ours_docker_profile"):
        seen = found[name]
        print(f"through the proxy, {name}: {seen['resumed']} of {seen['connections']} connections resumed "
              f"({', '.join(seen['versions'])}), {seen['requests']} requests")  # fmt: skip
    skopeo = found["skopeo"]
    if "skipped" in skopeo:
        print(f"skopeo: skipped ({skopeo['skipped']})")
    for command in ("inspect", "copy"):
        if command in skopeo:
            seen = skopeo[command]
            print(f"{skopeo['version']} {command}: exit {seen['exit_code']}, {seen['resumed']} of "
                  f"{seen['connections']} connections resumed ({', '.join(seen['versions'])}), "
                  f"{seen['requests']} requests")  # fmt: skip
            if seen["exit_code"] != 0:
                problems.append(f"skopeo {command} exited {seen['exit_code']}: {' '.join(seen['stderr'])}")
    print(f"docker: {found['docker']['skipped']}")
    for error in found.get("proxy_errors", []):
        print(f"note: the proxy saw {error}")
    for problem in problems:
        print(f"FAILED {problem}")
    return problems
