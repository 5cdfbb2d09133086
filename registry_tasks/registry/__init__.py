"""Talking to a registry: transport, auth, error parsing, `RegistryClient` (one measured method per API
operation) and the workflows built from its calls (image pull and push, mounts, cleanup). No Locust here:
every request is reported through a `fire` callable with the signature of Locust's `events.request.fire`.
"""

from . import names
from .client import ClientConfig, RegistryClient, UploadSession
from .errors import DigestMismatch, RegistryError, RequestFailed, log_request
from .workflows import PullTarget, image_exists, mount_image, pull_image, push_image, resolve_target

__all__ = [
    "ClientConfig", "DigestMismatch", "PullTarget", "RegistryClient", "RegistryError", "RequestFailed",
    "UploadSession", "image_exists", "log_request", "mount_image", "names", "pull_image", "push_image",
    "resolve_target",
]  # fmt: skip
