"""`--cleanup`: at test stop, delete the images this process's image-push stored, as `manifest-delete` requests.

What was pushed is read from this process's own `manifest-put` request events (repository and reference are
in their context), so each worker deletes exactly its own pushes and no two processes delete the same one.
Only image-push repositories are cleaned: manifest-put tags the seeded manifest, shared by every user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gevent.pool import Pool

from . import names
from .client import RegistryClient
from .errors import RequestFailed, log_request

log = logging.getLogger(__name__)
Fire = Callable[..., None]


class PushLedger:
    """Manifests stored under one repository prefix, in push order (an index after its children)."""

    def __init__(self) -> None:
        self.prefix: str | None = None
        self.pushed: list[tuple[str, str]] = []
        self._listening = False

    def watch(self, request_event: Any, prefix: str) -> None:
        """Record successful manifest PUTs to repositories starting with `prefix` (listens once)."""
        self.prefix = prefix
        if not self._listening:
            request_event.add_listener(self.record)
            self._listening = True

    def record(self, name: str, exception: BaseException | None, context: dict[str, Any], **_: Any) -> None:
        if name == names.MANIFEST_PUT and exception is None and self.prefix:
            repository = context.get("repository", "")
            if repository.startswith(self.prefix):
                self.pushed.append((repository, context["reference"]))

    def take(self) -> list[tuple[str, str]]:
        pushed, self.pushed = self.pushed, []
        return pushed


def count_only_deletes(fire: Fire) -> Fire:
    """Report manifest-delete to Locust; the HEADs that find a tag's digest are bookkeeping, only logged."""

    def route(**event: Any) -> None:
        (fire if event.get("name") == names.MANIFEST_DELETE else log_request)(**event)

    return route


def delete_pushed(client: RegistryClient, pushed: list[tuple[str, str]], parallel: int) -> int:
    """Delete newest first (an index before its children), one repository per greenlet; returns how many.

    A tag is deleted by its manifest's digest, which takes the tag with it (the spec: "any tag pointing to that
    digest will return a 404"); a registry that deletes only what it is named (go-containerregistry's, v0.22) still
    answers the tag's HEAD, and gets a DELETE of the tag itself. A registry that refuses deletes (405,
    distribution's default) fails one manifest-delete and stops the cleanup with one warning.
    """
    by_repository: dict[str, list[str]] = {}
    for repository, reference in reversed(pushed):
        by_repository.setdefault(repository, []).append(reference)
    refused: list[str] = []
    deleted = 0

    def clean(repository: str) -> None:
        nonlocal deleted
        for reference in by_repository[repository]:
            if refused:
                return
            try:
                tagged = not reference.startswith("sha256:")
                digest = client.head_manifest(repository, reference) if tagged else reference
                if digest is not None:
                    client.delete_manifest(repository, digest)
                    deleted += 1
                    if tagged and client.head_manifest(repository, reference) is not None:
                        client.delete_manifest(repository, reference)  # the tag outlived its digest
            except RequestFailed as exc:
                if exc.status == 405:  # Method Not Allowed: deletes are off
                    refused.append(str(exc))

    repositories = list(by_repository)
    if repositories:  # the first alone: a registry refusing deletes then refuses exactly one
        clean(repositories[0])
        Pool(max(1, parallel)).map(clean, repositories[1:])
    if refused:
        log.warning(
            "--cleanup: the registry refuses deletes (%s); %d of %d pushed manifests are left "
            "(distribution: set storage.delete.enabled, REGISTRY_STORAGE_DELETE_ENABLED=true)",
            refused[0],
            len(pushed) - deleted,
            len(pushed),
        )
    elif pushed:
        log.info("--cleanup: deleted %d of %d pushed manifests", deleted, len(pushed))
    return deleted
