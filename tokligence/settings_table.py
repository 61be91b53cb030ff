"""Every configuration setting of the gateway, declared once.

Theory of operation: :data:`SETTINGS` is the single table that
``config.load_config`` reads, validates and freezes into a ``Config``. Each
:class:`Setting` names its INI key (== its Python attribute), its environment
variable(s), its type, default and help. Nothing else in the package knows a
setting's name as a string; adding a setting means adding a row here and a
typed attribute on ``Config`` (a test checks the two agree).

Legacy rows are keys the original Go gateway understood and this version does
not use (yet). They are accepted so old ``config/*.ini`` files and exported
environments keep working, kept as raw strings, and reported at start-up so
nobody believes they have an effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias
from urllib.parse import urlsplit

from .codecs.model_limits import DEFAULT_MAX_TOKENS
from .endpoints import ENDPOINT_KEYS
from .paths import default_data_dir, default_log_dir
from .wire.json_body import DEFAULT_LIMITS

SettingType: TypeAlias = Literal["str", "int", "float", "bool", "list", "path", "secret", "choice"]
Default: TypeAlias = str | int | float | bool | tuple[str, ...] | None

ENV_PREFIX = "TOKLIGENCE_"

# Spellings the original gateway accepted for endpoint keys; normalised on load.
ENDPOINT_ALIASES = {
    "openai": "openai_core",
    "openai-chat": "openai_core",
    "openai_default": "openai_core",
    "responses": "openai_responses",
    "status": "health",
}

STDERR_ONLY = "-"  # the original's log-file value for "no file"
DATABASE_URL_FORMS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB"
_DB_SCHEMES = ("sqlite", "postgresql", "postgres")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

# Settings whose value is the base URL of a gateway or a directory.
HTTP_URL_SETTINGS = ("trade_directory_url", "trade_public_url")
HTTP_URL_FORMS = "http://HOST:PORT or https://HOST[:PORT][/PATH], no user, query or fragment"
MAX_URL_LENGTH = 2048

PORT_RANGE = (0, 65535)  # 0 lets the OS pick (or disables a port in multi-port mode)


@dataclass(frozen=True, kw_only=True, slots=True)
class Setting:
    name: str
    type: SettingType
    default: Default
    help: str
    env: str = ""  # "" = TOKLIGENCE_<NAME>
    env_aliases: tuple[str, ...] = ()
    flag: str = ""  # command-line flag that sets it, if any
    choices: tuple[str, ...] = ()  # for choice; for list, the allowed items
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False
    legacy: bool = False
    # Computed defaults that depend on the OS/user (never evaluated at import).
    default_factory: Callable[[], Path] | None = None

    @property
    def env_vars(self) -> tuple[str, ...]:
        """Environment variables read for this setting, highest priority first."""
        primary = self.env or ENV_PREFIX + self.name.upper()
        return (primary, *self.env_aliases)

    @property
    def is_secret(self) -> bool:
        return self.secret or self.type == "secret"

    def default_value(self) -> object:
        if self.default_factory is not None:
            return self.default_factory()
        return self.default

    def convert(self, text: str, cwd: Path) -> object:
        """The typed value of a raw string; raises BadValue. Relative paths
        are taken from ``cwd``, as the original resolved them."""
        kind = self.type
        if kind in ("int", "float"):
            return _number(self, text)
        if kind == "bool":
            low = text.lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise BadValue("not a boolean", "/".join(_TRUE + _FALSE) + " (any case)")
        if kind == "choice":
            if text.lower() not in self.choices:
                raise BadValue("not one of the choices", ", ".join(self.choices))
            return text.lower()
        if kind == "list":
            return _endpoint_list(self, text)
        if kind == "path":
            return Path(text) if text == STDERR_ONLY else cwd / Path(text).expanduser()
        if self.name == "database_url" and urlsplit(text).scheme not in _DB_SCHEMES:
            raise BadValue("unsupported database URL", DATABASE_URL_FORMS)
        if self.name in HTTP_URL_SETTINGS and not is_http_url(text):
            raise BadValue("not an http:// or https:// URL", HTTP_URL_FORMS)
        return text


class BadValue(Exception):
    """A raw value that does not fit its setting (message never holds the value)."""

    def __init__(self, reason: str, accepted: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.accepted = accepted


def is_http_url(text: object) -> bool:
    """Whether ``text`` is a base URL one gateway can give another:
    http or https, a host, no user, query or fragment, printable ASCII."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_URL_LENGTH:
        return False
    if not text.isascii() or not text.isprintable() or " " in text:
        return False
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a port out of range
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and not parts.query
        and not parts.fragment
        and "?" not in text
        and "#" not in text
    )


def _number(setting: Setting, text: str) -> int | float:
    lo, hi = setting.minimum, setting.maximum
    noun = "an integer" if setting.type == "int" else "a number of seconds"
    if lo is not None and hi is not None:
        accepted = f"{noun} from {lo:g} to {hi:g}"
    elif lo is not None:
        accepted = f"{noun}, {lo:g} or more"
    else:
        accepted = noun
    try:
        number: int | float = int(text, 10) if setting.type == "int" else float(text)
    except ValueError:
        raise BadValue(f"not {noun}", accepted) from None
    if not math.isfinite(number):
        raise BadValue("not a finite number", accepted)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise BadValue("out of range", accepted)
    return number


def _endpoint_list(setting: Setting, text: str) -> tuple[str, ...]:
    accepted = ", ".join((*setting.choices, *ENDPOINT_ALIASES))
    out: list[str] = []
    for item in (part.strip().lower() for part in text.split(",")):
        key = ENDPOINT_ALIASES.get(item, item)
        if not key:
            continue
        if key not in setting.choices:
            raise BadValue(f"unknown endpoint {item!r}", accepted)
        if key not in out:
            out.append(key)
    if not out:
        raise BadValue("no endpoints listed", accepted)
    return tuple(out)


def _legacy(
    name: str,
    *,
    env: str = "",
    aliases: tuple[str, ...] = (),
    secret: bool = False,
    why: str = "accepted for compatibility with the original gateway; has no effect",
) -> Setting:
    default_env = ENV_PREFIX + name.upper()
    if env and default_env not in aliases:
        aliases = (*aliases, default_env)
    return Setting(
        name=name,
        type="str",
        default="",
        help=why,
        env=env,
        env_aliases=aliases,
        secret=secret,
        legacy=True,
    )


def _port(name: str, default: int, help: str, *, flag: str = "") -> Setting:
    return Setting(
        name=name,
        type="int",
        default=default,
        help=help,
        flag=flag,
        minimum=PORT_RANGE[0],
        maximum=PORT_RANGE[1],
    )


def _endpoints(name: str, default: tuple[str, ...], port: str) -> Setting:
    return Setting(
        name=name,
        type="list",
        default=default,
        help=f"endpoint groups served on the {port} port",
        choices=ENDPOINT_KEYS,
    )


def _seconds(name: str, default: float, help: str) -> Setting:
    return Setting(name=name, type="float", default=default, help=help + " (seconds)", minimum=0)


def _count(name: str, default: int, help: str, *, minimum: int = 0) -> Setting:
    return Setting(name=name, type="int", default=default, help=help, minimum=minimum)


def _bool(name: str, default: bool, help: str, *, flag: str = "") -> Setting:
    return Setting(name=name, type="bool", default=default, help=help, flag=flag)


def _str(name: str, default: str, help: str, *, flag: str = "") -> Setting:
    return Setting(name=name, type="str", default=default, help=help, flag=flag)


def _path(name: str, help: str) -> Setting:
    return Setting(name=name, type="path", default=None, help=help)


def _secret(name: str, help: str) -> Setting:
    return Setting(name=name, type="secret", default="", help=help, secret=True)


# Legacy keys with the default environment name (TOKLIGENCE_<NAME>). The last
# three were environment-only in the original.
_LEGACY_PLAIN = """
    base_url email display_name enable_provider publish_name model_family price_per_1k
    marketplace_enabled telemetry_enabled db_max_open_conns db_max_idle_conns
    db_conn_max_lifetime db_conn_max_idle_time ledger_async_num_workers
    anthropic_force_sse
    anthropic_token_check_enabled openai_tool_bridge_stream sidecar_model_map
    sidecar_model_map_file anthropic_web_search anthropic_computer_use anthropic_mcp
    anthropic_prompt_caching anthropic_json_mode anthropic_reasoning anthropic_beta_header
    chat_to_anthropic bridge_session_enabled bridge_session_ttl bridge_session_max_count
    model_metadata_file model_metadata_url model_metadata_refresh
    gemini_base_url gemini_port gemini_endpoints scheduler_enabled scheduler_priority_levels
    scheduler_default_priority scheduler_policy scheduler_max_queue_depth
    scheduler_queue_timeout_sec scheduler_max_tokens_per_sec scheduler_max_rps
    scheduler_max_concurrent scheduler_max_context_length scheduler_weights
    scheduler_stats_interval_sec
    responses_sse_ping_ms responses_stream_mode model_aliases_verbose
"""

SETTINGS: tuple[Setting, ...] = (
    # --- server ---------------------------------------------------------------
    _str(
        "host",
        "127.0.0.1",
        "address to bind; non-loopback requires auth or --insecure",
        flag="--host",
    ),
    _port("facade_port", 8081, "port of the all-in-one facade (set by --port)", flag="--port"),
    _port("admin_port", 8079, "admin port in multi-port mode (0 = off)"),
    _port("openai_port", 8082, "OpenAI port in multi-port mode (0 = off)"),
    _port("anthropic_port", 8083, "Anthropic port in multi-port mode (0 = off)"),
    Setting(
        name="workers",
        type="int",
        default=1,
        minimum=1,
        maximum=256,
        flag="--workers",
        help="gateway processes sharing the ports (SO_REUSEPORT); 1 runs in this process",
    ),
    _bool("multiport_mode", False, "also serve endpoint groups on their own ports"),
    _bool("enable_facade", True, "serve the facade port in multi-port mode"),
    _endpoints("facade_endpoints", ENDPOINT_KEYS, "facade"),
    _endpoints("openai_endpoints", ("openai_core", "health", "trade"), "OpenAI"),
    _endpoints("anthropic_endpoints", ("anthropic", "health"), "Anthropic"),
    _endpoints("admin_endpoints", ("admin", "health", "metrics"), "admin"),
    _bool(
        "metrics_enabled",
        True,
        "serve Prometheus metrics at /metrics (behind admin auth when auth is on)",
    ),
    _bool(
        "console_enabled",
        True,
        "serve the web console at /console (with the admin endpoints; its data needs an admin key)",
    ),
    _bool("anthropic_native_enabled", True, "serve /v1/messages"),
    _count("max_body_bytes", 32 * 1024 * 1024, "largest accepted request body (bytes)"),
    _count(
        "max_json_depth",
        DEFAULT_LIMITS.max_depth,
        "deepest nesting of arrays and objects a request body may have",
        minimum=1,
    ),
    _count(
        "max_json_integer_digits",
        DEFAULT_LIMITS.max_integer_digits,
        "longest integer literal a request body may have (digits)",
        minimum=1,
    ),
    _bool(
        "json_allow_nonfinite",
        DEFAULT_LIMITS.allow_nonfinite,
        "accept NaN, Infinity and numbers past the float range in request bodies",
    ),
    _seconds("header_timeout", 10.0, "time allowed to receive a complete request head"),
    _seconds("idle_timeout", 15.0, "keep-alive connections idle longer are closed"),
    _seconds(
        "body_timeout",
        20.0,
        "time allowed for a request body, plus 1 s per body_min_rate bytes received",
    ),
    _count(
        "body_min_rate",
        500,
        "bytes a second a slow request body must keep up to earn more time",
        minimum=1,
    ),
    _count("max_connections", 1024, "concurrent client connections", minimum=1),
    _seconds("shutdown_grace", 10.0, "time in-flight requests get after SIGINT/SIGTERM"),
    _seconds("stream_keepalive", 15.0, "upstream silence before a stream keep-alive frame"),
    # --- routing --------------------------------------------------------------
    Setting(
        name="work_mode",
        type="choice",
        default="auto",
        help="auto: pass through when dialects match, else translate",
        choices=("auto", "passthrough", "translation"),
    ),
    _str(
        "routes",
        "",
        "pattern=>provider rules (comma or newline separated), tried before model_provider_routes",
    ),
    _str(
        "model_provider_routes",
        "",
        "more pattern=>provider rules, tried after routes; the first match wins",
    ),
    _str("model_aliases", "", "incoming=>target model renames"),
    _path("model_aliases_file", "file of alias lines, reloaded while running"),
    _path("model_aliases_dir", "directory of alias files, reloaded while running"),
    # Not 0: the reloader would check the files' timestamps without pause.
    Setting(
        name="model_aliases_reload_sec",
        type="float",
        default=5.0,
        help="how often alias files are re-read (seconds, at least 0.1)",
        minimum=0.1,
    ),
    _str("fallback_adapter", "", "provider for models no route matches (empty: answer 404)"),
    # --- auth -----------------------------------------------------------------
    _bool("auth_disabled", True, "skip API-key checks (only honoured on loopback)"),
    _bool("insecure", False, "allow a non-loopback bind without auth", flag="--insecure"),
    _legacy("auth_secret", secret=True),
    _seconds(
        "auth_cache_ttl",
        1.0,
        "seconds a resolved API key is trusted before a re-read (a revoked key stops "
        "working on every process within it)",
    ),
    _seconds("key_last_used_interval", 30.0, "how often API-key last-used times are written"),
    _legacy(
        "limits_spend_ttl",
        why="has no effect: a key's spend is shared by every process through the identity "
        "database as each call ends (docs/scale-out.md)",
    ),
    _bool("hooks_enabled", False, "run the lifecycle hook script on user and key changes"),
    Setting(
        name="hooks_script_path",
        type="path",
        default=None,
        help="lifecycle hook script (receives a JSON event on stdin)",
        env="TOKLIGENCE_HOOK_SCRIPT",
        env_aliases=("TOKLIGENCE_HOOKS_SCRIPT_PATH",),
    ),
    Setting(
        name="hooks_script_args",
        type="str",
        default="",
        help="comma-separated arguments for the hook script",
        env="TOKLIGENCE_HOOK_SCRIPT_ARGS",
        env_aliases=("TOKLIGENCE_HOOKS_SCRIPT_ARGS",),
    ),
    Setting(
        name="hooks_script_env",
        type="secret",
        default="",
        help="comma-separated K=V environment for the hook script",
        env="TOKLIGENCE_HOOK_SCRIPT_ENV",
        env_aliases=("TOKLIGENCE_HOOKS_SCRIPT_ENV",),
        secret=True,
    ),
    Setting(
        name="hooks_timeout",
        type="str",
        default="10s",
        help="hook script timeout (Go duration such as 10s or 1m30s, or seconds)",
        env="TOKLIGENCE_HOOK_TIMEOUT",
        env_aliases=("TOKLIGENCE_HOOKS_TIMEOUT",),
    ),
    _str("admin_email", "admin@local", "e-mail of the root admin user"),
    # --- storage --------------------------------------------------------------
    Setting(
        name="data_dir",
        type="path",
        default=None,
        help="where databases live",
        flag="--data-dir",
        default_factory=default_data_dir,
    ),
    Setting(
        name="database_url",
        type="str",
        default="",
        help=DATABASE_URL_FORMS + " (default: SQLite files in data_dir)",
        secret=True,
    ),
    _path("ledger_path", "ledger SQLite file (default: <data_dir>/ledger.db)"),
    _bool("ledger_enabled", True, "record every request in the ledger"),
    _count(
        "ledger_async_buffer_size", 10_000, "ledger rows queued before requests wait", minimum=1
    ),
    _count("ledger_async_batch_size", 256, "ledger rows written per commit at most", minimum=1),
    _count("ledger_async_flush_ms", 50, "how long the ledger writer gathers a batch (ms)"),
    _path("identity_path", "users/keys SQLite file (default: <data_dir>/identity.db)"),
    # --- logging --------------------------------------------------------------
    Setting(
        name="log_level",
        type="choice",
        default="info",
        help="logging threshold",
        flag="--log-level",
        choices=("debug", "info", "warn", "warning", "error"),
    ),
    Setting(
        name="log_dir",
        type="path",
        default=None,
        help="directory of the default log file",
        default_factory=default_log_dir,
    ),
    _path("log_file", "log file for all processes ('-' = stderr only)"),
    _path("log_file_daemon", "log file of the gateway daemon (wins over log_file)"),
    _legacy(
        "log_file_cli",
        why="has no effect: management commands print to the terminal and keep no log file",
    ),
    _count("log_max_bytes", 100 * 1024 * 1024, "log file size that triggers rotation (bytes)"),
    _count("log_backups", 7, "rotated log files kept"),
    # --- upstreams ------------------------------------------------------------
    _secret("openai_api_key", "key for the OpenAI (or compatible) upstream"),
    _str("openai_base_url", "https://api.openai.com/v1", "OpenAI-compatible API base URL"),
    _str("openai_org", "", "OpenAI organization header"),
    _secret("anthropic_api_key", "key for the Anthropic upstream"),
    _str("anthropic_base_url", "https://api.anthropic.com", "Anthropic API base URL"),
    _str("anthropic_version", "2023-06-01", "anthropic-version header sent upstream"),
    _count(
        "anthropic_max_tokens",
        DEFAULT_MAX_TOKENS,
        "max_tokens used when a translated request has none",
    ),
    _legacy(
        "openai_completion_max_tokens",
        why="has no effect: a translated max_tokens is clamped at the model's real output limit",
    ),
    _seconds("upstream_connect_timeout", 10.0, "upstream connect timeout"),
    _seconds(
        "upstream_response_timeout",
        120.0,
        "time for a streamed request's response head, shared by its retries and fallbacks",
    ),
    _seconds("upstream_read_timeout", 600.0, "upstream silence before giving up"),
    _bool("forward_client_key", False, "send the client's own provider key upstream"),
    _count("upstream_max_retries", 2, "retries per upstream on connect errors, 429 and 5xx"),
    _seconds("upstream_retry_backoff", 0.5, "first retry delay; doubles per retry"),
    _seconds("upstream_retry_max_wait", 30.0, "longest retry-after honoured before falling back"),
    _count(
        "breaker_threshold", 5, "consecutive upstream failures that open its breaker", minimum=1
    ),
    _seconds("breaker_cooldown", 30.0, "seconds an open breaker waits before a probe"),
    # --- agents (docs/launchers.md) -------------------------------------------
    _bool(
        "duplicate_tool_detection",
        True,
        "repeated-tool-call guard for requests that declare tools",
    ),
    _count(
        "duplicate_tool_warn_at", 3, "identical tool calls in a row that add a warning (0 = never)"
    ),
    _count("duplicate_tool_insist_at", 4, "identical calls in a row that add a stronger warning"),
    _count(
        "duplicate_tool_stop_at", 5, "identical calls in a row that refuse the request (0 = never)"
    ),
    _bool("shell_normalization", True, "turn a string 'command' of a 'shell' tool call into argv"),
    _str("claude_bin", "", "Claude Code executable for 'tokligence claude' (default: on PATH)"),
    _str("codex_bin", "", "Codex executable for 'tokligence codex' (default: on PATH)"),
    _secret("agent_api_key", "gateway API key the launchers give the agent when auth is on"),
    _seconds(
        "launcher_start_timeout", 20.0, "how long a launcher waits for the gateway it started"
    ),
    # --- trading (docs/trading.md) -------------------------------------------
    Setting(
        name="trade_clock_skew",
        type="float",
        default=300.0,
        help="how far a buyer's signed order time may be from the seller's clock (seconds)",
        minimum=1,
    ),
    Setting(
        name="trade_execution_timeout",
        type="float",
        default=3600.0,
        help="longest a traded request may run at the seller; older held reservations are "
        "voided (seconds)",
        minimum=1,
    ),
    Setting(
        name="trade_ack_interval",
        type="float",
        default=5.0,
        help="how often a buyer acknowledges the receipts it holds to their sellers (seconds)",
        minimum=0.01,
    ),
    # --- update check (docs/configuration.md, "Update check") ----------------
    _bool(
        "update_check_enabled",
        True,
        "once a day, ask the registry this copy came from whether a newer version exists",
    ),
    _str(
        "update_check_url",
        "",
        "registry asked instead of the installation's own (pip index, npm registry or "
        "release feed)",
    ),
    # --- trading: the offer directory (docs/trading.md, "Directory") ----------
    _str(
        "trade_directory_url",
        "",
        "the offer directory (http:// or https://): a gateway with offers announces them "
        "there; a buyer's peer:auto routing is to ask it (empty: no directory)",
    ),
    _str(
        "trade_public_url",
        "",
        "the URL other gateways reach this one at, as announced to the directory "
        "(required with trade_directory_url and an offer)",
    ),
    _str("trade_directory_host", "127.0.0.1", "address 'trade directory' binds (--host)"),
    _port("trade_directory_port", 8090, "port 'trade directory' listens on (--port)"),
    Setting(
        name="trade_directory_ttl",
        type="float",
        default=90.0,
        help="a directory's entries expire this long after their seller's last announcement "
        "or heartbeat; sellers heartbeat every third of it (seconds)",
        minimum=1,
    ),
    _seconds(
        "trade_directory_clock_skew",
        300.0,
        "how far a directory accepts an announcement's or heartbeat's issued_at from its clock",
    ),
    # --- legacy: accepted, unused ---------------------------------------------
    _legacy("environment", env="TOKLIGENCE_ENV"),
    _legacy(
        "firewall_config",
        env="TOKLIGENCE_PROMPT_FIREWALL_CONFIG",
        aliases=("TOKLIGENCE_FIREWALL_CONFIG",),
    ),
    _legacy("gemini_api_key", secret=True),
    *(_legacy(name) for name in _LEGACY_PLAIN.split()),
)

# Whole families of the original's environment variables that this version
# ignores; set ones are reported like legacy settings rather than rejected.
LEGACY_ENV_PREFIXES = ("TOKLIGENCE_PROMPT_FIREWALL_", "TOKLIGENCE_TIME_RULES_")

# Trading offers are declared in sections, not settings (docs/trading.md):
# ``[trade.offer.NAME]`` and TOKLIGENCE_TRADE_OFFER_<NAME>_<FIELD>. Their
# fields are tokligence.trade.offers's, loaded only when an offer is declared.
OFFER_SECTION = "trade.offer."
OFFER_ENV_PREFIX = ENV_PREFIX + "TRADE_OFFER_"
# The peers a gateway buys from, likewise: ``[trade.peer.NAME]`` and
# TOKLIGENCE_TRADE_PEER_<NAME>_<FIELD> (tokligence.trade.peers's fields).
PEER_SECTION = "trade.peer."
PEER_ENV_PREFIX = ENV_PREFIX + "TRADE_PEER_"

# TOKLIGENCE_* variables that are not settings: read by load_config, by
# lifeline.py and update/sources.py (set by the npm launcher), or by the npm
# launcher and the installers (harmless if left exported when the gateway
# starts; the update check of the single-file binary reads the download one).
NON_SETTING_ENV = (
    "TOKLIGENCE_CONFIG",
    "TOKLIGENCE_LAUNCHER_PID",
    "TOKLIGENCE_INSTALLED_BY",
    "TOKLIGENCE_NPM_REGISTRY",
    "TOKLIGENCE_DOWNLOAD_BASE_URL",
    "TOKLIGENCE_INSTALL_DIR",
    "TOKLIGENCE_VERSION",
    "TOKLIGENCE_WORKER_INDEX",
)

# Names people reach for that are spelled differently here.
SUGGEST_INSTEAD = {"port": "facade_port"}

# Flags that are sugar for a setting of another name.
FLAG_ALIASES = {"port": "facade_port"}
