"""The package's one exception root, in a module that imports nothing of ours, so that every layer may use it.

Whatever this package raises on purpose (a registry's answer, a bad option, a fixture that cannot be used) is a
`RegistryTasksError`: `except RegistryTasksError` catches those and lets a bug in our code (a TypeError, a
KeyError) through with its traceback, where Locust shows it as an exception, not as a registry's failure.
"""

from __future__ import annotations


class RegistryTasksError(Exception):
    """The root of every error class of registry_tasks."""
