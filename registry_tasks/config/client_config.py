"""How a registry client talks to one host under the settings: timeouts, TLS, credentials, back-off."""

from __future__ import annotations

from ..registry import ClientConfig
from ..registry.auth import Credentials, docker_config_credentials
from ..registry.profiles import MINIMAL, ClientProfile
from .settings import Settings


def client_config(settings: Settings, host: str, profile: ClientProfile = MINIMAL) -> ClientConfig:
    """The ClientConfig for `host`: load users send as their client `profile` (--user-agent replacing its
    User-Agent); seeding, cleanup and the `audit` command as `minimal`, the bare API sequences."""
    timeout = float(settings.request_timeout)
    # connections in use at once: the layers (and docker's config beside them) or the uploads of one image
    parallel = max(settings.pull_parallel, settings.push_parallel, profile.download_parallel, profile.upload_parallel)
    return ClientConfig(
        verify_digests=settings.verify_digests,
        connect_timeout=min(timeout, 10.0),
        network_timeout=timeout,
        concurrency=max(parallel + 1, 5),
        tls_verify=not settings.registry_insecure,
        ca_file=settings.registry_ca_file or None,
        credentials=credentials(settings, host),
        honor_retry_after=settings.honor_retry_after,
        profile=profile.with_user_agent(settings.user_agent),
    )


def credentials(settings: Settings, host: str) -> Credentials | None:
    """--registry-username/--registry-password, else the docker config's entry for the host."""
    if settings.registry_username or settings.registry_password:
        return Credentials(settings.registry_username, settings.registry_password)
    return docker_config_credentials(settings.docker_config, host)
