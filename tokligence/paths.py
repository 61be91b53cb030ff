"""Where the gateway keeps its files by default, per operating system.

platformdirs knows each OS's convention (XDG on Linux, ~/Library on macOS,
%LOCALAPPDATA% on Windows). The functions compute on call, never at import:
tests and the frozen binary may change HOME or XDG_* before asking.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "tokligence"

# appauthor=False everywhere: on Windows platformdirs would otherwise nest the
# app folder under an author folder of the same name (tokligence\tokligence).


def default_data_dir() -> Path:
    """Databases (ledger, identity) live here unless configured otherwise."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_dir() -> Path:
    """Holds the optional per-user ``gateway.ini``."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def default_log_dir() -> Path:
    """Rotated log files go here unless a log file is configured."""
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
