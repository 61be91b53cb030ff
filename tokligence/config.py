"""Effective configuration: the one place that reads files, environment and flags.

Theory of operation. ``load_config`` gathers raw strings in layers, each later
layer overriding the earlier ones per key:

1. built-in defaults (``settings_table.SETTINGS``);
2. INI files: the original gateway's ``config/setting.ini`` then
   ``config/<environment>/gateway.ini`` (both relative to the working
   directory), then ``<user config dir>/gateway.ini``, then the file named by
   ``--config`` / ``TOKLIGENCE_CONFIG``;
3. ``TOKLIGENCE_*`` environment variables (an empty value means unset);
4. command-line flags.

Every key and variable is checked against the table first, so a typo stops
start-up with its location and a suggestion instead of being silently
ignored. Only the winning raw value of each setting is then converted to its
type and validated, which lets a good environment variable rescue a bad file.
The result is a frozen :class:`Config`; nothing reads configuration later.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .paths import default_config_dir
from .providers import PROVIDER_ENV_PREFIX, ProviderConfig, provider_env_field, resolve_providers
from .settings_table import (
    ENV_PREFIX,
    FLAG_ALIASES,
    LEGACY_ENV_PREFIXES,
    NON_SETTING_ENV,
    OFFER_ENV_PREFIX,
    OFFER_SECTION,
    PEER_ENV_PREFIX,
    PEER_SECTION,
    SETTINGS,
    STDERR_ONLY,
    SUGGEST_INSTEAD,
    BadValue,
    Setting,
)

if TYPE_CHECKING:
    from .trade.offers import Offer
    from .trade.peers import Peer

CONFIG_FILE_ENV = "TOKLIGENCE_CONFIG"
USER_CONFIG_NAME = "gateway.ini"
ORIGINAL_SETTINGS_INI = Path("config") / "setting.ini"
ORIGINAL_DEFAULT_ENVIRONMENT = "dev"
PROVIDER_SECTION = "provider."
_ENV_NAME = re.compile(r"TOKLIGENCE_[A-Z0-9_]+\Z")
_ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9_-]+\Z")


class ConfigError(Exception):
    """Configuration that must stop start-up; the message is safe to print."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    host: str
    facade_port: int
    admin_port: int
    openai_port: int
    anthropic_port: int
    workers: int
    multiport_mode: bool
    enable_facade: bool
    facade_endpoints: tuple[str, ...]
    openai_endpoints: tuple[str, ...]
    anthropic_endpoints: tuple[str, ...]
    admin_endpoints: tuple[str, ...]
    anthropic_native_enabled: bool
    metrics_enabled: bool
    console_enabled: bool
    max_body_bytes: int
    max_json_depth: int
    max_json_integer_digits: int
    json_allow_nonfinite: bool
    header_timeout: float
    idle_timeout: float
    body_timeout: float
    body_min_rate: int
    max_connections: int
    shutdown_grace: float
    stream_keepalive: float
    work_mode: str
    routes: str
    model_provider_routes: str
    model_aliases: str
    model_aliases_file: Path | None
    model_aliases_dir: Path | None
    model_aliases_reload_sec: float
    fallback_adapter: str
    auth_disabled: bool
    insecure: bool
    auth_cache_ttl: float
    key_last_used_interval: float
    hooks_enabled: bool
    hooks_script_path: Path | None
    hooks_script_args: str
    hooks_script_env: str
    hooks_timeout: str
    admin_email: str
    data_dir: Path
    database_url: str
    ledger_path: Path | None
    ledger_enabled: bool
    ledger_async_buffer_size: int
    ledger_async_batch_size: int
    ledger_async_flush_ms: int
    identity_path: Path | None
    log_level: str
    log_dir: Path
    log_file: Path | None
    log_file_daemon: Path | None
    log_max_bytes: int
    log_backups: int
    openai_api_key: str
    openai_base_url: str
    openai_org: str
    anthropic_api_key: str
    anthropic_base_url: str
    anthropic_version: str
    anthropic_max_tokens: int
    upstream_connect_timeout: float
    upstream_response_timeout: float
    upstream_read_timeout: float
    forward_client_key: bool
    upstream_max_retries: int
    upstream_retry_backoff: float
    upstream_retry_max_wait: float
    breaker_threshold: int
    breaker_cooldown: float
    duplicate_tool_detection: bool
    duplicate_tool_warn_at: int
    duplicate_tool_insist_at: int
    duplicate_tool_stop_at: int
    shell_normalization: bool
    claude_bin: str
    codex_bin: str
    agent_api_key: str
    launcher_start_timeout: float
    update_check_enabled: bool
    update_check_url: str
    trade_directory_url: str
    trade_public_url: str
    trade_directory_host: str
    trade_directory_port: int
    trade_directory_ttl: float
    trade_directory_clock_skew: float
    trade_clock_skew: float
    trade_execution_timeout: float
    trade_ack_interval: float
    # Raw strings of legacy settings that were set (they have no effect).
    legacy_values: Mapping[str, str]
    # Legacy settings / env families a user set; start-up warns about each.
    ignored_legacy: tuple[str, ...]
    # setting name -> "default" | "ini <path>" | "env TOKLIGENCE_X" | "flag --x"
    sources: Mapping[str, str]
    config_files: tuple[Path, ...]
    # Upstream providers available for routing (built-in ones with a key, and
    # every [provider.NAME] declaration), in declaration order.
    providers: tuple[ProviderConfig, ...] = ()
    # What this gateway sells to other gateways ([trade.offer.NAME]), in
    # declaration order; empty unless trading is configured.
    offers: tuple[Offer, ...] = ()
    # The sellers it buys from ([trade.peer.NAME]), routed as peer:NAME.
    peers: tuple[Peer, ...] = ()

    @property
    def trading(self) -> bool:
        """Whether this gateway sells or buys (docs/trading.md)."""
        return bool(self.offers or self.peers or self.buys_auto)

    @property
    def buys_auto(self) -> bool:
        """Whether a route (or the fallback adapter) names ``peer:auto``: the
        cheapest live offer of ``trade_directory_url``."""
        return bool(auto_routes(self.routes, self.model_provider_routes, self.fallback_adapter))

    def ledger_file(self) -> Path:
        return self.ledger_path or self.data_dir / "ledger.db"

    def identity_file(self) -> Path:
        return self.identity_path or self.data_dir / "identity.db"

    def log_file_path(self) -> Path | None:
        """The daemon's log file, or None when logging to stderr only.

        As in the original, a log_file_daemon and a log_file from the same
        layer resolve to the daemon one, but an environment log_file beats
        an INI log_file_daemon.
        """
        candidates = [
            (_rank(self.sources[name]), is_daemon, value)
            for name, is_daemon, value in (
                ("log_file_daemon", True, self.log_file_daemon),
                ("log_file", False, self.log_file),
            )
            if value is not None
        ]
        if not candidates:
            return self.log_dir / "gatewayd.log"
        chosen = max(candidates, key=lambda c: (c[0], c[1]))[2]
        return None if str(chosen) == STDERR_ONLY else chosen

    def is_loopback_host(self) -> bool:
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False


def _rank(source: str) -> int:
    return ("default", "ini", "env", "flag").index(source.split(" ", 1)[0])


@dataclass(frozen=True, kw_only=True, slots=True)
class _Raw:
    value: str
    source: str  # as recorded in Config.sources
    where: str  # for messages: file:line, env VAR or flag --x


def settings_by_name() -> Mapping[str, Setting]:
    return MappingProxyType({s.name: s for s in SETTINGS})


def load_config(
    *,
    flags: Mapping[str, object] = MappingProxyType({}),
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    cwd: Path | None = None,
    user_config_dir: Path | None = None,
) -> Config:
    """Resolve the effective configuration; raises ConfigError on any problem.

    ``user_config_dir`` defaults to the platform's per-user config directory;
    tests pass a temporary one so a developer's own file cannot leak in.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    table = settings_by_name()
    problems: list[str] = []
    raw: dict[str, _Raw] = {}

    provider_raw: dict[str, dict[str, tuple[str, str]]] = {}
    provider_env: dict[str, dict[str, tuple[str, str]]] = {}
    offer_raw: dict[str, dict[str, tuple[str, str]]] = {}
    offer_env: dict[str, str] = {}
    peer_raw: dict[str, dict[str, tuple[str, str]]] = {}
    peer_env: dict[str, str] = {}
    sections = _Sections(providers=provider_raw, offers=offer_raw, peers=peer_raw)
    env_layer, legacy_env = _read_env(
        environ,
        table,
        problems,
        provider_env,
        {OFFER_ENV_PREFIX: offer_env, PEER_ENV_PREFIX: peer_env},
    )

    files: list[Path] = []
    setting_ini = cwd / ORIGINAL_SETTINGS_INI
    if setting_ini.is_file():
        files.append(setting_ini)
    base = _read_ini(setting_ini, table, problems, sections) if files else {}
    environment = (
        env_layer["environment"].value
        if "environment" in env_layer
        else base["environment"].value
        if "environment" in base
        else ORIGINAL_DEFAULT_ENVIRONMENT
    )
    raw.update(base)
    if _ENVIRONMENT_NAME.match(environment):
        overlay = cwd / "config" / environment / USER_CONFIG_NAME
        if overlay.is_file():
            files.append(overlay)
            raw.update(_read_ini(overlay, table, problems, sections))
    else:
        where = env_layer.get("environment") or base["environment"]
        problems.append(
            f"environment = {environment!r} ({where.where}): not a directory name;"
            " accepted: letters, digits, '_' and '-'"
        )
    user_dir = default_config_dir() if user_config_dir is None else user_config_dir
    user_file = user_dir / USER_CONFIG_NAME
    if user_file.is_file():
        files.append(user_file)
        raw.update(_read_ini(user_file, table, problems, sections))
    explicit = config_file or (
        Path(environ[CONFIG_FILE_ENV]) if environ.get(CONFIG_FILE_ENV) else None
    )
    if explicit is not None:
        explicit = cwd / explicit.expanduser()
        if not explicit.is_file():
            origin = "--config" if config_file is not None else CONFIG_FILE_ENV
            problems.append(f"config file {explicit} (from {origin}) does not exist")
        elif all(explicit.resolve() != f.resolve() for f in files):
            files.append(explicit)
            raw.update(_read_ini(explicit, table, problems, sections))

    raw.update(env_layer)
    # A provider's fields layer as settings do: the environment over the files.
    for name, fields in provider_env.items():
        provider_raw.setdefault(name, {}).update(fields)
    raw.update(_read_flags(flags, table))

    values: dict[str, Any] = {}
    legacy_values: dict[str, str] = {}
    for setting in SETTINGS:
        given = raw.get(setting.name)
        if setting.legacy:
            if given is not None:
                legacy_values[setting.name] = given.value
        elif given is None:
            values[setting.name] = setting.default_value()
        else:
            try:
                values[setting.name] = setting.convert(given.value, cwd)
            except BadValue as bad:
                shown = "value hidden" if setting.is_secret else repr(given.value)
                problems.append(
                    f"{setting.name} = {shown} ({given.where}): {bad.reason};"
                    f" accepted: {bad.accepted}"
                )
    provider_list: list[ProviderConfig] = []
    offers: tuple[Offer, ...] = ()
    peers: tuple[Peer, ...] = ()
    if not problems:
        provider_list = resolve_providers(values, provider_raw, environ, problems)
    if not problems and (offer_raw or offer_env):
        offers = _resolve_offers(offer_raw, offer_env, provider_list, problems)
    if offers and values["trade_directory_url"] and not values["trade_public_url"]:
        problems.append(
            "trade_directory_url is set and this gateway has offers: set trade_public_url "
            "(TOKLIGENCE_TRADE_PUBLIC_URL) to the URL other gateways reach it at"
        )
    if not problems and (peer_raw or peer_env):
        peers = _resolve_peers(peer_raw, peer_env, environ, problems)
    if not problems and not values["trade_directory_url"]:
        naming = auto_routes(
            values["routes"], values["model_provider_routes"], values["fallback_adapter"]
        )
        if naming:
            problems.append(
                f"{naming[0]} names {AUTO_PEER}, which buys from the offer directory: "
                "set trade_directory_url (TOKLIGENCE_TRADE_DIRECTORY_URL)"
            )
    if problems:
        raise ConfigError(problems)

    # `environment` does have an effect where it picks the overlay file.
    picks_overlay = (f"ini {setting_ini}", "env ")
    ignored = [
        name
        for name in legacy_values
        if not (name == "environment" and raw[name].source.startswith(picks_overlay))
    ]
    return Config(
        **values,
        legacy_values=MappingProxyType(legacy_values),
        ignored_legacy=(*ignored, *legacy_env),
        sources=MappingProxyType(
            {s.name: raw[s.name].source if s.name in raw else "default" for s in SETTINGS}
        ),
        config_files=tuple(files),
        providers=tuple(provider_list),
        offers=offers,
        peers=peers,
    )


AUTO_PEER = "peer:auto"


def auto_routes(routes: str, provider_routes: str, fallback: str) -> list[str]:
    """What names ``peer:auto`` (``route 'PATTERN'``, ``fallback_adapter``);
    a route that cannot be parsed is the router's to report."""
    from .routing.rules import parse_rules

    naming = []
    for text in (routes, provider_routes):
        try:
            rules = parse_rules(text)
        except ValueError:
            continue
        naming += [f"route {r.pattern!r}" for r in rules if AUTO_PEER in r.providers]
    if fallback.strip().lower() == AUTO_PEER:
        naming.append("fallback_adapter")
    return naming


def _resolve_offers(
    declared: dict[str, dict[str, tuple[str, str]]],
    env: Mapping[str, str],
    providers: Sequence[ProviderConfig],
    problems: list[str],
) -> tuple[Offer, ...]:
    """The declared offers; the environment's fields outrank the files'.
    Imported here, only when an offer is declared: a gateway that does not
    trade never loads the trading package."""
    from .trade.offers import offer_env_field, resolve_offers

    for var, value in env.items():
        offer_env_field(var, value, declared, problems)
    names = ["loopback", *(provider.name for provider in providers)]
    return resolve_offers(declared, names, problems)


def _resolve_peers(
    declared: dict[str, dict[str, tuple[str, str]]],
    env: Mapping[str, str],
    environ: Mapping[str, str],
    problems: list[str],
) -> tuple[Peer, ...]:
    """The declared peers, the environment's fields outranking the files'
    (imported only when a peer is declared, as the offers are)."""
    from .trade.peers import peer_env_field, resolve_peers

    for var, value in env.items():
        peer_env_field(var, value, declared, problems)
    return resolve_peers(declared, environ, problems)


def _read_env(
    environ: Mapping[str, str],
    table: Mapping[str, Setting],
    problems: list[str],
    providers: dict[str, dict[str, tuple[str, str]]],
    trade: Mapping[str, dict[str, str]],
) -> tuple[dict[str, _Raw], list[str]]:
    """The settings' variables; ``trade`` collects, per prefix, the raw
    variables of offers and peers (their fields are split once needed)."""
    by_var = {var: (s, rank) for s in SETTINGS for rank, var in enumerate(s.env_vars)}
    found: dict[str, tuple[int, _Raw]] = {}
    legacy_families: list[str] = []
    for var in sorted(environ):
        value = environ[var].strip()  # blank means unset, as in the original
        if not var.startswith(ENV_PREFIX) or not value or not _ENV_NAME.match(var):
            continue
        if var in by_var:
            setting, rank = by_var[var]
            best = found.get(setting.name)
            if best is None or rank < best[0]:
                found[setting.name] = (
                    rank,
                    _Raw(value=value, source=f"env {var}", where=f"env {var}"),
                )
        elif var.startswith(PROVIDER_ENV_PREFIX):
            provider_env_field(var, value, providers, problems)
        elif var.startswith(tuple(trade)):
            prefix = next(p for p in trade if var.startswith(p))
            trade[prefix][var] = value
        elif var.startswith(LEGACY_ENV_PREFIXES):
            legacy_families.append(var)
        elif var not in NON_SETTING_ENV:
            name = var[len(ENV_PREFIX) :].lower()
            hint = _suggest(name, table)
            tip = f"; did you mean {ENV_PREFIX}{hint.upper()}?" if hint else ""
            problems.append(f"unknown environment variable {var}{tip}")
    return {name: r for name, (_, r) in found.items()}, legacy_families


@dataclass(frozen=True, kw_only=True, slots=True)
class _Sections:
    """Where the fields of named sections go: name -> field -> (value, where)."""

    providers: dict[str, dict[str, tuple[str, str]]]
    offers: dict[str, dict[str, tuple[str, str]]]
    peers: dict[str, dict[str, tuple[str, str]]]

    def fields_of(self, header: str) -> dict[str, tuple[str, str]] | None:
        """The fields of the declaration a section header starts (created
        empty); None for a header whose keys are plain settings."""
        lowered = header.lower()
        for prefix, declared in (
            (PROVIDER_SECTION, self.providers),
            (OFFER_SECTION, self.offers),
            (PEER_SECTION, self.peers),
        ):
            if lowered.startswith(prefix):
                return declared.setdefault(lowered[len(prefix) :].strip(), {})
        return None


def _read_ini(
    path: Path,
    table: Mapping[str, Setting],
    problems: list[str],
    sections: _Sections,
) -> dict[str, _Raw]:
    """Flat ``key = value`` settings; keys inside a ``[provider.NAME]``,
    ``[trade.offer.NAME]`` or ``[trade.peer.NAME]`` section are collected
    into ``sections`` instead.
    Other section headers are accepted and ignored (the original gateway's
    files have them)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"cannot read config file {path}: {exc}")
        return {}
    out: dict[str, _Raw] = {}
    # Inside [provider.NAME], [trade.offer.NAME] or [trade.peer.NAME]: its fields.
    fields: dict[str, tuple[str, str]] | None = None
    # Split on line breaks only: str.splitlines would also break on U+2028 etc.
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        line = _INLINE_COMMENT.sub("", line).strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            fields = sections.fields_of(line.strip("[]").strip())
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        where = f"{path}:{number}"
        if not sep or not key:
            problems.append(f"{where}: expected 'key = value', got {line[:40]!r}")
        elif fields is not None:
            if value.strip():
                fields[key] = (value.strip(), where)
        elif key not in table:
            hint = _suggest(key, table)
            tip = f"; did you mean {hint!r}?" if hint else ""
            problems.append(f"unknown setting {key!r} in {where}{tip}")
        elif value.strip():  # an empty value means unset, as in the original
            out[key] = _Raw(value=value.strip(), source=f"ini {path}", where=where)
    return out


# "kind = openai   ; the wire it speaks": a ';' or '#' after whitespace starts
# a comment, as in the original gateway's INI reader and Python's configparser
# with inline comments on. One with no space before it (a URL's '#fragment',
# a password's '#') is part of the value.
_INLINE_COMMENT = re.compile(r"\s[;#].*\Z")


def _read_flags(flags: Mapping[str, object], table: Mapping[str, Setting]) -> dict[str, _Raw]:
    out: dict[str, _Raw] = {}
    for key, value in flags.items():
        if value is None:
            continue
        name = FLAG_ALIASES.get(key, key)
        if name not in table or table[name].legacy:
            raise ConfigError(f"unknown flag setting {key!r}")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        flag = "--" + key.replace("_", "-")
        out[name] = _Raw(value=text, source=f"flag {flag}", where=f"flag {flag}")
    return out


def _suggest(name: str, table: Mapping[str, Setting]) -> str | None:
    if name in SUGGEST_INSTEAD:
        return SUGGEST_INSTEAD[name]
    close = difflib.get_close_matches(name, list(table), n=1, cutoff=0.75)
    return close[0] if close else None


# --- model alias files ---------------------------------------------------------
