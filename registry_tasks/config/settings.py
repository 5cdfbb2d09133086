"""The option table: the Settings dataclass, every option declared once as a field with `option()` (raw default,
parser, help, choices, metavar, doc, group); its flag, LOCUST_* variable, web UI field and scenario key are the
field's name (config/options.py derives them). Gates accept exactly the stats entries the registry layer reports
(`registry.names`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..image import Platform
from ..load import TASK_NAMES, USER_NAMES, Shape
from ..load.arrivals import ARRIVAL_PROCESSES
from ..load.capacity import Slo
from ..load.popularity import Popularity
from ..load.rollout import RolloutSpec
from ..load.traces import FORMATS as TRACE_FORMATS
from ..registry import names
from ..registry.profiles import PROFILES
from . import values as parse
from .option import (
    ARRIVALS_OPEN_MODEL,
    CLIENTS_AND_TRANSFERS,
    CONNECTION_AND_AUTH,
    GATES_AND_REPORTS,
    IMAGES,
    REPLAY,
    WHAT_TO_RUN,
    option,
)

TOTAL = "Aggregated"
"""Locust's total row, which a gate may name too."""
GATE_ENTRIES = (*names.ENTRY_NAMES, TOTAL)
"""Stats entries a gate may name: every one the registry layer reports, and the total."""
PROFILE_NAMES = tuple(PROFILES)
"""Every name --client-profile takes (a file too: no choices, so that argparse and the web UI let a path in)."""
UPLOAD_CHOICES = ("", *parse.UPLOAD_MODES)
MS_LIMITS = parse.entry_limits("ms", GATE_ENTRIES)
MBPS_LIMITS = parse.entry_limits("MB/s", GATE_ENTRIES)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, checked and typed: one field per option, in the order they are listed."""

    # fmt: off
    fixtures_dir: str = option(
        "fixtures", parse.text, "Directory of image fixtures: docker save tarballs, OCI layouts",
        metavar="DIR", doc="docker save tarballs and OCI layouts directly inside DIR are the images; none -> built-in "
        "synthetic image `2x1MiB,1x256KiB` (see [Fixtures](fixtures.md))",
        group=IMAGES,
    )
    synthetic_images: str = option(
        "", parse.text, "Use synthetic images instead of fixtures, e.g. '3x10MiB 1x50MiB'",
        metavar="SPECS", doc="use synthetic images instead, e.g. `\"3x10MiB 1x50MiB\"` (one image per space-separated "
        "spec)",
        group=IMAGES,
    )
    synthetic_seed: int = option(
        0, parse.seed, "Seed of synthetic image bytes (same seed, same bytes everywhere)", metavar="N",
        doc="same seed, byte-identical images in every process",
        group=IMAGES,
    )
    chunk_size: int = option(
        "5MiB", parse.positive_size, "Bytes per PATCH in chunked uploads (e.g. 5MiB)", metavar="SIZE",
        doc="bytes per PATCH of a chunked upload: the `chunked-upload` task, and image-push with `--upload-mode "
        "chunked` (the client profiles' own pushes send one PATCH or none per blob)",
        group=CLIENTS_AND_TRANSFERS,
    )
    client_profile: str = option(
        "", parse.client_profile,
        f"Real client whose requests users send: {', '.join(PROFILE_NAMES)}, or a profile file such as "
        "./my-client.yaml (empty: docker, and containerd for --rollout)",
        metavar="PROFILE", doc="the real client users send as (see [Client profiles](client-profiles.md)): "
        f"{', '.join(f'`{name}`' for name in PROFILE_NAMES)} (a bare name is the version measured here), or a "
        "profile file of your own (a path: has a `/` or ends in `.yaml`), checked before any load; empty: "
        "`docker`, and `containerd` for `--rollout`",
        group=CLIENTS_AND_TRANSFERS,
    )
    client_mix: Mapping[str, int] = option(
        [], parse.client_mix, "Fleet of clients as PROFILE=SHARE, e.g. containerd=80,docker=20 (a profile: a name or "
        "a file)",
        metavar="P=N,...", doc="a fleet: each user is a client drawn in these shares, e.g. `containerd=80,docker=20` "
        "or `containerd=80,./my-client.yaml=20` (a profile: a name or a file, as `--client-profile`; scenario "
        "`client-mix:`, a mapping)",
        group=CLIENTS_AND_TRANSFERS,
    )
    user_agent: str = option(
        "", parse.text, "User-Agent instead of the client profile's (which ends in registry-tasks/V)",
        metavar="TEXT", doc="User-Agent instead of the profile's (which is the client's own, ending in "
        "`(registry-tasks/0.1.0)`)",
        group=CLIENTS_AND_TRANSFERS,
    )
    upload_mode: str = option(
        "", parse.upload_mode, "Blob upload shape in image-push (empty: the profile's)", UPLOAD_CHOICES,
        metavar="MODE", doc="image-push blob uploads (empty: the profile's): `chunked` (PATCH per chunk with "
        "Content-Range), `stream` (one PATCH with Content-Length, skopeo), `stream-encoded` (one PATCH in chunked "
        "transfer encoding, docker), `monolithic` (PUT with the body, containerd)",
        group=CLIENTS_AND_TRANSFERS,
    )
    verify_digests: bool = option(
        True, parse.boolean, "Hash every downloaded blob and manifest against its digest",
        doc="hash downloads against their digests (a mismatch is a failure)",
        group=CLIENTS_AND_TRANSFERS,
    )
    repository_prefix: str = option(
        "loadtest", parse.repository_prefix, "Repository namespace for seeded and pushed images",
        metavar="P", doc="namespace of seeded and pushed repositories",
        group=IMAGES,
    )
    pull_parallel: int = option(
        0, parse.count_or_profile, "Layers downloaded at once per image-pull (0: the profile's)",
        metavar="N", doc="layers downloaded at once per image-pull; `0`: the profile's (docker 3, containerd 3, "
        "skopeo 6)",
        group=CLIENTS_AND_TRANSFERS,
    )
    push_parallel: int = option(
        0, parse.count_or_profile, "Blobs uploaded at once per image-push (0: the profile's)",
        metavar="N", doc="blobs uploaded at once per image-push; `0`: the profile's (docker 5, containerd 3, skopeo 6)",
        group=CLIENTS_AND_TRANSFERS,
    )
    unique_layers: bool = option(
        False, parse.boolean, "Make every pushed image's layers new bytes, so nothing deduplicates",
        doc="every pushed image gets new layer bytes (a small unique tail; see [Fixtures](fixtures.md)), so the "
        "registry cannot deduplicate",
        group=IMAGES,
    )
    platform: Platform = option(
        "linux/amd64", parse.platform, "Platform chosen from manifest lists and OCI indexes",
        metavar="OS/ARCH[/VARIANT]", doc="child chosen from manifest lists / OCI indexes",
        group=IMAGES,
    )
    request_timeout: int = option(
        120, parse.positive_int, "Seconds a request may wait for the registry (connect and read)",
        metavar="S", doc="connect (at most 10 s) and read timeout, in seconds",
        group=CONNECTION_AND_AUTH,
    )
    registry_username: str = option(
        "", parse.text, "Registry user (Basic, or for the token server)", metavar="U",
        doc="user for Basic auth or the token server",
        group=CONNECTION_AND_AUTH,
    )
    registry_password: str = option(
        "", parse.text, "Registry password; workers may read it from their own env", secret=True,
        metavar="P", doc="its password (secret: kept out of the web UI page, where a blank field keeps the one given "
        "at start; workers may read it from their own env)",
        group=CONNECTION_AND_AUTH,
    )
    docker_config: str = option(
        "~/.docker/config.json", parse.text, "docker config.json whose auths entry gives credentials",
        metavar="FILE", doc="credentials from its `auths` entry for the host, when no username/password is given",
        group=CONNECTION_AND_AUTH,
    )
    registry_ca_file: str = option(
        "", parse.existing_file, "PEM bundle of the CA that signed the registry's certificate",
        metavar="PEM", doc="CA bundle for a registry with a private CA",
        group=CONNECTION_AND_AUTH,
    )
    registry_insecure: bool = option(
        False, parse.boolean, "Do not verify the registry's TLS certificate (warns)",
        doc="skip TLS verification (the log warns)",
        group=CONNECTION_AND_AUTH,
    )
    pull_image: tuple[str, ...] = option(
        [], parse.image_references, "Pull this existing repository:tag instead of seeding (repeatable)",
        metavar="REF", doc="pull `repo:tag` / `repo@digest` already in the registry instead of seeding (repeatable)",
        group=IMAGES,
    )
    check_fail_ratio: float | None = option(
        "", parse.ratio, "Gate: fail the run (exit 3) when more than this ratio of requests failed",
        metavar="R", doc="gate: the run fails (exit 3) when more than R (0..1) of all requests failed",
        group=GATES_AND_REPORTS,
    )
    check_p95: Mapping[str, float] = option(
        [], MS_LIMITS, "Gate: ENTRY=MS, fail the run when ENTRY's 95th percentile is above",
        metavar="ENTRY=MS", doc="gate: ENTRY's 95th percentile must stay at or under MS (repeatable, or `a=1,b=2`)",
        group=GATES_AND_REPORTS,
    )
    check_p99: Mapping[str, float] = option(
        [], MS_LIMITS, "Gate: ENTRY=MS, fail the run when ENTRY's 99th percentile is above",
        metavar="ENTRY=MS", doc="gate: the same for the 99th percentile",
        group=GATES_AND_REPORTS,
    )
    check_min_mbps: Mapping[str, float] = option(
        [], MBPS_LIMITS, "Gate: ENTRY=X, fail the run when ENTRY moved under X MB/s",
        metavar="ENTRY=X", doc="gate: ENTRY must move at least X MB/s (repeatable)",
        group=GATES_AND_REPORTS,
    )
    summary_file: str = option(
        "", parse.text, "Write a JSON summary (per-entry figures, gate results) here at the end",
        metavar="PATH", doc="JSON for CI: per-entry figures and every gate's result",
        group=GATES_AND_REPORTS,
    )
    cleanup: bool = option(
        False, parse.boolean, "At test stop, delete the images this test's image-push stored",
        doc="at test stop, delete the images image-push stored (as `manifest-delete` requests; see "
        "[Cleanup](cleanup.md))",
        group=WHAT_TO_RUN,
    )
    honor_retry_after: bool = option(
        False, parse.boolean, "After a 429/503 with Retry-After, that user waits as told",
        doc="after a 429 (or 503) with `Retry-After`, that user waits as told (at most 300 s) before its next "
        "request; the 429 still counts as a failure",
        group=CLIENTS_AND_TRANSFERS,
    )
    pushed_log: str = option(
        "", parse.writable_file, "Append one JSON line per successful image-push here (for `audit`)",
        metavar="FILE", doc="append one JSON line `{\"repository\", \"tag\", \"digest\"}` per successful image-push, "
        "for `python -m registry_tasks audit`",
        group=GATES_AND_REPORTS,
    )
    load_shape: Shape | None = option(
        "", parse.load_shape, "ramp[:UP%], step[:N] or spike[:BASE%] over -t, peaking at -u users",
        metavar="SHAPE", doc="`ramp[:UP%]`, `step[:N]` or `spike[:BASE%]` over `-t`, peaking at `-u` users (see "
        "[Load shapes and mixes](load-shapes.md))",
        group=WHAT_TO_RUN,
    )
    pull_push_ratio: tuple[int, ...] = option(
        "", parse.shares(2), "Shares of pull and push users, e.g. 75/25 (as user-weights)",
        metavar="P/Q", doc="shares of pull and push users, e.g. `75/25` (the scenario's `user-weights`, from the "
        "command line)",
        group=WHAT_TO_RUN,
    )
    image_mix: tuple[int, ...] = option(
        "", parse.shares(), "Shares of the images in their order, e.g. 20/70/10 for 3 synthetic images",
        metavar="A/B/...", doc="shares of the images in their order, e.g. `20/70/10` over `--synthetic-images "
        "\"1x1MiB 3x10MiB 1x200MiB\"`",
        group=IMAGES,
    )
    arrival_rate: Mapping[str, float] = option(
        [], parse.arrival_rates(TASK_NAMES),
        "Open model: TASK=R/s (or R/m) arrivals, e.g. "
        "manifest-get=80/s; each runs the task once on a pooled client, whatever the registry does",
        metavar="TASK=R/s", doc="open model: TASK arrivals per second (or `R/m` per minute), repeatable or "
        "`a=1/s,b=2/s` (scenario `arrival-rate:`); see [Arrival rates, rollouts, capacity](open-model.md)",
        group=ARRIVALS_OPEN_MODEL,
    )
    arrivals: str = option(
        "poisson", parse.arrival_process, "How arrivals are spaced: poisson or constant", ARRIVAL_PROCESSES,
        metavar="PROCESS", doc="how arrivals are spaced: exponential gaps (`poisson`: independent clients) or even "
        "ones (`constant`)",
        group=ARRIVALS_OPEN_MODEL,
    )
    max_in_flight: int = option(
        1000, parse.positive_int,
        "Open model: arrivals at once per process; beyond it one is dropped (a 'dropped:' failure of its task)",
        metavar="N", doc="arrivals running at once per process; the next is not sent but counted as a `dropped:` "
        "failure of its task",
        group=ARRIVALS_OPEN_MODEL,
    )
    rollout: RolloutSpec | None = option(
        "", parse.rollout,
        "Rollout storm: NODES[@WINDOW] nodes each pull the image once, starting evenly "
        "over WINDOW (e.g. 2000@60s; default all at once); the run ends when all are done",
        metavar="NODES[@WINDOW]", doc="a rollout storm: NODES nodes each pull the image once, starting evenly over "
        "WINDOW (`60s`, `2m`; default all at once); the run ends when all are done",
        group=ARRIVALS_OPEN_MODEL,
    )
    rollout_update: bool = option(
        False, parse.boolean, "After --rollout, roll the same nodes to a second image sharing the base "
        "layers", doc="then roll the same nodes to an update of the image (same base layers, one new layer)",
        group=ARRIVALS_OPEN_MODEL,
    )
    find_capacity: str = option(
        "", parse.task_entry(TASK_NAMES),
        "Capacity search: raise this task's arrival rate until --slo breaks; report the highest rate that held",
        metavar="TASK", doc="capacity search: raise TASK's arrival rate until `--slo` breaks; report the highest rate "
        "that held",
        group=ARRIVALS_OPEN_MODEL,
    )
    slo: Slo | None = option(
        "", parse.slo, "SLO of --find-capacity: p95=MS[,p99=MS][,fail=RATIO]", metavar="p95=MS[,p99=MS][,fail=R]",
        doc="the search's SLO (also `p50=`)",
        group=ARRIVALS_OPEN_MODEL,
    )
    capacity_start: float = option(
        "10/s", parse.rate, "First rate of --find-capacity (x1.5 per step, then bisection to 5%)",
        metavar="RATE", doc="the search's first rate (x1.5 per step, then bisection to 5%)",
        group=ARRIVALS_OPEN_MODEL,
    )
    capacity_step_time: float = option(
        30.0, parse.positive_seconds, "Seconds of each --find-capacity step", metavar="S",
        doc="seconds per step",
        group=ARRIVALS_OPEN_MODEL,
    )
    replay: tuple[str, ...] = option(
        [], parse.existing_files,
        "Replay this trace (IBM registry trace or distribution log; repeatable): "
        "each recorded request due at its recorded time",
        metavar="FILE", doc="replay a recorded workload (IBM trace, registry log, `--record` file; repeatable), each "
        "request due at its recorded time; see [Replaying real workloads](replay.md)",
        group=REPLAY,
    )
    replay_format: str = option(
        "", parse.trace_format, "Format of --replay files (empty: detected)", ("", *TRACE_FORMATS),
        metavar="F", doc="the format of the `--replay` files (empty: detected from how each file starts)",
        group=REPLAY,
    )
    replay_speed: float = option(
        "1", parse.speed, "Replay at this multiple of the recorded pace, or max", metavar="X",
        doc="multiple of the recorded pace, or `max`",
        group=REPLAY,
    )
    replay_window: tuple[float, float | None] = option(
        "", parse.window, "START:END seconds of the trace to replay (from its first record)",
        metavar="START:END", doc="the slice to replay, seconds from the first record (`:600`, `3600:`; empty: the "
        "whole trace)",
        group=REPLAY,
    )
    replay_clients_scale: int = option(
        1, parse.positive_int, "Each recorded client becomes this many clients, offset in time",
        metavar="K", doc="each recorded client becomes K clients, offset in time",
        group=REPLAY,
    )
    record: str = option(
        "", parse.writable_file, "Write this run's requests as JSON lines, replayable with --replay",
        metavar="FILE", doc="append this run's requests as JSON lines that `--replay` reads",
        group=REPLAY,
    )
    populate: tuple[int, int] | None = option(
        "", parse.populate,
        "Before the load, fill REPOSxTAGS repositories of small images (e.g. 500x20) "
        "under <prefix>/pop-<i>; pulls draw from them",
        metavar="REPOSxTAGS", doc="fill `<prefix>/pop-<i>` before the load; pulls draw from them (see [The registry "
        "as it lives](registry-as-it-lives.md))",
        group=IMAGES,
    )
    popularity: Popularity = option(
        "uniform", parse.popularity, "Which image a pull takes: uniform, or zipf:S (a few hot repositories)",
        metavar="P", doc="`uniform` or `zipf:S`: which image a pull takes",
        group=IMAGES,
    )
    page_size: int = option(
        100, parse.positive_int, "Entries per page (n=) of tags-list and catalog walks", metavar="N",
        doc="entries per page (`n=`) of tags-list and catalog walks",
        group=WHAT_TO_RUN,
    )
    scenario: str = option(
        "", parse.text, "YAML scenario file setting these values plus task and user weights", metavar="FILE",
        doc="YAML file with the same settings plus weights (see [Scenario files](scenarios.md))",
        group=WHAT_TO_RUN,
    )
    weights: Mapping[str, int] = option(
        {}, parse.weights(TASK_NAMES), "Task weights by task name", cli=False,
        doc="task weights, a mapping of task name to weight; a task weighted 0 (or left out) does not run",
        group=WHAT_TO_RUN,
    )
    user_weights: Mapping[str, int] = option(
        {}, parse.weights(USER_NAMES), "User class weights (pull, push, browse, churn, artifact)", cli=False,
        doc="user class weights, e.g. `{pull: 3, push: 1}` (`pull`, `push`, `browse`, `churn`, `artifact`); "
        "`--pull-push-ratio` says the same of pull and push from the command line",
        group=WHAT_TO_RUN,
    )
    # fmt: on
