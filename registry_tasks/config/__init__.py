"""Settings: the option table, the YAML scenario, value parsers, and the client configuration they give.

Apart from the plugin so that command-line tools (`audit`) read the same options without importing Locust.
"""

from .client_config import client_config, credentials
from .options import GATE_ENTRIES, OPTIONS, TOTAL, Option, add_arguments
from .settings import Settings, SettingsError, check_host, load_scenario, settings_from
from .values import UPLOAD_MODES

__all__ = [
    "GATE_ENTRIES", "OPTIONS", "TOTAL", "UPLOAD_MODES", "Option", "Settings", "SettingsError", "add_arguments",
    "check_host", "client_config", "credentials", "load_scenario", "settings_from",
]  # fmt: skip
