"""Locust entry point: `locust -f locustfile.py -H http://registry:5000`. Options: `locust --help`."""

from registry_tasks import (
    RegistryArtifactUser,
    RegistryBrowseUser,
    RegistryChurnUser,
    RegistryPullUser,
    RegistryPushUser,
)

__all__ = ["RegistryArtifactUser", "RegistryBrowseUser", "RegistryChurnUser", "RegistryPullUser", "RegistryPushUser"]
