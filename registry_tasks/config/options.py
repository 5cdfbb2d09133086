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


@dataclass(frozen=True)
class Option:
    """One setting: its flag, default, parser, help; `cli` False for scenario-only keys."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    choices: tuple[str, ...] | None = None
    cli: bool = True
    secret: bool = False

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return "LOCUST_" + self.key.upper()

    @property
    def group(self) -> str:
        """Its purpose, from GROUPS: how `python -m registry_tasks options` lists it."""
        return GROUP_OF[self.name]


OPTIONS = (
    Option("fixtures-dir", "fixtures", text, "Directory of image fixtures: docker save tarballs, OCI layouts"),
    Option("synthetic-images", "", text, "Use synthetic images instead of fixtures, e.g. '3x10MiB 1x50MiB'"),
    Option("synthetic-seed", 0, seed, "Seed of synthetic image bytes (same seed, same bytes everywhere)"),
    Option("chunk-size", "5MiB", positive_size, "Bytes per PATCH in chunked uploads (e.g. 5MiB)"),
    Option(
        "client-profile",
        "",
        client_profile,
        "Real client whose requests users send (empty: docker, and containerd for --rollout)",
        ("", *PROFILE_NAMES),
    ),
    Option("client-mix", [], client_mix, "Fleet of clients as PROFILE=SHARE, e.g. containerd=80,docker=20"),
    Option("user-agent", "", text, "User-Agent instead of the client profile's (which ends in registry-tasks/V)"),
    Option("upload-mode", "", upload_mode, "Blob upload shape in image-push (empty: the profile's)", UPLOAD_CHOICES),
    Option("verify-digests", True, boolean, "Hash every downloaded blob and manifest against its digest"),
    Option("repository-prefix", "loadtest", repository_prefix, "Repository namespace for seeded and pushed images"),
    Option("pull-parallel", 0, count_or_profile, "Layers downloaded at once per image-pull (0: the profile's)"),
    Option("push-parallel", 0, count_or_profile, "Blobs uploaded at once per image-push (0: the profile's)"),
    Option("unique-layers", False, boolean, "Make every pushed image's layers new bytes, so nothing deduplicates"),
    Option("platform", "linux/amd64", platform, "Platform chosen from manifest lists and OCI indexes"),
    Option("request-timeout", 120, positive_int, "Seconds a request may wait for the registry (connect and read)"),
    Option("registry-username", "", text, "Registry user (Basic, or for the token server)"),
    Option("registry-password", "", text, "Registry password; workers may read it from their own env", secret=True),
    Option("docker-config", "~/.docker/config.json", text, "docker config.json whose auths entry gives credentials"),
    Option("registry-ca-file", "", existing_file, "PEM bundle of the CA that signed the registry's certificate"),
    Option("registry-insecure", False, boolean, "Do not verify the registry's TLS certificate (warns)"),
    Option("pull-image", [], image_references, "Pull this existing repository:tag instead of seeding (repeatable)"),
    Option("check-fail-ratio", "", ratio, "Gate: fail the run (exit 3) when more than this ratio of requests failed"),
    Option("check-p95", [], MS_LIMITS, "Gate: ENTRY=MS, fail the run when ENTRY's 95th percentile is above"),
    Option("check-p99", [], MS_LIMITS, "Gate: ENTRY=MS, fail the run when ENTRY's 99th percentile is above"),
    Option("check-min-mbps", [], MBPS_LIMITS, "Gate: ENTRY=X, fail the run when ENTRY moved under X MB/s"),
    Option("summary-file", "", text, "Write a JSON summary (per-entry figures, gate results) here at the end"),
    Option("cleanup", False, boolean, "At test stop, delete the images this test's image-push stored"),
    Option("honor-retry-after", False, boolean, "After a 429/503 with Retry-After, that user waits as told"),
    Option("pushed-log", "", writable_file, "Append one JSON line per successful image-push here (for `audit`)"),
    Option("load-shape", "", load_shape, "ramp[:UP%], step[:N] or spike[:BASE%] over -t, peaking at -u users"),
    Option("pull-push-ratio", "", shares(2), "Shares of pull and push users, e.g. 75/25 (as user-weights)"),
    Option("image-mix", "", shares(), "Shares of the images in their order, e.g. 20/70/10 for 3 synthetic images"),
    Option(
        "arrival-rate",
        [],
        arrival_rates(TASK_NAMES),
        "Open model: TASK=R/s (or R/m) arrivals, e.g. "
        "manifest-get=80/s; each runs the task once on a pooled client, whatever the registry does",
    ),
    Option("arrivals", "poisson", arrival_process, "How arrivals are spaced: poisson or constant", ARRIVAL_PROCESSES),
    Option(
        "max-in-flight",
        1000,
        positive_int,
        "Open model: arrivals at once per process; beyond it one is dropped (a 'dropped:' failure of its task)",
    ),
    Option(
        "rollout",
        "",
        rollout,
        "Rollout storm: NODES[@WINDOW] nodes each pull the image once, starting evenly "
        "over WINDOW (e.g. 2000@60s; default all at once); the run ends when all are done",
    ),
    Option(
        "rollout-update",
        False,
        boolean,
        "After --rollout, roll the same nodes to a second image sharing the base layers",
    ),
    Option(
        "find-capacity",
        "",
        task_entry(TASK_NAMES),
        "Capacity search: raise this task's arrival rate until --slo breaks; report the highest rate that held",
    ),
    Option("slo", "", slo, "SLO of --find-capacity: p95=MS[,p99=MS][,fail=RATIO]"),
    Option("capacity-start", "10/s", rate, "First rate of --find-capacity (x1.5 per step, then bisection to 5%)"),
    Option("capacity-step-time", 30.0, positive_seconds, "Seconds of each --find-capacity step"),
    Option(
        "replay",
        [],
        existing_files,
        "Replay this trace (IBM registry trace or distribution log; repeatable): "
        "each recorded request due at its recorded time",
    ),
    Option("replay-format", "", trace_format, "Format of --replay files (empty: detected)", ("", *TRACE_FORMATS)),
    Option("replay-speed", "1", speed, "Replay at this multiple of the recorded pace, or max"),
    Option("replay-window", "", window, "START:END seconds of the trace to replay (from its first record)"),
    Option("replay-clients-scale", 1, positive_int, "Each recorded client becomes this many clients, offset in time"),
    Option("record", "", writable_file, "Write this run's requests as JSON lines, replayable with --replay"),
    Option(
        "populate",
        "",
        populate,
        "Before the load, fill REPOSxTAGS repositories of small images (e.g. 500x20) "
        "under <prefix>/pop-<i>; pulls draw from them",
    ),
    Option(
        "popularity", "uniform", popularity, "Which image a pull takes: uniform, or zipf:S (a few hot repositories)"
    ),
    Option("page-size", 100, positive_int, "Entries per page (n=) of tags-list and catalog walks"),
    Option("scenario", "", text, "YAML scenario file setting these values plus task and user weights"),
    Option("weights", {}, weights(TASK_NAMES), "Task weights by task name", cli=False),
    Option(
        "user-weights", {}, weights(USER_NAMES), "User class weights (pull, push, browse, churn, artifact)", cli=False
    ),
)
_BY_KEY = {option.key: option for option in OPTIONS}

GROUPS: dict[str, tuple[str, ...]] = {
    "connection and auth": (
        "request-timeout", "registry-username", "registry-password", "docker-config", "registry-ca-file",
        "registry-insecure",
    ),
    "clients and transfers": (
        "client-profile", "client-mix", "user-agent", "upload-mode", "chunk-size", "pull-parallel", "push-parallel",
        "verify-digests", "honor-retry-after",
    ),
    "images": (
        "fixtures-dir", "synthetic-images", "synthetic-seed", "unique-layers", "platform", "image-mix", "pull-image",
        "repository-prefix", "populate", "popularity",
    ),
    "what to run": (
        "scenario", "weights", "user-weights", "pull-push-ratio", "load-shape", "page-size", "cleanup",
    ),
    "arrivals (open model)": (
        "arrival-rate", "arrivals", "max-in-flight", "rollout", "rollout-update", "find-capacity", "slo",
        "capacity-start", "capacity-step-time",
    ),
    "replay": ("replay", "replay-format", "replay-speed", "replay-window", "replay-clients-scale", "record"),
    "gates and reports": (
        "check-fail-ratio", "check-p95", "check-p99", "check-min-mbps", "summary-file", "pushed-log",
    ),
}  # fmt: skip
"""Every option's purpose, in the order `python -m registry_tasks options` lists them (each option in one group)."""
GROUP_OF = {name: group for group, members in GROUPS.items() for name in members}


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
