"""Settings: the option table, the YAML scenario, value parsers, and the client configuration they give.

Apart from the plugin so that command-line tools (`audit`) read the same options without importing Locust.
"""

from .client_config import client_config, credentials
from .option import Option
from .options import OPTIONS, add_arguments
from .scenario import SettingsError, check_host, load_scenario, settings_from
from .settings import GATE_ENTRIES, TOTAL, Settings
from .values import UPLOAD_MODES

__all__ = [
    "GATE_ENTRIES", "OPTIONS", "TOTAL", "UPLOAD_MODES", "Option", "Settings", "SettingsError", "add_arguments",
    "check_host", "client_config", "credentials", "load_scenario", "settings_from",
]  # fmt: skip
