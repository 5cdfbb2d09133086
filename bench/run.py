"""`make bench`: what each load generator costs per request and per GB, on one registry in one run.

For each path it runs (a) a naive HttpUser locustfile, (b) a raw FastHttpUser one, (c) our users, one
after another as separate `locust --headless` processes with fixed users and duration, against the same
local reference registry, seeded once. It prints a table and writes JSON (default reports/bench.json);
the exit status is non-zero if any run had a failure.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.fixture_tar import write_docker_save
from bench.floors import Floor, sendfile_alone, sha256_alone, wrk
from bench.measure import run_locust
from bench.report import Row, add_ratios, make_row, table, unit_notes, write_json
from bench.targets import judge
from registry_tasks.image import Image
from registry_tasks.registry import ClientConfig, RegistryClient, log_request
from registry_tasks.registry.workflows import push_image
from registry_tasks.sources import synthetic_image
from registry_tasks.tools.local_registry import LocalRegistry, start_registry

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "bench"
CHUNK_SIZE = 5 << 20
STOP_TIMEOUT = 60  # seconds users get to finish the task in hand when the time is up
LOCUSTFILES = {"naive": ROOT / "bench" / "naive_locustfile.py", "fast": ROOT / "bench" / "fast_locustfile.py"}
OURS = ROOT / "locustfile.py"


@dataclass(frozen=True)
class BenchPath:
    """One measured path: users, image, the stats entry that counts a unit, and our users' options."""

    name: str
    users: int
    spec: str
    unit: str
    received: tuple[str, ...]
    metric: str  # what ratios compare: "unit" (CPU per unit) or "gb" (CPU per GB)
    #: our generators on this path and their extra options (image-push adds one re-pushing identical bytes)
    ours: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"ours": ()})
    our_tag: str = ""  # the task our users run, when not the path's name (the naive and fast locustfiles' tag)
    extra: tuple[str, ...] = ()  # our generators left out of --quick runs

    @property
    def tag(self) -> str:
        return self.our_tag or self.name


PATHS = (
    BenchPath("manifest-get", 16, "1x50MiB", "manifest-get", ("manifest-get",), "unit"),
    BenchPath("blob-get", 4, "1x50MiB", "blob-get", ("blob-get",), "gb"),
    BenchPath(
        "upload", 4, "1x50MiB", "upload-finish", (), "gb",
        {
            "ours-chunked": ("--upload-mode", "chunked"),
            "ours-stream": ("--upload-mode", "stream"),
            "ours-monolithic": ("--upload-mode", "monolithic"),
            "ours-tar": ("--upload-mode", "monolithic", "--fixtures-dir", "{fixtures}"),
        },
        our_tag="chunked-upload",
    ),
    BenchPath("image-pull", 4, "5x10MiB", "blob-get", ("manifest-get", "blob-get"), "gb"),
    BenchPath(
        "image-push", 4, "5x10MiB", "manifest-put", (), "unit",
        {"ours": ("--unique-layers", "--upload-mode", "monolithic"), "ours-same": ("--upload-mode", "monolithic")},
        extra=("ours-same",),
    ),
)  # fmt: skip
BY_NAME = {path.name: path for path in PATHS}


def seed(url: str, images: list[Image]) -> None:
    """Push each image where all three generators pull it (our users find it and skip their own seeding)."""
    client = RegistryClient(url, log_request, ClientConfig())
    try:
        for image in images:
            push_image(client, f"{PREFIX}/{image.name}", image.tag, image, "monolithic", CHUNK_SIZE, 5)
    finally:
        client.close()


def largest_layer(image: Image) -> tuple[str, int]:
    layer = max(image.layers, key=lambda blob: blob.size)
    return layer.digest, layer.size


def units_and_bytes(path: BenchPath, image: Image) -> tuple[int, int]:
    """Requests of `path.unit` per unit (image-pull: one per blob) and bytes sent per unit (uploads)."""
    if path.name == "image-pull":
        return len(image.blobs), 0
    if path.name == "upload":
        return 1, largest_layer(image)[1]
    if path.name == "image-push":
        return 1, sum(blob.size for blob in image.blobs) + image.manifest.size
    return 1, 0


def plain_env(path: BenchPath, image: Image, generator: str) -> dict[str, str]:
    """What the naive and fast locustfiles pull or push: the seeded image, same sizes as ours."""
    env = {
        "BENCH_REPOSITORY": f"{PREFIX}/{image.name}",
        "BENCH_TAG": image.tag,
        "BENCH_BLOB": largest_layer(image)[0],
        "BENCH_CHUNK_SIZE": str(CHUNK_SIZE),
        "BENCH_PUSH_PREFIX": f"{PREFIX}/{generator}",
    }
    if path.name == "upload":
        env["BENCH_UPLOAD_SIZE"] = str(largest_layer(image)[1])
    if path.name == "image-push":
        env["BENCH_PUSH_LAYER_SIZES"] = ",".join(str(layer.size) for layer in image.layers)
    return env


def command(path: BenchPath, generator: str, url: str, seconds: int, fixtures: Path) -> list[str]:
    users = str(path.users)
    base = [sys.executable, "-m", "locust", "--headless", "-H", url, "-u", users, "-r", users, "-t", f"{seconds}s"]
    base += ["--only-summary", "--json", "--stop-timeout", str(STOP_TIMEOUT)]
    if generator in LOCUSTFILES:
        return [*base, "--tags", path.name, "-f", str(LOCUSTFILES[generator])]
    options = [option.format(fixtures=fixtures) for option in path.ours[generator]]
    # a fixture (--fixtures-dir) instead of the synthetic image: the same bytes, as tar members read in place
    images = [] if "--fixtures-dir" in options else ["--synthetic-images", path.spec]
    ours = [*images, "--repository-prefix", PREFIX, "--chunk-size", str(CHUNK_SIZE)]
    # the bare sequence on keep-alive connections, as the naive and raw locustfiles send: the same work per unit
    ours += ["--client-profile", "minimal"]
    return [*base, "--tags", path.tag, "-f", str(OURS), *ours, *options]


def measure_path(
    path: BenchPath, image: Image, registry: LocalRegistry, seconds: int, work: Path, logs: Path, generators: list[str]
) -> tuple[list[Row], list[str]]:
    """Each generator once, one after another, on the same registry; returns rows and notes on them."""
    per_unit, sent_per_unit = units_and_bytes(path, image)
    rows = []
    for generator in generators:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        if generator in LOCUSTFILES:
            env.update(plain_env(path, image, generator))
        os.sync()  # the previous run's writes must not be flushed on this run's time
        print(f"  {path.name:<14} {generator:<9} {path.users} users, {seconds}s ...", end="", flush=True)
        run = run_locust(
            command(path, generator, registry.url, seconds, work / "fixtures"),
            env,
            work,
            logs / f"{path.name}-{generator}.log",
            registry.process.pid,
            timeout=seconds + STOP_TIMEOUT + 60,
        )
        row = make_row(path.name, generator, run, path.unit, per_unit, path.received, sent_per_unit)
        print(f" {row.units:.0f} units, {row.cpu_s:.2f} CPU s" + ("" if row.ok else "  FAILED"))
        rows.append(row)
    add_ratios(rows, path.metric)
    return rows, unit_notes(rows)


def measure_floors(
    url: str, paths: list[BenchPath], images: dict[str, Image], seconds: int, gigabytes: float
) -> list[Floor]:
    """The machine's own cost of each measured path's work (bench/floors.py), in this process."""
    floors = []
    names = {path.name for path in paths}
    if "manifest-get" in names:
        image = images[BY_NAME["manifest-get"].spec]
        floors.append(wrk(url, f"{PREFIX}/{image.name}", image.tag, seconds))
    if "blob-get" in names:
        floors.append(sha256_alone(max(images[BY_NAME["blob-get"].spec].layers, key=lambda b: b.size), gigabytes))
    if "upload" in names:
        floors.append(sendfile_alone(url, max(images[BY_NAME["upload"].spec].layers, key=lambda b: b.size), gigabytes))
    return floors


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short measurements (~1.5 min in all)")
    parser.add_argument("--seconds", type=int, help="duration of each measurement (default 18, quick 4)")
    parser.add_argument("--paths", default=",".join(BY_NAME), help=f"comma-separated subset of {','.join(BY_NAME)}")
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "bench.json", help="where to write JSON")
    args = parser.parse_args(argv)
    unknown = [name for name in args.paths.split(",") if name not in BY_NAME]
    if unknown:
        parser.error(f"unknown path(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seconds = args.seconds or (4 if args.quick else 18)
    paths = [BY_NAME[name] for name in args.paths.split(",")]
    images = {spec: synthetic_image(spec) for spec in dict.fromkeys(path.spec for path in paths)}
    logs = args.json.parent / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []
    with start_registry() as registry, tempfile.TemporaryDirectory(prefix="bench-") as work:
        print(f"registry {registry.url} (pid {registry.process.pid}); seeding {', '.join(images)}", flush=True)
        seed(registry.url, list(images.values()))
        if "upload" in args.paths.split(","):  # ours-tar uploads the same layer as a tar member read in place
            write_docker_save(images[BY_NAME["upload"].spec], Path(work) / "fixtures" / "bench-tar.tar", "tar:1")
        for path in paths:
            generators = ["naive", "fast", *(g for g in path.ours if not (args.quick and g in path.extra))]
            path_rows, path_notes = measure_path(
                path, images[path.spec], registry, seconds, Path(work), logs, generators
            )
            rows += path_rows
            notes += path_notes
        floors = measure_floors(registry.url, paths, images, seconds, 0.5 if args.quick else 2.0)
    print()
    print(table(rows))
    print()
    for floor in floors:
        unit = "ms/request" if floor.per == "request" else "CPU s/GB"
        figure = floor.cpu * 1000 if floor.per == "request" else floor.cpu
        print(f"floor {floor.name}: {figure:.4f} {unit}" + (f" ({floor.note})" if floor.note else ""))
    targets, anchors = judge(rows, floors)
    for line in anchors:
        print(f"anchor {line}")
    for target in targets:
        print(f"target {target.line()}")
    print("units: requests (manifest-get, blob-get), blob uploads (upload), images (image-pull, image-push);")
    print("CPU s: load window of the locust process; proc s: whole process (os.wait4); reg s: registry CPU in window")
    for note in notes:
        print(f"note: {note}")
    settings = {
        "seconds": seconds,
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "paths": {path.name: {"users": path.users, "spec": path.spec, "unit": path.unit} for path in paths},
    }
    write_json(args.json, rows, settings, notes, [f.to_json() for f in floors], [t.to_json() for t in targets])
    print(f"wrote {args.json} in {time.monotonic() - began:.0f}s")
    failed = [row for row in rows if not row.ok]
    for row in failed:
        print(f"FAILED {row.path} {row.generator}: {row.failures} failures; " + "; ".join(row.errors[:5]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
