"""Locust entry point: `locust -f locustfile.py -H http://registry:5000`. Options: `locust --help`."""

from registry_tasks import RegistryBrowseUser, RegistryPullUser, RegistryPushUser

__all__ = ["RegistryBrowseUser", "RegistryPullUser", "RegistryPushUser"]
