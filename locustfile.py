"""Locust entry point: `locust -f locustfile.py -H http://registry:5000`. Options: `locust --help`."""

from registry_tasks import RegistryBrowseUser, RegistryChurnUser, RegistryPullUser, RegistryPushUser

__all__ = ["RegistryBrowseUser", "RegistryChurnUser", "RegistryPullUser", "RegistryPushUser"]
