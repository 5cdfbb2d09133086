"""Locust load tests for container registries (Docker Registry HTTP API V2 / OCI distribution)."""

__version__ = "0.1.0"
