"""Showing the effective configuration (``tokligence config show``): every
setting's value as a user would write it, with its source; secrets masked."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .config import Config
from .settings_table import SETTINGS


def mask_secret(value: str) -> str:
    """Enough of a key to tell two apart, never enough to use it."""
    if not value:
        return ""
    return "****" + value[-4:] if len(value) >= 12 else "****"


def mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:****@{host}"))


def describe_values(config: Config) -> list[tuple[str, object, str]]:
    """(name, JSON-ready value with secrets masked, source) for ``config show``.

    Every non-legacy setting is listed; legacy ones only when set.
    """
    rows: list[tuple[str, object, str]] = []
    for setting in SETTINGS:
        source = config.sources[setting.name]
        if setting.legacy:
            if setting.name not in config.legacy_values:
                continue
            value: object = config.legacy_values[setting.name]
        else:
            value = getattr(config, setting.name)
        if setting.name == "database_url":
            value = mask_url_password(str(value))
        elif setting.is_secret:
            value = mask_secret(str(value))
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Path):
            value = str(value)
        rows.append((setting.name, value, source))
    return rows


def describe(config: Config) -> list[tuple[str, str, str]]:
    """Like describe_values, with each value as the text a user would write."""
    return [(name, format_value(value), source) for name, value, source in describe_values(config)]


def format_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)
