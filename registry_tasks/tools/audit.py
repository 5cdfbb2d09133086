"""`python -m registry_tasks audit FILE -H URL`: re-pull every image a run's `--pushed-log` recorded, verifying
every digest, so that a push reported as a success is known to be in the registry, byte for byte.

Each image is pulled by its digest with the same client the load uses (digest checks forced on): an index's
every child, each child's config and layers. The tag must still point to the recorded digest. Prints each
failure on its own line, then `N/M images verified`; exits 0 only when all M (at least one) were.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from typing import Any

from ..config import OPTIONS, SettingsError, client_config, settings_from
from ..image import ImageError, Platform
from ..registry import RegistryClient, RegistryError, RequestFailed, log_request
from ..registry.pushed_log import Pushed, read_pushed_log
from ..registry.workflows import index_children, manifest_document, pull_image

# Options of the load test that also mean something to the audit (same names, env variables, parsing).
SHARED_OPTIONS = (
    "registry-username",
    "registry-password",
    "docker-config",
    "registry-ca-file",
    "registry-insecure",
    "platform",
    "request-timeout",
    "pull-parallel",
)


def add_parser(subcommands: Any) -> None:
    parser = subcommands.add_parser("audit", help="re-pull and verify every image a --pushed-log recorded")
    parser.add_argument("file", metavar="FILE", help="the file a run wrote with --pushed-log")
    parser.add_argument("-H", "--host", required=True, help="the registry, e.g. http://127.0.0.1:5000")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    for option in (option for option in OPTIONS if option.name in SHARED_OPTIONS):
        default = os.environ.get(option.env, option.default)
        action = argparse.BooleanOptionalAction if isinstance(option.default, bool) else "store"
        parser.add_argument(f"--{option.name}", action=action, default=default, help=f"{option.help} ({option.env})")
    parser.set_defaults(run=run)


def verify(client: RegistryClient, pushed: Pushed, platform: Platform, parallel: int) -> None:
    """Raises RequestFailed (or RegistryError) unless the image and everything it references verify."""
    if client.head_manifest(pushed.repository, pushed.tag) != pushed.digest:
        raise RegistryError("the tag no longer points to the pushed digest")
    media_type, document, _ = manifest_document(client, pushed.repository, pushed.digest)
    children = index_children(media_type, document, f"index {pushed}")
    for digest in [pushed.digest] if children is None else [child.digest for child in children]:
        pull_image(client, pushed.repository, digest, platform, parallel)


def audit(client: RegistryClient, path: str, platform: Platform, parallel: int) -> tuple[int, int]:
    """(verified, recorded); prints one line per image that did not verify."""
    verified = recorded = 0
    for entry in read_pushed_log(path):
        recorded += 1
        if isinstance(entry, str):
            print(f"FAILED {entry}")
            continue
        try:
            verify(client, entry, platform, parallel)
        except (RequestFailed, RegistryError, ImageError) as exc:
            print(f"FAILED {entry}: {exc}")
            continue
        verified += 1
    return verified, recorded


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = dataclasses.replace(client_config(settings, args.host), verify_digests=True)
    client = RegistryClient(args.host, log_request, config)
    try:
        verified, recorded = audit(client, args.file, settings.platform, settings.pull_parallel)
    except OSError as exc:
        print(f"error: {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    finally:
        client.close()
    print(f"{verified}/{recorded} images verified")
    return 0 if recorded and verified == recorded else 1
