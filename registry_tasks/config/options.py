"""The option table: every setting once, with its flag, LOCUST_* variable, web UI field, scenario key, default,
parser and help. Gates accept exactly the stats entries the registry layer reports (`registry.names`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..load import TASK_NAMES, USER_NAMES
from ..load.arrivals import ARRIVAL_PROCESSES
from ..load.traces import FORMATS as TRACE_FORMATS
from ..registry import names
from ..registry.profiles import PROFILES
from .values import (
    UPLOAD_MODES,
    arrival_process,
    arrival_rates,
    boolean,
    client_mix,
    client_profile,
    count_or_profile,
    entry_limits,
    existing_file,
    existing_files,
    image_references,
    load_shape,
    platform,
    popularity,
    populate,
    positive_int,
    positive_seconds,
    positive_size,
    rate,
    ratio,
    repository_prefix,
    rollout,
    seed,
    shares,
    slo,
    speed,
    task_entry,
    text,
    trace_format,
    upload_mode,
    weights,
    window,
    writable_file,
)

TOTAL = "Aggregated"
"""Locust's total row, which a gate may name too."""
GATE_ENTRIES = (*names.ENTRY_NAMES, TOTAL)
"""Stats entries a gate may name: every one the registry layer reports, and the total."""
PROFILE_NAMES = tuple(PROFILES)
UPLOAD_CHOICES = ("", *UPLOAD_MODES)
MS_LIMITS = entry_limits("ms", GATE_ENTRIES)
MBPS_LIMITS = entry_limits("MB/s", GATE_ENTRIES)


CONNECTION_AND_AUTH = "connection and auth"
CLIENTS_AND_TRANSFERS = "clients and transfers"
IMAGES = "images"
WHAT_TO_RUN = "what to run"
ARRIVALS_OPEN_MODEL = "arrivals (open model)"
REPLAY = "replay"
GATES_AND_REPORTS = "gates and reports"
GROUPS = (
    CONNECTION_AND_AUTH, CLIENTS_AND_TRANSFERS, IMAGES, WHAT_TO_RUN, ARRIVALS_OPEN_MODEL, REPLAY, GATES_AND_REPORTS
)  # fmt: skip
"""The purposes options are listed under (`python -m registry_tasks options`, docs/options.md), in order."""


@dataclass(frozen=True)
class Option:
    """One setting: its flag, default, parser, help; `cli` False for scenario-only keys. `metavar` names its value in
    listings; `doc` is its fuller text on the options page (docs/options.md, markdown), when the help is not all."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    choices: tuple[str, ...] | None = None
    cli: bool = True
    secret: bool = False
    metavar: str = ""
    doc: str = ""
    group: str = ""
    """Its purpose, one of GROUPS."""

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return "LOCUST_" + self.key.upper()


OPTIONS = (
    Option(
        "fixtures-dir", "fixtures", text, "Directory of image fixtures: docker save tarballs, OCI layouts",
        metavar="DIR", doc="docker save tarballs and OCI layouts directly inside DIR are the images; none -> built-in "
        "synthetic image `2x1MiB,1x256KiB` (see [Fixtures](fixtures.md))",
        group=IMAGES,
    ),
    Option(
        "synthetic-images", "", text, "Use synthetic images instead of fixtures, e.g. '3x10MiB 1x50MiB'",
        metavar="SPECS", doc="use synthetic images instead, e.g. `\"3x10MiB 1x50MiB\"` (one image per space-separated "
        "spec)",
        group=IMAGES,
    ),
    Option(
        "synthetic-seed", 0, seed, "Seed of synthetic image bytes (same seed, same bytes everywhere)", metavar="N",
        doc="same seed, byte-identical images in every process",
        group=IMAGES,
    ),
    Option(
        "chunk-size", "5MiB", positive_size, "Bytes per PATCH in chunked uploads (e.g. 5MiB)", metavar="SIZE",
        doc="bytes per PATCH of a chunked upload: the `chunked-upload` task, and image-push with `--upload-mode "
        "chunked` (the client profiles' own pushes send one PATCH or none per blob)",
        group=CLIENTS_AND_TRANSFERS,
    ),
    Option(
        "client-profile", "", client_profile,
        "Real client whose requests users send (empty: docker, and containerd for --rollout)", ("", *PROFILE_NAMES),
        metavar="NAME", doc="the real client users send as (see [Client profiles](client-profiles.md)); empty: "
        "`docker`, and `containerd` for `--rollout`",
        group=CLIENTS_AND_TRANSFERS,
    ),
    Option(
        "client-mix", [], client_mix, "Fleet of clients as PROFILE=SHARE, e.g. containerd=80,docker=20",
        metavar="P=N,...", doc="a fleet: each user is a client drawn in these shares, e.g. `containerd=80,docker=20` "
        "(scenario `client-mix:`, a mapping)",
        group=CLIENTS_AND_TRANSFERS,
    ),
    Option(
        "user-agent", "", text, "User-Agent instead of the client profile's (which ends in registry-tasks/V)",
        metavar="TEXT", doc="User-Agent instead of the profile's (which is the client's own, ending in "
        "`(registry-tasks/0.1.0)`)",
        group=CLIENTS_AND_TRANSFERS,
    ),
    Option(
        "upload-mode", "", upload_mode, "Blob upload shape in image-push (empty: the profile's)", UPLOAD_CHOICES,
        metavar="MODE", doc="image-push blob uploads (empty: the profile's): `chunked` (PATCH per chunk with "
        "Content-Range), `stream` (one PATCH with Content-Length, skopeo), `stream-encoded` (one PATCH in chunked "
        "transfer encoding, docker), `monolithic` (PUT with the body, containerd)",
        group=CLIENTS_AND_TRANSFERS,
    ),
    Option(
        "verify-digests", True, boolean, "Hash every downloaded blob and manifest against its digest",
        doc="hash downloads against their digests (a mismatch is a failure)",
        group=CLIENTS_AND_TRANSFERS,
    ),
    Option(
        "repository-prefix", "loadtest", repository_prefix, "Repository namespace for seeded and pushed images",
        metavar="P", doc="namespace of seeded and pushed repositories",
        group=IMAGES,
    ),
    Option(
        "pull-parallel", 0, count_or_profile, "Layers downloaded at once per image-pull (0: the profile's)",
        metavar="N", doc="layers downloaded at once per image-pull; `0`: the profile's (docker 3, containerd 3, "
        "skopeo 6)",
        group=CLIENTS_AND_TRANSFERS,
    ),
    Option(
        "push-parallel", 0, count_or_profile, "Blobs uploaded at once per image-push (0: the profile's)",
        metavar="N", doc="blobs uploaded at once per image-push; `0`: the profile's (docker 5, containerd 3, skopeo 6)",
        group=CLIENTS_AND_TRANSFERS,
    ),
    Option(
        "unique-layers", False, boolean, "Make every pushed image's layers new bytes, so nothing deduplicates",
        doc="every pushed image gets new layer bytes (a small unique tail; see [Fixtures](fixtures.md)), so the "
        "registry cannot deduplicate",
        group=IMAGES,
    ),
    Option(
        "platform", "linux/amd64", platform, "Platform chosen from manifest lists and OCI indexes",
        metavar="OS/ARCH[/VARIANT]", doc="child chosen from manifest lists / OCI indexes",
        group=IMAGES,
    ),
    Option(
        "request-timeout", 120, positive_int, "Seconds a request may wait for the registry (connect and read)",
        metavar="S", doc="connect (at most 10 s) and read timeout, in seconds",
        group=CONNECTION_AND_AUTH,
    ),
    Option(
        "registry-username", "", text, "Registry user (Basic, or for the token server)", metavar="U",
        doc="user for Basic auth or the token server",
        group=CONNECTION_AND_AUTH,
    ),
    Option(
        "registry-password", "", text, "Registry password; workers may read it from their own env", secret=True,
        metavar="P", doc="its password (secret: kept out of the web UI page, where a blank field keeps the one given "
        "at start; workers may read it from their own env)",
        group=CONNECTION_AND_AUTH,
    ),
    Option(
        "docker-config", "~/.docker/config.json", text, "docker config.json whose auths entry gives credentials",
        metavar="FILE", doc="credentials from its `auths` entry for the host, when no username/password is given",
        group=CONNECTION_AND_AUTH,
    ),
    Option(
        "registry-ca-file", "", existing_file, "PEM bundle of the CA that signed the registry's certificate",
        metavar="PEM", doc="CA bundle for a registry with a private CA",
        group=CONNECTION_AND_AUTH,
    ),
    Option(
        "registry-insecure", False, boolean, "Do not verify the registry's TLS certificate (warns)",
        doc="skip TLS verification (the log warns)",
        group=CONNECTION_AND_AUTH,
    ),
    Option(
        "pull-image", [], image_references, "Pull this existing repository:tag instead of seeding (repeatable)",
        metavar="REF", doc="pull `repo:tag` / `repo@digest` already in the registry instead of seeding (repeatable)",
        group=IMAGES,
    ),
    Option(
        "check-fail-ratio", "", ratio, "Gate: fail the run (exit 3) when more than this ratio of requests failed",
        metavar="R", doc="gate: the run fails (exit 3) when more than R (0..1) of all requests failed",
        group=GATES_AND_REPORTS,
    ),
    Option(
        "check-p95", [], MS_LIMITS, "Gate: ENTRY=MS, fail the run when ENTRY's 95th percentile is above",
        metavar="ENTRY=MS", doc="gate: ENTRY's 95th percentile must stay at or under MS (repeatable, or `a=1,b=2`)",
        group=GATES_AND_REPORTS,
    ),
    Option(
        "check-p99", [], MS_LIMITS, "Gate: ENTRY=MS, fail the run when ENTRY's 99th percentile is above",
        metavar="ENTRY=MS", doc="gate: the same for the 99th percentile",
        group=GATES_AND_REPORTS,
    ),
    Option(
        "check-min-mbps", [], MBPS_LIMITS, "Gate: ENTRY=X, fail the run when ENTRY moved under X MB/s",
        metavar="ENTRY=X", doc="gate: ENTRY must move at least X MB/s (repeatable)",
        group=GATES_AND_REPORTS,
    ),
    Option(
        "summary-file", "", text, "Write a JSON summary (per-entry figures, gate results) here at the end",
        metavar="PATH", doc="JSON for CI: per-entry figures and every gate's result",
        group=GATES_AND_REPORTS,
    ),
    Option(
        "cleanup", False, boolean, "At test stop, delete the images this test's image-push stored",
        doc="at test stop, delete the images image-push stored (as `manifest-delete` requests; see "
        "[Cleanup](cleanup.md))",
        group=WHAT_TO_RUN,
    ),
    Option(
        "honor-retry-after", False, boolean, "After a 429/503 with Retry-After, that user waits as told",
        doc="after a 429 (or 503) with `Retry-After`, that user waits as told (at most 300 s) before its next "
        "request; the 429 still counts as a failure",
        group=CLIENTS_AND_TRANSFERS,
    ),
    Option(
        "pushed-log", "", writable_file, "Append one JSON line per successful image-push here (for `audit`)",
        metavar="FILE", doc="append one JSON line `{\"repository\", \"tag\", \"digest\"}` per successful image-push, "
        "for `python -m registry_tasks audit`",
        group=GATES_AND_REPORTS,
    ),
    Option(
        "load-shape", "", load_shape, "ramp[:UP%], step[:N] or spike[:BASE%] over -t, peaking at -u users",
        metavar="SHAPE", doc="`ramp[:UP%]`, `step[:N]` or `spike[:BASE%]` over `-t`, peaking at `-u` users (see "
        "[Load shapes and mixes](load-shapes.md))",
        group=WHAT_TO_RUN,
    ),
    Option(
        "pull-push-ratio", "", shares(2), "Shares of pull and push users, e.g. 75/25 (as user-weights)",
        metavar="P/Q", doc="shares of pull and push users, e.g. `75/25` (the scenario's `user-weights`, from the "
        "command line)",
        group=WHAT_TO_RUN,
    ),
    Option(
        "image-mix", "", shares(), "Shares of the images in their order, e.g. 20/70/10 for 3 synthetic images",
        metavar="A/B/...", doc="shares of the images in their order, e.g. `20/70/10` over `--synthetic-images "
        "\"1x1MiB 3x10MiB 1x200MiB\"`",
        group=IMAGES,
    ),
    Option(
        "arrival-rate", [], arrival_rates(TASK_NAMES),
        "Open model: TASK=R/s (or R/m) arrivals, e.g. "
        "manifest-get=80/s; each runs the task once on a pooled client, whatever the registry does",
        metavar="TASK=R/s", doc="open model: TASK arrivals per second (or `R/m` per minute), repeatable or "
        "`a=1/s,b=2/s` (scenario `arrival-rate:`); see [Arrival rates, rollouts, capacity](open-model.md)",
        group=ARRIVALS_OPEN_MODEL,
    ),
    Option(
        "arrivals", "poisson", arrival_process, "How arrivals are spaced: poisson or constant", ARRIVAL_PROCESSES,
        metavar="PROCESS", doc="how arrivals are spaced: exponential gaps (`poisson`: independent clients) or even "
        "ones (`constant`)",
        group=ARRIVALS_OPEN_MODEL,
    ),
    Option(
        "max-in-flight", 1000, positive_int,
        "Open model: arrivals at once per process; beyond it one is dropped (a 'dropped:' failure of its task)",
        metavar="N", doc="arrivals running at once per process; the next is not sent but counted as a `dropped:` "
        "failure of its task",
        group=ARRIVALS_OPEN_MODEL,
    ),
    Option(
        "rollout", "", rollout,
        "Rollout storm: NODES[@WINDOW] nodes each pull the image once, starting evenly "
        "over WINDOW (e.g. 2000@60s; default all at once); the run ends when all are done",
        metavar="NODES[@WINDOW]", doc="a rollout storm: NODES nodes each pull the image once, starting evenly over "
        "WINDOW (`60s`, `2m`; default all at once); the run ends when all are done",
        group=ARRIVALS_OPEN_MODEL,
    ),
    Option(
        "rollout-update", False, boolean, "After --rollout, roll the same nodes to a second image sharing the base "
        "layers", doc="then roll the same nodes to an update of the image (same base layers, one new layer)",
        group=ARRIVALS_OPEN_MODEL,
    ),
    Option(
        "find-capacity", "", task_entry(TASK_NAMES),
        "Capacity search: raise this task's arrival rate until --slo breaks; report the highest rate that held",
        metavar="TASK", doc="capacity search: raise TASK's arrival rate until `--slo` breaks; report the highest rate "
        "that held",
        group=ARRIVALS_OPEN_MODEL,
    ),
    Option(
        "slo", "", slo, "SLO of --find-capacity: p95=MS[,p99=MS][,fail=RATIO]", metavar="p95=MS[,p99=MS][,fail=R]",
        doc="the search's SLO (also `p50=`)",
        group=ARRIVALS_OPEN_MODEL,
    ),
    Option(
        "capacity-start", "10/s", rate, "First rate of --find-capacity (x1.5 per step, then bisection to 5%)",
        metavar="RATE", doc="the search's first rate (x1.5 per step, then bisection to 5%)",
        group=ARRIVALS_OPEN_MODEL,
    ),
    Option(
        "capacity-step-time", 30.0, positive_seconds, "Seconds of each --find-capacity step", metavar="S",
        doc="seconds per step",
        group=ARRIVALS_OPEN_MODEL,
    ),
    Option(
        "replay", [], existing_files,
        "Replay this trace (IBM registry trace or distribution log; repeatable): "
        "each recorded request due at its recorded time",
        metavar="FILE", doc="replay a recorded workload (IBM trace, registry log, `--record` file; repeatable), each "
        "request due at its recorded time; see [Replaying real workloads](replay.md)",
        group=REPLAY,
    ),
    Option(
        "replay-format", "", trace_format, "Format of --replay files (empty: detected)", ("", *TRACE_FORMATS),
        metavar="F", doc="the format of the `--replay` files (empty: detected from how each file starts)",
        group=REPLAY,
    ),
    Option(
        "replay-speed", "1", speed, "Replay at this multiple of the recorded pace, or max", metavar="X",
        doc="multiple of the recorded pace, or `max`",
        group=REPLAY,
    ),
    Option(
        "replay-window", "", window, "START:END seconds of the trace to replay (from its first record)",
        metavar="START:END", doc="the slice to replay, seconds from the first record (`:600`, `3600:`; empty: the "
        "whole trace)",
        group=REPLAY,
    ),
    Option(
        "replay-clients-scale", 1, positive_int, "Each recorded client becomes this many clients, offset in time",
        metavar="K", doc="each recorded client becomes K clients, offset in time",
        group=REPLAY,
    ),
    Option(
        "record", "", writable_file, "Write this run's requests as JSON lines, replayable with --replay",
        metavar="FILE", doc="append this run's requests as JSON lines that `--replay` reads",
        group=REPLAY,
    ),
    Option(
        "populate", "", populate,
        "Before the load, fill REPOSxTAGS repositories of small images (e.g. 500x20) "
        "under <prefix>/pop-<i>; pulls draw from them",
        metavar="REPOSxTAGS", doc="fill `<prefix>/pop-<i>` before the load; pulls draw from them (see [The registry "
        "as it lives](registry-as-it-lives.md))",
        group=IMAGES,
    ),
    Option(
        "popularity", "uniform", popularity, "Which image a pull takes: uniform, or zipf:S (a few hot repositories)",
        metavar="P", doc="`uniform` or `zipf:S`: which image a pull takes",
        group=IMAGES,
    ),
    Option(
        "page-size", 100, positive_int, "Entries per page (n=) of tags-list and catalog walks", metavar="N",
        doc="entries per page (`n=`) of tags-list and catalog walks",
        group=WHAT_TO_RUN,
    ),
    Option(
        "scenario", "", text, "YAML scenario file setting these values plus task and user weights", metavar="FILE",
        doc="YAML file with the same settings plus weights (see [Scenario files](scenarios.md))",
        group=WHAT_TO_RUN,
    ),
    Option(
        "weights", {}, weights(TASK_NAMES), "Task weights by task name", cli=False,
        doc="task weights, a mapping of task name to weight; a task weighted 0 (or left out) does not run",
        group=WHAT_TO_RUN,
    ),
    Option(
        "user-weights", {}, weights(USER_NAMES), "User class weights (pull, push, browse, churn, artifact)", cli=False,
        doc="user class weights, e.g. `{pull: 3, push: 1}` (`pull`, `push`, `browse`, `churn`, `artifact`); "
        "`--pull-push-ratio` says the same of pull and push from the command line",
        group=WHAT_TO_RUN,
    ),
)  # fmt: skip
_BY_KEY = {option.key: option for option in OPTIONS}



def add_arguments(parser: Any) -> None:
    """Register our options in Locust's parser (call from `events.init_command_line_parser`)."""
    for option in OPTIONS:
        if not option.cli:
            continue
        kwargs: dict[str, Any] = {
            "default": option.default,
            "help": f"{option.help} (default {option.default!r})",
            "env_var": option.env,
            "include_in_web_ui": True,
        }
        if isinstance(option.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = type(option.default)
        if option.choices:
            kwargs["choices"] = option.choices
        if option.secret:
            kwargs["is_secret"] = True
        if isinstance(option.default, list):
            kwargs["action"] = "append"
            kwargs["type"] = str
        parser.add_argument(f"--{option.name}", **kwargs)
