"""Showing the effective configuration (``tokligence config show``): every
setting's value as a user would write it, with its source, its environment
variable and its help, then each declared provider's and offer's fields;
secrets masked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .config import Config
from .providers import BUILT_IN, FIELD_HELP, PROVIDER_ENV_PREFIX, ProviderConfig
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


def show_rows(config: Config) -> list[dict[str, object]]:
    """Every row ``config show`` prints: the settings (name, value, source,
    env, help), then each declared provider's fields as
    ``provider.NAME.FIELD``, then each offer's as ``trade.offer.NAME.FIELD``
    and each peer's as ``trade.peer.NAME.FIELD`` (its key masked)."""
    helps = {setting.name: setting for setting in SETTINGS}
    rows: list[dict[str, object]] = [
        {
            "name": name,
            "value": value,
            "source": source,
            "env": helps[name].env_vars[0],
            "help": helps[name].help,
        }
        for name, value, source in describe_values(config)
    ]
    for provider in config.providers:
        if provider.name not in BUILT_IN:  # those are the settings above
            rows.extend(_provider_rows(provider))
    if config.offers:  # only then is the trading package loaded
        from .trade.offers import show_rows as offer_rows

        for offer in config.offers:
            rows.extend(offer_rows(offer))
    if config.peers:
        from .trade.peers import show_rows as peer_rows

        for peer in config.peers:
            for row in peer_rows(peer):
                if str(row["name"]).endswith(".api_key"):
                    row["value"] = mask_secret(str(row["value"]))
                rows.append(row)
    return rows


def _provider_rows(provider: ProviderConfig) -> list[dict[str, object]]:
    values: dict[str, object] = {
        "kind": provider.kind,
        "base_url": mask_url_password(provider.base_url),
        "api_key": mask_secret(provider.api_key),
        "headers": [f"{name}: {mask_secret(value)}" for name, value in provider.headers],
        "models": list(provider.models),
        "connect_timeout": provider.connect_timeout,
        "response_timeout": provider.response_timeout,
        "read_timeout": provider.read_timeout,
        "responses": provider.responses,
        "anthropic_version": provider.anthropic_version,
        "drop_betas": list(provider.drop_betas),
    }
    prefix = PROVIDER_ENV_PREFIX + provider.name.upper().replace("-", "_") + "_"
    return [
        {
            "name": f"provider.{provider.name}.{field}",
            "value": value,
            "source": f"provider {provider.name}",
            "env": prefix + field.upper(),
            "help": FIELD_HELP[field],
        }
        for field, value in values.items()
    ]


def fingerprint(config: Config) -> str:
    """A short digest of the effective configuration (secrets as masked)
    and the version: a launcher compares it with a running gateway's
    (``/health``) to tell whether that gateway runs what it would start."""
    from . import __version__

    values = [(row["name"], row["value"]) for row in show_rows(config)]
    text = json.dumps([__version__, values], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:16]
