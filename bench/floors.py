"""What the machine itself costs for the work each path does, measured in the same run as the generators.

- sha256 alone: hashing the blob-get bytes in this process (hashlib, the same 1 MiB pieces): a verified
  download cannot cost less than hashing what it verifies.
- sendfile alone: one POST, then a PUT whose head goes by `sendall` and whose 50 MB by blocking `os.sendfile`
  from a memfd, with `http.client`: the kernel's cost of moving the bytes over loopback, the floor of any upload.
- wrk: manifest GETs on 16 keep-alive connections from wrk (C, no parsing beyond HTTP): the physical anchor of
  CPU per request (its CPU from `os.wait4`).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import resource
import shutil
import socket
import struct
import subprocess
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from registry_tasks.image import OCI_MANIFEST, Blob

GB = 1e9
REPEATS = 3  # a floor is the least of a few tries: the machine is shared


@dataclass(frozen=True)
class Floor:
    """One floor: CPU seconds per unit ("GB" or "request"), how much work it was measured over, or why not."""

    name: str
    per: str
    cpu: float
    work: float
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "per": self.per, "cpu": round(self.cpu, 5), "work": self.work, "note": self.note}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sha256_alone(blob: Blob, gigabytes: float) -> Floor:
    """CPU seconds per GB of hashlib.sha256 over the blob's bytes, read as the verified download reads them."""
    rounds = max(1, round(gigabytes * GB / blob.size))
    best = float("inf")
    for _ in range(REPEATS):
        start = _cpu()
        for _ in range(rounds):
            hasher = hashlib.sha256()
            for chunk in blob.body.chunks():
                hasher.update(chunk)
        best = min(best, _cpu() - start)
    return Floor("sha256 alone", "GB", best / (rounds * blob.size / GB), rounds * blob.size / GB)


def sendfile_alone(url: str, blob: Blob, gigabytes: float) -> Floor:
    """CPU seconds per GB of monolithic uploads whose bytes go by blocking os.sendfile from a memfd."""
    parts = urlsplit(url)
    fd = os.memfd_create("bench-floor", os.MFD_CLOEXEC)
    try:
        for chunk in blob.body.chunks():
            os.write(fd, chunk)
        rounds = max(1, round(gigabytes * GB / blob.size))
        best = float("inf")
        for attempt in range(REPEATS):
            start = _cpu()
            for index in range(rounds):
                _upload(parts.hostname or "127.0.0.1", parts.port or 80, f"bench/floor-{attempt}-{index}", blob, fd)
            best = min(best, _cpu() - start)
    finally:
        os.close(fd)
    return Floor("sendfile alone", "GB", best / (rounds * blob.size / GB), rounds * blob.size / GB)


def _upload(host: str, port: int, repository: str, blob: Blob, fd: int) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        connection.request("POST", f"/v2/{repository}/blobs/uploads/", body=b"")
        answer = connection.getresponse()
        answer.read()
        location = urlsplit(answer.getheader("Location") or "")
        target = f"{location.path}?{location.query}&digest={blob.digest}"
        head = f"PUT {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {blob.size}\r\n"
        head += "Content-Type: application/octet-stream\r\n\r\n"
        sock = connection.sock
        sock.settimeout(None)  # blocking: sendfile moves as much as it can per call, as a floor should
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 60, 0))  # still bounded
        sock.sendall(head.encode())
        sent = 0
        while sent < blob.size:
            sent += os.sendfile(sock.fileno(), fd, sent, blob.size - sent)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        answer.read()
        if answer.status != 201:
            raise RuntimeError(f"sendfile floor: PUT answered {answer.status}")
    finally:
        connection.close()


def wrk(url: str, repository: str, tag: str, seconds: int, connections: int = 16) -> Floor:
    """CPU seconds per manifest GET of wrk, one thread, `connections` keep-alive connections."""
    binary = shutil.which("wrk")
    if binary is None:
        return Floor("wrk", "request", float("nan"), 0, "wrk not installed (apt-get install wrk)")
    command = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "-H", f"Accept: {OCI_MANIFEST}"]
    command.append(f"{url}/v2/{repository}/manifests/{tag}")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(seconds + 30, process.kill)
    watchdog.start()
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # reaped here, with its resource usage
    watchdog.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    found = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if status or not found or errors:
        return Floor("wrk", "request", float("nan"), 0, f"wrk failed: {' '.join(output.split())[:200]}")
    requests = int(found.group(1))
    return Floor("wrk", "request", (usage.ru_utime + usage.ru_stime) / requests, requests)

