"""`--replay FILE`: a recorded workload sent again, each request due at its recorded time.

At start every file is read once (streamed) to check it and plan the warm-up (load/replay_plan.py): a bad
record stops the run there with one line, before anything is sent. At test start the warm-up creates what
the replay reads - only HEADs and writes, so the registry's log tells warm-up from replay - then the clock
starts and the records are dispatched from the streamed files again, merged in time order, through the open
model's arrivals: each one timed from when it was due, each recorded client a pool of simulated clients of
its own (its parallel requests get connections of their own, as a real client's do).
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import gevent

from ...config import Settings, SettingsError
from ...image import Blob, Body, Image, SyntheticSegment, blob_from_body, blob_from_bytes, build_image
from ...image.media_types import OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST
from ...load.replay_plan import ReplayPlan, in_window, kind_of, mapped_repository, mapped_tag, missing, short_hash
from ...load.replay_plan import plan as plan_records
from ...load.traces import TraceError, TraceRecord, read_trace
from ...registry import RegistryClient, log_request, names
from ..run.progress import Phases
from ..users.classes import RegistryUser, registry_task
from .arrival_pool import Arrivals, ArrivalSpec, Watcher

log = logging.getLogger("registry_tasks.plugin.replay")
UPLOAD_BYTES = 1 << 20
"""Bytes of a replayed upload whose blob the trace never reads (traces record no request sizes)."""
REORDER_SECONDS = 10.0
"""Records up to this far ahead in trace time are put back in order (a log is in completion order)."""
KIND_HEADLINES = MappingProxyType({
    "ping": ("GET", names.PING),
    "manifest-get": ("GET", names.MANIFEST_GET),
    "manifest-head": ("HEAD", names.MANIFEST_HEAD),
    "manifest-put": ("PUT", names.MANIFEST_PUT),
    "blob-get": ("GET", names.BLOB_GET),
    "blob-head": ("HEAD", names.BLOB_HEAD),
    "upload": ("PUT", names.UPLOAD_FINISH),
})
"""Each replayed kind's headline entry: what its arrival is timed and dropped as."""


def records(settings: Settings) -> Iterator[TraceRecord]:
    """Every file's records in turn, as read (a TraceError names the file and the record)."""
    for path in settings.replay:
        yield from read_trace(path, settings.replay_format or None)


def check_replay(settings: Settings) -> ReplayPlan | None:
    """At start: read every file once; a bad one is a SettingsError (one line, nothing sent)."""
    if not settings.replay:
        return None
    try:
        origin = first_start(settings)
        start, end = settings.replay_window
        planned = plan_records(in_window(records(settings), origin, start, end), settings.repository_prefix)
    except TraceError as exc:
        raise SettingsError(f"--replay: {exc}") from None
    planned.first_start = origin
    if not planned.planned:
        raise SettingsError(f"--replay: no replayable request in {', '.join(settings.replay)} (window {start}:{end})")
    return planned


def first_start(settings: Settings) -> float:
    """The origin of offsets: the earliest first record of the files."""
    starts = []
    for path in settings.replay:
        for record in read_trace(path, settings.replay_format or None):
            starts.append(record.start)
            break
    if not starts:
        raise TraceError(f"trace {', '.join(settings.replay)}: no request records")
    return min(starts)


@dataclass
class Objects:
    """The synthetic bytes standing for a trace's blobs and manifests, made deterministically from names."""

    plan: ReplayPlan
    seed: int = 0
    blobs: dict[str, Blob] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)

    def blob(self, reference: str, size: int | None = None) -> Blob:
        """The blob standing for `reference` (hashed once, the first time it is asked for)."""
        found = self.blobs.get(reference)
        if found is None:
            stream = int(short_hash(reference, 8), 16)
            body = Body((SyntheticSegment(self.seed, stream, size or self.plan.blob_size(reference)),))
            found = self.blobs[reference] = blob_from_body(OCI_LAYER_TAR, body)
        return found

    def image(self, repository: str) -> Image:
        """The image every tag of a recorded repository points at: its read blobs as layers."""
        found = self.images.get(repository)
        if found is None:
            layers = [self.blob(reference) for reference in self.plan.manifest_layers(repository)]
            config = {"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]}}  # fmt: skip
            config_blob = blob_from_bytes(OCI_CONFIG, json.dumps(config, sort_keys=True).encode())
            found = self.images[repository] = build_image(repository, OCI_MANIFEST, config_blob, layers)
        return found


def warm_up(client: RegistryClient, objects: Objects, prefix: str, phases: Phases) -> tuple[int, int]:
    """Create what the replay reads (HEAD first, then write): returns (blobs written, manifests written)."""
    plan = objects.plan
    links = dict(plan.links)
    with_manifests = dict.fromkeys([repository for repository, _ in plan.manifests] + list(plan.pushed))
    for repository in with_manifests:
        for reference in plan.manifest_layers(repository):
            links[(repository, reference)] = None
    written_blobs = written_manifests = 0
    where: dict[str, str] = {}  # blob reference -> a repository that holds it (mount from there)
    sizes = sum(plan.blob_size(reference) for _, reference in links)
    phases.begin("replay warm-up", len(links) + len(plan.manifests), sizes, "blobs and manifests")
    for repository, reference in links:
        target, blob = mapped_repository(prefix, repository), objects.blob(reference)
        if not client.blob_exists(target, blob.digest):
            source = where.get(reference)
            if source is None or not client.mount_blob(target, blob.digest, source):
                client.upload_blob(target, blob, "monolithic", 5 << 20)
            written_blobs += 1
        where[reference] = target
        phases.advance(1, blob.size)
    for repository in plan.pushed:  # the trace's manifest PUTs need the config there too
        target, image = mapped_repository(prefix, repository), objects.image(repository)
        if not client.blob_exists(target, image.config.digest):
            client.upload_blob(target, image.config, "monolithic", 5 << 20)
    for repository, reference in plan.manifests:
        target, image = mapped_repository(prefix, repository), objects.image(repository)
        tag = mapped_tag(reference)
        if client.head_manifest(target, tag) != image.manifest.digest:
            client.upload_blob(target, image.config, "monolithic", 5 << 20)
            client.put_manifest(target, tag, image.manifest)
            written_manifests += 1
        phases.advance(1)
    phases.end()
    return written_blobs, written_manifests


@dataclass
class ReplayWatcher(Watcher):
    """What was replayed, by kind: counts and bytes of each record's headline request."""

    kinds: dict[str, str] = field(default_factory=dict)  # headline entry name -> kind
    replayed: Counter[str] = field(default_factory=Counter)
    replayed_bytes: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    def event(self, event: dict[str, Any], headline: bool) -> None:
        if not headline:
            return
        kind = self.kinds.get(event["name"], event["name"])
        self.replayed[kind] += 1
        self.replayed_bytes[kind] += event["response_length"] or 0
        if event["exception"] is not None:
            self.failed[kind] += 1


def work_for(record: TraceRecord, objects: Objects, prefix: str, settings: Settings) -> Callable[[RegistryUser], None]:
    """What replaying one record sends, on the simulated client it runs on."""
    kind = kind_of(record)
    repository = mapped_repository(prefix, record.repository) if record.repository else ""
    absent = record.status == 404
    index = record.index

    def replay(user: RegistryUser) -> None:
        registry = user.registry
        if kind == "ping":
            registry.ping()
        elif kind in ("manifest-get", "manifest-head"):
            tag = missing(record.reference) if absent else mapped_tag(record.reference)
            if kind == "manifest-get":
                registry.get_manifest(repository, tag)
            else:
                registry.head_manifest(repository, tag)
        elif kind == "manifest-put":
            image = objects.image(record.repository)
            registry.put_manifest(repository, mapped_tag(record.reference or "latest"), image.manifest)
        elif kind in ("blob-get", "blob-head"):
            reference = missing(record.reference) if absent else record.reference
            blob = objects.blob(reference, 1 if absent else None)
            if kind == "blob-get":
                registry.get_blob(repository, blob.digest, None if absent else blob.size)
            else:
                registry.blob_exists(repository, blob.digest)
        elif kind == "upload":
            blob = objects.blob(f"upload-{index}-{user.index}", UPLOAD_BYTES)
            registry.upload_blob(repository, blob, "monolithic", settings.chunk_size)

    return registry_task(replay)


def merged_records(settings: Settings) -> Iterator[TraceRecord]:
    """The files' records merged in start order, each file put back in order within REORDER_SECONDS."""

    def ordered(path: str) -> Iterator[TraceRecord]:
        held: list[tuple[float, int, TraceRecord]] = []
        for record in read_trace(path, settings.replay_format or None):
            heapq.heappush(held, (record.start, record.index, record))
            while held and held[0][0] < record.start - REORDER_SECONDS:
                yield heapq.heappop(held)[2]
        while held:
            yield heapq.heappop(held)[2]

    return heapq.merge(*(ordered(path) for path in settings.replay), key=lambda record: record.start)


class ReplayRun:
    """One process's replay: warm-up, then every record of its share due at its (scaled) offset."""

    def __init__(self, arrivals: Arrivals, settings: Settings, host: str, plan: ReplayPlan) -> None:
        self.arrivals = arrivals
        self.settings = settings
        self.host = host
        self.plan = plan
        self.objects = Objects(plan, settings.synthetic_seed)
        self.watcher = ReplayWatcher(kinds={name: kind for kind, (_, name) in KIND_HEADLINES.items()})
        self.warm: tuple[int, int] = (0, 0)

    def warm_up(self, client: RegistryClient, phases: Phases) -> None:
        started = time.perf_counter()
        self.warm = warm_up(client, self.objects, self.settings.repository_prefix, phases)
        checked = len(self.plan.links) + len(self.plan.manifests)
        log.info("replay warm-up: %d blobs and %d manifests written in %.1f s (%d objects checked)",
                 *self.warm, time.perf_counter() - started, checked)  # fmt: skip

    def run(self, index: int, workers: int) -> None:
        """Dispatch this process's records: those of the recorded clients that hash to `index` of `workers`."""
        settings, plan = self.settings, self.plan
        assert plan.first_start is not None
        start_s, end_s = settings.replay_window
        speed, scale = settings.replay_speed, settings.replay_clients_scale
        clock = time.perf_counter()
        queue: list[tuple[float, int, int, TraceRecord]] = []
        for number, record in enumerate(in_window(merged_records(settings), plan.first_start, start_s, end_s)):
            if kind_of(record) not in KIND_HEADLINES or int(short_hash(record.client, 8), 16) % workers != index:
                continue
            offset = record.start - plan.first_start - start_s
            for copy in range(scale):  # copy k of a client: the same requests, k/scale seconds later
                due = 0.0 if speed == float("inf") else (offset + copy / scale) / speed
                heapq.heappush(queue, (due, number, copy, record))
            while queue and (speed == float("inf") or queue[0][0] <= offset / speed):
                self._send(heapq.heappop(queue), clock)
            if self.arrivals.stopping.is_set():
                return
        while queue and not self.arrivals.stopping.is_set():
            self._send(heapq.heappop(queue), clock)
        self.arrivals.drain(float(settings.request_timeout))

    def _send(self, item: tuple[float, int, int, TraceRecord], clock: float) -> None:
        due_offset, _, copy, record = item
        due = clock + due_offset
        if self.settings.replay_speed == float("inf"):  # as fast as --max-in-flight allows: wait, never drop
            while self.arrivals.in_flight >= self.arrivals.max_in_flight and not self.arrivals.stopping.is_set():
                self.arrivals.running.wait(timeout=1, count=1)
            due = time.perf_counter()
        else:
            wait = due - time.perf_counter()
            if wait > 0:
                gevent.sleep(wait)
        kind = kind_of(record)
        spec = ArrivalSpec(KIND_HEADLINES[kind], key=(record.client, copy), expect_missing=record.status == 404)
        work = work_for(record, self.objects, self.settings.repository_prefix, self.settings)
        self.arrivals.arrive(kind, due, self.watcher, work, None, spec)

    def figures(self) -> dict[str, Any]:
        plan = self.plan
        kinds = sorted(set(plan.recorded) | set(self.watcher.replayed))
        return {
            "records_read": plan.read,
            "replayable": plan.planned,
            "skipped": dict(plan.skipped),
            "warm_up": {"blobs_written": self.warm[0], "manifests_written": self.warm[1]},
            "kinds": {
                kind: {
                    "recorded": plan.recorded[kind],
                    "replayed": self.watcher.replayed[kind],
                    "recorded_bytes": plan.recorded_bytes[kind],
                    "replayed_bytes": self.watcher.replayed_bytes[kind],
                    "failed": self.watcher.failed[kind],
                }
                for kind in kinds
            },  # fmt: skip
        }


def warm_up_client(host: str, run: Any) -> RegistryClient:
    """The warm-up's client: its requests are logged, not counted in the load statistics."""
    return RegistryClient(host, log_request, run.client_config(host))
