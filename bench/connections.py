"""`python -m bench.connections`: what a new connection per request (the docker profile) costs our client, against a
bare socket making the same request (part of `make bench`; a benchmark, not a test).

In one process, one measurement after another: CPU seconds of this process (`time.process_time`, every thread of
it) over N sequential manifest GETs by tag, each on a new connection, repeated ROUNDS times in alternating order
(the machine is shared: the minimum is the figure, the median stands beside it).

- plain HTTP: bare stdlib (`socket.create_connection`, `sendall` of the exact bytes our client sends, captured
  from it, recv until EOF, close); the same on gevent sockets (the floor under our client, which runs on gevent);
  our Transport alone (keep_alive=False, `Response.read`); our RegistryClient as docker doing what the
  manifest-get task does (digest verified). Target: ours <= 1.3x bare stdlib. Also ours pooled: what the new
  connection itself costs us.
- TLS (a second registry, own CA): a full handshake per request (bare stdlib, bare gevent, ours), the bare stdlib
  one resuming its session, and ours pooled; the handshake costs per-request minus pooled.
- whether clients resume TLS sessions (bench/tls_resumption.py): skopeo, ours, and a resuming stdlib control.

Prints a table, writes JSON (default reports/bench-connections.json); exits 1 only if a measurement failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import json
import os
import platform
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.ssl

from bench.bare_client import Bare, captured_head, gevent_connect, gevent_connect_direct, stdlib_connect
from bench.measure import cpu_seconds
from bench.tls_resumption import TLSFiles, make_ca, print_resumption, resumption_findings
from registry_tasks.registry import ClientConfig, RegistryClient, log_request
from registry_tasks.registry.client import MANIFEST_LIMIT
from registry_tasks.registry.profiles import DOCKER, POOLED, ClientProfile
from registry_tasks.registry.transport import Transport, TransportConfig
from registry_tasks.registry.workflows import push_image
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry, start_registry

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.3  # ours / bare stdlib, CPU per request on plain HTTP
ROUNDS = 3
WARMUP = 20  # requests before each timed loop: caches, the registry's first answers
TLS_SHARE = 2  # TLS loops make requests / TLS_SHARE: ~10x the CPU per request, so still > 1 s of CPU per loop
SPEC = "1x4KiB"  # one small image: the manifest is ~500 bytes, the answer ~900
PREFIX = "bench"
DOCKER_POOLED = dataclasses.replace(DOCKER, name="docker-pooled", connections=POOLED)


def discard(**_: Any) -> None:
    """A `fire` that reports nowhere: our client's own CPU, without Locust's statistics (bench/run.py has those)."""


@dataclass
class Probe:
    """One measurement: `one()` makes one request; `baseline` is the key it is compared with."""

    key: str
    label: str
    one: Callable[[], object]
    registry_pid: int
    baseline: str | None = None
    target: bool = False
    cpu_us: list[float] = field(default_factory=list)
    wall_us: list[float] = field(default_factory=list)
    registry_us: list[float] = field(default_factory=list)
    error: str | None = None
    facts: Callable[[], dict[str, Any]] = dict  # read after the runs: handshakes resumed, connections opened

    @property
    def best(self) -> float | None:
        return min(self.cpu_us) if self.cpu_us else None


def ours_transport(url: str, ca_file: str | None) -> tuple[Transport, Callable[[], object]]:
    """Our Transport alone, a new connection per request, sending what the docker profile's manifest GET sends."""
    transport = Transport(
        TransportConfig(keep_alive=False, ca_file=ca_file, default_headers={"User-Agent": DOCKER.user_agent})
    )
    headers = {"Accept": DOCKER.accept}  # one line per type, as RegistryClient sends them for docker

    def one() -> bytes:
        response = transport.request("GET", url, headers)
        body = response.read(MANIFEST_LIMIT)
        if response.status != 200:
            raise RuntimeError(f"transport request answered {response.status}")
        return body

    return transport, one


def ours_client(base_url: str, ca_file: str | None, profile: ClientProfile) -> RegistryClient:
    """As bench/run.py's seed builds one, with a client profile (docker: Connection: close on every request)."""
    return RegistryClient(base_url, discard, ClientConfig(profile=profile, ca_file=ca_file))


def seed(url: str, ca_file: str | None) -> tuple[str, str]:
    """Push the one small image; returns its repository and tag."""
    image = synthetic_image(SPEC)
    repository = f"{PREFIX}/{image.name}"
    client = RegistryClient(url, log_request, ClientConfig(ca_file=ca_file))
    try:
        push_image(client, repository, image.tag, image, "monolithic", 1 << 20, 1)
    finally:
        client.close()
    return repository, image.tag


def address_of(registry: LocalRegistry) -> tuple[str, int]:
    host, _, port = registry.host_port.rpartition(":")
    return host, int(port)


def opened(transport: Transport) -> dict[str, Any]:
    return {"connections_opened": transport.connections_opened}


def build_probes(
    plain: LocalRegistry, tls: LocalRegistry, files: TLSFiles, repository: str, tag: str, closers: list[Any]
) -> tuple[list[Probe], bytes, dict[str, Any]]:
    """Every measurement, ready to run; the plain registry's request head, and facts about the request bytes."""
    tail = f"/v2/{repository}/manifests/{tag}"
    ca = str(files.ca_file)

    def client_send(base: str) -> None:
        client = ours_client(base, None, DOCKER)
        try:
            client.get_manifest(repository, tag)
        finally:
            client.close()

    def transport_send(base: str) -> None:
        transport, one = ours_transport(base + tail, None)
        try:
            one()
        finally:
            transport.close()

    head, caught_at = captured_head(client_send)
    transport_head, transport_at = captured_head(transport_send)
    facts = {
        "request_head": head.decode("latin-1"),
        "request_bytes": len(head),
        "transport_sends_the_same_bytes": transport_head.replace(transport_at.encode(), caught_at.encode()) == head,
    }

    def head_for(registry: LocalRegistry) -> bytes:
        return head.replace(f"Host: {caught_at}\r\n".encode(), f"Host: {registry.host_port}\r\n".encode())

    probes: list[Probe] = []
    for group, registry, context in (("http", plain, None), ("tls", tls, ca)):
        address, url, pid = address_of(registry), registry.url, registry.process.pid
        stdlib_tls = ssl.create_default_context(cafile=ca) if context else None
        gevent_tls = gevent.ssl.create_default_context(cafile=ca) if context else None
        full = ", full handshake" if context else ""
        bare = f"{group}/bare"
        for key, label, connect, tls_context, resume in (
            ("bare", f"bare stdlib socket{full}", stdlib_connect, stdlib_tls, False),
            ("bare-gevent", f"bare gevent socket{full}", gevent_connect, gevent_tls, False),
            ("bare-gevent-direct", "bare gevent socket, no getaddrinfo", gevent_connect_direct, None, False),
            ("bare-resumed", "bare stdlib socket, session resumed", stdlib_connect, stdlib_tls, True),
        ):
            if key == ("bare-gevent-direct" if context else "bare-resumed"):
                continue  # resumption is TLS's; the resolver's cost shows on plain HTTP already
            one = Bare(connect, address, head_for(registry), tls_context, resume)
            probes.append(Probe(f"{group}/{key}", label, one, pid, None if key == "bare" else bare, facts=one.facts))
        transport, request = ours_transport(url + tail, context)
        closers.append(transport.close)
        probes.append(Probe(f"{group}/transport", f"ours: Transport{full}", request, pid, bare, not context,
                            facts=functools.partial(opened, transport)))  # fmt: skip
        for key, label, profile in (
            ("client", f"ours: RegistryClient docker{full}", DOCKER),
            ("client-pooled", "ours: RegistryClient docker, keep-alive", DOCKER_POOLED),
        ):
            client = ours_client(url, context, profile)
            closers.append(client.close)
            probes.append(Probe(
                f"{group}/{key}", label, functools.partial(client.get_manifest, repository, tag), pid, bare,
                not context and key == "client",
                facts=functools.partial(opened, client.transport),
            ))  # fmt: skip
    return probes, head_for(plain), facts


def run_rounds(probes: list[Probe], requests: int, rounds: int) -> None:
    """Each probe `rounds` times, the order reversed every other round, so drift on the machine spreads evenly."""
    for round_index in range(rounds):
        order = probes if round_index % 2 == 0 else probes[::-1]
        for probe in order:
            if probe.error:
                continue
            count = requests // TLS_SHARE if probe.key.startswith("tls/") else requests
            try:
                for _ in range(WARMUP):
                    probe.one()
                gc.collect()
                registry_before = cpu_seconds(probe.registry_pid)
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(count):
                    probe.one()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                registry = cpu_seconds(probe.registry_pid) - registry_before
            except Exception as exc:  # a failed measurement: reported, and the exit status says so
                probe.error = f"{type(exc).__name__}: {exc}"
                continue
            probe.cpu_us.append(cpu / count * 1e6)
            probe.wall_us.append(wall / count * 1e6)
            probe.registry_us.append(registry / count * 1e6)
        done = ", ".join(f"{p.key} {p.cpu_us[-1]:.0f}" for p in probes if len(p.cpu_us) > round_index)
        print(f"  round {round_index + 1}/{rounds} (CPU us/request): {done}", flush=True)


def ratio(probe: Probe, by_key: dict[str, Probe]) -> float | None:
    base = by_key.get(probe.baseline or "")
    if base is None or probe.best is None or not base.best:
        return None
    return probe.best / base.best


DERIVED = (  # label, minuend, subtrahend; "registry:" figures are the registry's CPU, the others ours
    ("new TCP connection per request, ours (http client - client pooled)", "http/client", "http/client-pooled"),
    ("TLS handshake + connection per request, ours (tls client - client pooled)", "tls/client", "tls/client-pooled"),
    ("full handshake saved by resuming, bare stdlib (tls bare - bare resumed)", "tls/bare", "tls/bare-resumed"),
    ("registry: full handshake saved by resuming (tls bare - bare resumed)", "tls/bare", "tls/bare-resumed"),
    ("TLS on top of a TCP connection, bare stdlib (tls bare - http bare)", "tls/bare", "http/bare"),
    ("TLS on top of a TCP connection, ours (tls client - http client)", "tls/client", "http/client"),
    ("gevent floor over stdlib, plain (http bare-gevent - bare)", "http/bare-gevent", "http/bare"),
    ("ours over the gevent floor, plain (http client - bare-gevent-direct: ours resolves once per host)",
     "http/client", "http/bare-gevent-direct"),
    ("gevent's resolver per connection (http bare-gevent - bare-gevent-direct)", "http/bare-gevent",
     "http/bare-gevent-direct"),
)  # fmt: skip


def derived(by_key: dict[str, Probe]) -> list[dict[str, Any]]:
    """Differences of minimums: what one ingredient (a connection, a handshake, the resolver) costs per request."""
    rows = []
    for label, minuend, subtrahend in DERIVED:
        if label.startswith("registry:"):
            first, second = (min(by_key[key].registry_us, default=None) for key in (minuend, subtrahend))
        else:
            first, second = by_key[minuend].best, by_key[subtrahend].best
        value = None if first is None or second is None else first - second
        rows.append({"figure": label, "cpu_us_per_request": value})
    return rows


def table(probes: list[Probe], by_key: dict[str, Probe]) -> str:
    lines = [
        "| measurement | CPU us/req (min) | median | vs bare | target | result | registry us/req | wall us/req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for probe in probes:
        if probe.best is None:
            lines.append(f"| {probe.key}: {probe.label} | FAILED: {probe.error} | | | | | | |")
            continue
        found = ratio(probe, by_key)
        shown = f"{found:.2f}x" if found is not None else ""
        target = f"<= {TARGET:g}x" if probe.target else ""
        result = ("PASS" if found is not None and found <= TARGET else "MISS") if probe.target else ""
        lines.append(
            f"| {probe.key}: {probe.label} | {probe.best:.1f} | {statistics.median(probe.cpu_us):.1f} | {shown} "
            f"| {target} | {result} | {min(probe.registry_us):.0f} | {min(probe.wall_us):.0f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.connections", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 requests per loop instead of 2000 (~1 min)")
    parser.add_argument("--requests", type=int, help="requests per timed loop (default 2000, quick 500; TLS: half)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"loops per measurement (default {ROUNDS})")
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "bench-connections.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    requests = args.requests or (500 if args.quick else 2000)
    began = time.monotonic()
    closers: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-connections-") as work:
        files = make_ca(Path(work))
        with start_registry() as plain, start_registry(extra_config=files.registry_config()) as tls:
            print(f"registries {plain.url} (pid {plain.process.pid}), {tls.url} (pid {tls.process.pid})", flush=True)
            repository, tag = seed(plain.url, None)
            seed(tls.url, str(files.ca_file))
            try:
                probes, head, facts = build_probes(plain, tls, files, repository, tag, closers)
                print(f"{len(probes)} measurements x {args.rounds} rounds x {requests} requests "
                      f"({requests // TLS_SHARE} over TLS)", flush=True)  # fmt: skip
                run_rounds(probes, requests, args.rounds)
            finally:
                for close in closers:
                    close()
            found_facts = {probe.key: probe.facts() for probe in probes}
            print("resumption: a recording TLS proxy in front of the plain registry ...", flush=True)
            try:
                resumption = resumption_findings(address_of(plain), files, repository, tag, head)
            except Exception as exc:  # reported; the CPU figures above still stand
                resumption = {"error": f"{type(exc).__name__}: {exc}"}
    by_key = {probe.key: probe for probe in probes}
    print()
    print(table(probes, by_key))
    for row in derived(by_key):
        value = row["cpu_us_per_request"]
        print(f"{row['figure']}: " + ("n/a" if value is None else f"{value:.1f} us CPU per request"))
    floor, mine = by_key["http/bare-gevent-direct"].best, by_key["http/client"].best
    if floor and mine:
        print(f"ours against the gevent floor (bare gevent socket, no resolver): {mine / floor:.2f}x; the 1.3x target "
              "is against the stdlib's blocking socket, which a cooperative client cannot be")
    full, resumed = found_facts["tls/bare"], found_facts["tls/bare-resumed"]
    print(f"TLS: {full.get('tls_version')} negotiated; bare stdlib resumed {resumed.get('resumed')} of "
          f"{resumed.get('handshakes')} handshakes when passing its session on, {full.get('resumed')} of "
          f"{full.get('handshakes')} when not")  # fmt: skip
    if not facts["transport_sends_the_same_bytes"]:
        print("note: the Transport probe's request head differs from the client's")
    problems = print_resumption(resumption)
    results = {
        "settings": {
            "requests": requests, "tls_requests": requests // TLS_SHARE, "rounds": args.rounds, "warmup": WARMUP,
            "quick": args.quick, "target": TARGET, "cpus": os.cpu_count(), "python": platform.python_version(),
            "openssl": ssl.OPENSSL_VERSION, "gevent": gevent.__version__, "image": SPEC,
        },
        **facts,
        "measurements": [
            {
                "key": p.key, "label": p.label, "baseline": p.baseline, "target": TARGET if p.target else None,
                "cpu_us_per_request": p.best, "cpu_us_rounds": p.cpu_us, "wall_us_rounds": p.wall_us,
                "registry_cpu_us_rounds": p.registry_us, "ratio_vs_bare": ratio(p, by_key), "error": p.error,
                **found_facts[p.key],
            }
            for p in probes
        ],
        "derived": derived(by_key),
        "resumption": resumption,
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json} in {time.monotonic() - began:.0f}s")
    failed = [probe for probe in probes if probe.error]
    for probe in failed:
        print(f"FAILED {probe.key}: {probe.error}")
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
