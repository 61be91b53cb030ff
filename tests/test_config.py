"""load_config: layers, the original gateway's files, validation and masking."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping
from pathlib import Path

import pytest

import tokligence
from tokligence.app import build
from tokligence.config import Config, ConfigError, load_config
from tokligence.config_view import describe, describe_values, format_value, mask_secret
from tokligence.errors import ClientError
from tokligence.settings_table import SETTINGS, Setting
from tokligence.trade.offers import Offer
from tokligence.trade.peers import Peer

NON_SETTING_FIELDS = {
    "legacy_values",
    "ignored_legacy",
    "sources",
    "config_files",
    "providers",
    "offers",
    "peers",
}
REAL = [s for s in SETTINGS if not s.legacy]
# Shaped like a provider key without being one (the secret scanners stay quiet).
KEY = "fake-proj-abcdefghijklmnopqrstuvwxyz123456"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(
    tmp_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
    config_file: Path | None = None,
) -> Config:
    """load_config isolated from the real user config dir and environment."""
    return load_config(
        env=env or {},
        flags=flags or {},
        config_file=config_file,
        cwd=tmp_path,
        user_config_dir=tmp_path / "user-config",
    )


def error_of(tmp_path: Path, **kw: typing.Any) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **kw)
    return str(info.value)


# --- the table itself -----------------------------------------------------------


def test_config_has_one_attribute_per_non_legacy_setting() -> None:
    fields = {f.name for f in dataclasses.fields(Config)} - NON_SETTING_FIELDS
    assert fields == {s.name for s in REAL}


def expected_type(setting: Setting) -> object:
    if setting.type == "path":
        return Path if setting.default_factory else Path | None
    return {
        "str": str,
        "secret": str,
        "choice": str,
        "int": int,
        "float": float,
        "bool": bool,
        "list": tuple[str, ...],
    }[setting.type]


@pytest.mark.parametrize("setting", REAL, ids=lambda s: s.name)
def test_attribute_type_matches_setting_type(setting: Setting) -> None:
    # Config names Offer and Peer only for the type checker: the trading
    # package is loaded when one is declared (tests/test_startup_imports.py).
    hints = typing.get_type_hints(Config, localns={"Offer": Offer, "Peer": Peer})
    assert hints[setting.name] == expected_type(setting)


@pytest.mark.parametrize(
    "setting", [s for s in REAL if s.default not in (None, "")], ids=lambda s: s.name
)
def test_default_survives_its_own_parser(setting: Setting, tmp_path: Path) -> None:
    assert setting.convert(format_value(setting.default), tmp_path) == setting.default


def test_names_and_env_vars_are_unique() -> None:
    names = [s.name for s in SETTINGS]
    env_vars = [v for s in SETTINGS for v in s.env_vars]
    assert len(names) == len(set(names))
    assert len(env_vars) == len(set(env_vars))
    assert all(n == n.lower() for n in names)


def test_defaults(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert (config.host, config.facade_port, config.work_mode) == ("127.0.0.1", 8081, "auto")
    assert config.openai_base_url == "https://api.openai.com/v1"
    assert config.anthropic_base_url == "https://api.anthropic.com"
    assert config.auth_disabled is True and config.insecure is False
    assert config.max_body_bytes == 32 * 1024 * 1024
    assert config.facade_endpoints == (
        "openai_core",
        "openai_responses",
        "anthropic",
        "admin",
        "health",
        "metrics",
        "trade",
    )
    assert set(config.sources.values()) == {"default"}
    assert config.config_files == () and config.ignored_legacy == ()


# --- precedence -----------------------------------------------------------------

INI_PORT = "facade_port = 9001\nwork_mode = translation\n"


@pytest.mark.parametrize(
    ("ini", "env", "flags", "port", "port_source", "mode_source"),
    [
        (False, {}, {}, 8081, "default", "default"),
        (True, {}, {}, 9001, "ini", "ini"),
        (True, {"TOKLIGENCE_FACADE_PORT": "9002"}, {}, 9002, "env", "ini"),
        (False, {"TOKLIGENCE_WORK_MODE": "Passthrough"}, {}, 8081, "default", "env"),
        (True, {"TOKLIGENCE_FACADE_PORT": "9002"}, {"port": 9003}, 9003, "flag", "ini"),
        (False, {}, {"facade_port": "9004"}, 9004, "flag", "default"),
    ],
)
def test_precedence(
    tmp_path: Path,
    ini: bool,
    env: dict[str, str],
    flags: dict[str, object],
    port: int,
    port_source: str,
    mode_source: str,
) -> None:
    path = write(tmp_path / "gw.ini", INI_PORT) if ini else None
    config = load(tmp_path, env=env, flags=flags, config_file=path)
    assert config.facade_port == port
    expected = {
        "default": "default",
        "ini": f"ini {path}",
        "env": "env TOKLIGENCE_FACADE_PORT",
        "flag": "flag --port" if "port" in flags else "flag --facade-port",
    }
    assert config.sources["facade_port"] == expected[port_source]
    assert config.sources["work_mode"].split(" ")[0] == mode_source
    assert (
        config.work_mode
        == {"default": "auto", "ini": "translation", "env": "passthrough"}[mode_source]
    )


def test_empty_environment_value_falls_through(tmp_path: Path) -> None:
    path = write(tmp_path / "gw.ini", "work_mode = translation\nopenai_org =\n")
    env = {"TOKLIGENCE_WORK_MODE": "", "TOKLIGENCE_OPENAI_ORG": "  "}
    config = load(tmp_path, env=env, config_file=path)
    assert config.work_mode == "translation"
    assert config.sources["work_mode"] == f"ini {path}"
    assert config.sources["openai_org"] == "default"  # empty INI value is unset too


def test_original_layout_with_environment_overlay(tmp_path: Path) -> None:
    base = write(
        tmp_path / "config" / "setting.ini",
        "# base\nenvironment=test\nlog_level=debug\nwork_mode=translation\n"
        "db_max_open_conns=1000\npublish_name=\n",
    )
    overlay = write(tmp_path / "config" / "test" / "gateway.ini", "work_mode=passthrough\n")
    write(tmp_path / "config" / "dev" / "gateway.ini", "work_mode=auto\nlog_level=error\n")
    config = load(tmp_path)
    assert config.config_files == (base, overlay)
    assert (config.work_mode, config.log_level) == ("passthrough", "debug")
    assert config.sources["log_level"] == f"ini {base}"
    # environment did something (it chose the overlay); db_* did not.
    assert config.ignored_legacy == ("db_max_open_conns",)
    assert config.legacy_values == {"environment": "test", "db_max_open_conns": "1000"}


def test_overlay_defaults_to_dev_and_env_var_can_choose(tmp_path: Path) -> None:
    dev = write(tmp_path / "config" / "dev" / "gateway.ini", "log_level=warn\n")
    live = write(tmp_path / "config" / "live" / "gateway.ini", "log_level=error\n")
    assert load(tmp_path).config_files == (dev,)
    config = load(tmp_path, env={"TOKLIGENCE_ENV": "live"})
    assert config.config_files == (live,) and config.log_level == "error"
    assert config.ignored_legacy == ()


def test_bad_environment_name_is_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, env={"TOKLIGENCE_ENV": "../etc"})
    assert "environment" in message and "env TOKLIGENCE_ENV" in message


def test_original_sample_files_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keys and value shapes from the original gateway's shipped config files.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(
        tmp_path / "config" / "setting.ini",
        "environment=dev\nbase_url=http://localhost:8080\nemail=dev@example.com\n"
        "display_name=Tokligence Gateway Dev\nenable_provider=false\npublish_name=\n"
        "model_family=\nprice_per_1k=0.5\nlog_file_cli=logs/gateway-cli.log\n"
        "log_file_daemon=logs/gatewayd.log\nlog_level=debug\nauth_disabled=true\n"
        "work_mode=auto\ndb_max_open_conns=1000\ndb_max_idle_conns=100\n"
        "db_conn_max_lifetime=60\ndb_conn_max_idle_time=10\n",
    )
    write(
        tmp_path / "config" / "dev" / "gateway.ini",
        "base_url=https://dev.tokligence.ai\nledger_path=~/.tokligence/ledger-dev.db\n"
        "auth_secret=tokligence-dev-secret\nbridge_session_enabled = false\n"
        "bridge_session_ttl = 5m\nmodel_aliases_dir=config/model_aliases.d\n"
        "model_provider_routes=gpt*=openai,claude*=anthropic\nenable_facade=true\n"
        "multiport_mode=true\nfacade_port=8081\nadmin_port=8079\nopenai_port=8082\n"
        "anthropic_port=8083\n# facade_endpoints=\n#anthropic_web_search=false\n",
    )
    config = load(tmp_path)
    assert config.ledger_file() == tmp_path / "home" / ".tokligence" / "ledger-dev.db"
    assert config.model_provider_routes == "gpt*=openai,claude*=anthropic"
    assert config.model_aliases_dir == tmp_path / "config" / "model_aliases.d"
    assert config.log_file_path() == tmp_path / "logs" / "gatewayd.log"
    assert config.multiport_mode is True
    assert "bridge_session_ttl" in config.ignored_legacy
    assert "environment" not in config.ignored_legacy


def test_user_config_dir_then_explicit_file(tmp_path: Path) -> None:
    user = write(tmp_path / "user-config" / "gateway.ini", "admin_port=7001\nopenai_port=7002\n")
    explicit = write(tmp_path / "mine.ini", "openai_port=7003\n")
    config = load(tmp_path, config_file=Path("mine.ini"))  # relative to cwd
    assert config.config_files == (user, explicit)
    assert (config.admin_port, config.openai_port) == (7001, 7003)


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path / "env.ini", "host=127.0.0.2\n")
    config = load(tmp_path, env={"TOKLIGENCE_CONFIG": str(path)})
    assert config.host == "127.0.0.2" and config.config_files == (path,)


@pytest.mark.parametrize(
    ("kw", "origin"),
    [
        ({"config_file": Path("missing.ini")}, "--config"),
        ({"env": {"TOKLIGENCE_CONFIG": "missing.ini"}}, "TOKLIGENCE_CONFIG"),
    ],
)
def test_missing_explicit_config_file(
    tmp_path: Path, kw: dict[str, typing.Any], origin: str
) -> None:
    message = error_of(tmp_path, **kw)
    assert "missing.ini" in message and origin in message and "does not exist" in message


# --- INI syntax -------------------------------------------------------------------


def test_sectioned_ini_with_comments_and_odd_values(tmp_path: Path) -> None:
    path = write(
        tmp_path / "gw.ini",
        "\ufeff; leading comment\n[server]\n  Host = 127.0.0.3  \n# port below\n"
        "[routing]\nroutes = gpt-*=>openai, claude*=>anthropic\nWORK_MODE=Auto\n"
        "[admin]\nadmin_email = ops\u2028team@example.com\n"
        "[dup]\nadmin_port = 1\nadmin_port = 2\r\n",
    )
    config = load(tmp_path, config_file=path)
    assert config.host == "127.0.0.3"
    assert config.routes == "gpt-*=>openai, claude*=>anthropic"
    assert config.work_mode == "auto"
    assert config.admin_email == "ops\u2028team@example.com"
    assert config.admin_port == 2


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ("facade_prot = 9000", ["unknown setting 'facade_prot'", ":3", "'facade_port'"]),
        ("port = 9000", ["unknown setting 'port'", ":3", "did you mean 'facade_port'"]),
        ("zzz = 1", ["unknown setting 'zzz'", ":3"]),
        ("just words", [":3", "expected 'key = value'"]),
    ],
)
def test_bad_ini_lines_name_file_and_line(tmp_path: Path, line: str, fragments: list[str]) -> None:
    path = write(tmp_path / "gw.ini", f"# comment\n[section]\n{line}\n")
    message = error_of(tmp_path, config_file=path)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    if line.startswith("zzz"):
        assert "did you mean" not in message


def test_unknown_key_does_not_echo_its_value(tmp_path: Path) -> None:
    path = write(tmp_path / "gw.ini", f"openai_apikey = {KEY}\n")
    message = error_of(tmp_path, config_file=path)
    assert "did you mean 'openai_api_key'" in message
    assert KEY not in message and KEY[-8:] not in message


# --- environment ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"TOKLIGENCE_WORKMODE": "auto"}, ["TOKLIGENCE_WORKMODE", "TOKLIGENCE_WORK_MODE"]),
        ({"TOKLIGENCE_PORT": "1"}, ["TOKLIGENCE_PORT", "TOKLIGENCE_FACADE_PORT"]),
        ({"TOKLIGENCE_NOT_A_THING": "1"}, ["unknown environment variable TOKLIGENCE_NOT_A_THING"]),
    ],
)
def test_unknown_environment_variable(
    tmp_path: Path, env: dict[str, str], fragments: list[str]
) -> None:
    message = error_of(tmp_path, env=env)
    for fragment in fragments:
        assert fragment in message


def test_environment_outside_our_namespace_is_ignored(tmp_path: Path) -> None:
    env = {
        "PATH": "/bin",
        "OPENAI_API_KEY": KEY,
        "TOKLIGENCE_CONFIG": "",  # empty = unset, no file required
        "TOKLIGENCE_lowercase": "x",
        "TOKLIGENCE_TYPO_BUT_EMPTY": "",
    }
    config = load(tmp_path, env=env)
    assert config.openai_api_key == ""


def test_original_alternative_env_names(tmp_path: Path) -> None:
    env = {
        "TOKLIGENCE_HOOK_SCRIPT": "/x.sh",
        "TOKLIGENCE_FIREWALL_CONFIG": "old.ini",
        "TOKLIGENCE_PROMPT_FIREWALL_CONFIG": "new.ini",
        "TOKLIGENCE_PROMPT_FIREWALL_MODE": "redact",
        "TOKLIGENCE_SCHEDULER_ENABLED": "true",
    }
    config = load(tmp_path, env=env)
    assert config.hooks_script_path == Path("/x.sh")  # the original's name, now a real setting
    assert config.sources["hooks_script_path"] == "env TOKLIGENCE_HOOK_SCRIPT"
    assert config.legacy_values["firewall_config"] == "new.ini"  # new name wins
    assert config.sources["firewall_config"] == "env TOKLIGENCE_PROMPT_FIREWALL_CONFIG"
    assert set(config.ignored_legacy) == {
        "firewall_config",
        "scheduler_enabled",
        "TOKLIGENCE_PROMPT_FIREWALL_MODE",
    }


# --- values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "value", "fragments"),
    [
        ("FACADE_PORT", "abc", ["not an integer", "0 to 65535"]),
        ("FACADE_PORT", "70000", ["out of range", "0 to 65535"]),
        ("ADMIN_PORT", "-1", ["out of range"]),
        ("MULTIPORT_MODE", "maybe", ["not a boolean", "true/1/yes/on/false/0/no/off"]),
        ("WORK_MODE", "fast", ["not one of", "auto, passthrough, translation"]),
        ("LOG_LEVEL", "verbose", ["debug, info, warn, warning, error"]),
        ("LOG_BACKUPS", "-1", ["out of range", "0 or more"]),
        ("MAX_BODY_BYTES", "-5", ["out of range"]),
        ("MAX_BODY_BYTES", "1.5", ["not an integer"]),
        ("MAX_CONNECTIONS", "0", ["1 or more"]),
        ("HEADER_TIMEOUT", "-0.5", ["out of range"]),
        ("IDLE_TIMEOUT", "nan", ["not a finite number"]),
        ("FACADE_ENDPOINTS", "openai,bogus", ["unknown endpoint 'bogus'", "openai_core"]),
        ("ADMIN_ENDPOINTS", ",,", ["no endpoints listed"]),
    ],
)
def test_bad_values_name_key_source_and_accepted(
    tmp_path: Path, var: str, value: str, fragments: list[str]
) -> None:
    message = error_of(tmp_path, env={f"TOKLIGENCE_{var}": value})
    assert message.startswith(f"{var.lower()} = {value!r} (env TOKLIGENCE_{var}):")
    assert "accepted:" in message
    for fragment in fragments:
        assert fragment in message


def test_bad_value_in_file_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "gw.ini", "\n\nfacade_port = 80 80\n")
    assert f"({path}:3)" in error_of(tmp_path, config_file=path)


def test_later_layer_rescues_bad_earlier_value(tmp_path: Path) -> None:
    path = write(tmp_path / "gw.ini", "facade_port = eighty\n")
    config = load(tmp_path, config_file=path, env={"TOKLIGENCE_FACADE_PORT": "80"})
    assert config.facade_port == 80


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path / "gw.ini", "typo_key = 1\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, config_file=path, env={"TOKLIGENCE_FACADE_PORT": "x"})
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(
    ("text", "value"),
    [("TRUE", True), ("yes", True), (" On ", True), ("1", True), ("off", False), ("No", False)],
)
def test_booleans(tmp_path: Path, text: str, value: bool) -> None:
    assert load(tmp_path, env={"TOKLIGENCE_MULTIPORT_MODE": text}).multiport_mode is value


def test_endpoint_aliases_are_normalised_and_deduplicated(tmp_path: Path) -> None:
    raw = "openai, openai-chat, Responses,status,ANTHROPIC,openai_default,health"
    config = load(tmp_path, env={"TOKLIGENCE_FACADE_ENDPOINTS": raw})
    assert config.facade_endpoints == ("openai_core", "openai_responses", "health", "anthropic")


def test_database_url_error_hides_the_value(tmp_path: Path) -> None:
    message = error_of(tmp_path, env={"TOKLIGENCE_DATABASE_URL": "mysql://u:hunter2@db/x"})
    assert "database_url = value hidden (env TOKLIGENCE_DATABASE_URL)" in message
    assert "hunter2" not in message and "mysql" not in message


# --- flags, paths and derived values ----------------------------------------------


def test_flags(tmp_path: Path) -> None:
    flags = {"host": "0.0.0.0", "insecure": True, "data_dir": "data", "log_level": None}
    config = load(tmp_path, flags=flags)
    assert (config.host, config.insecure, config.data_dir) == ("0.0.0.0", True, tmp_path / "data")
    assert config.sources["data_dir"] == "flag --data-dir"
    assert config.sources["log_level"] == "default"  # None = flag not given
    assert config.ledger_file() == tmp_path / "data" / "ledger.db"
    assert config.identity_file() == tmp_path / "data" / "identity.db"


def test_unknown_flag_is_a_config_error(tmp_path: Path) -> None:
    assert "nope" in error_of(tmp_path, flags={"nope": 1})


def test_explicit_database_paths(tmp_path: Path) -> None:
    env = {"TOKLIGENCE_LEDGER_PATH": "l.db", "TOKLIGENCE_IDENTITY_PATH": "/abs/i.db"}
    config = load(tmp_path, env=env)
    assert config.ledger_file() == tmp_path / "l.db"
    assert config.identity_file() == Path("/abs/i.db")


@pytest.mark.parametrize(
    ("ini", "env", "expected"),
    [
        ("", {}, "LOGDIR/gatewayd.log"),
        ("log_file = a.log\n", {}, "a.log"),
        ("log_file = a.log\nlog_file_daemon = d.log\n", {}, "d.log"),
        ("log_file_daemon = d.log\n", {"TOKLIGENCE_LOG_FILE": "e.log"}, "e.log"),
        ("", {"TOKLIGENCE_LOG_FILE": "e.log", "TOKLIGENCE_LOG_FILE_DAEMON": "ed.log"}, "ed.log"),
        ("log_file = -\n", {}, None),
    ],
)
def test_log_file_resolution(
    tmp_path: Path, ini: str, env: dict[str, str], expected: str | None
) -> None:
    path = write(tmp_path / "gw.ini", ini)
    env = {**env, "TOKLIGENCE_LOG_DIR": str(tmp_path / "logdir")}
    got = load(tmp_path, env=env, config_file=path).log_file_path()
    if expected is None:
        assert got is None
    else:
        assert got == tmp_path / expected.replace("LOGDIR", "logdir")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback_host(tmp_path: Path, host: str, loopback: bool) -> None:
    assert load(tmp_path, flags={"host": host}).is_loopback_host() is loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "0.0.0.0", "::"])
def test_the_start_up_guard_is_the_loopback_check(tmp_path: Path, host: str) -> None:
    """build() refuses a public bind without auth by the check tested above."""
    config = load(tmp_path, flags={"host": host})
    if config.is_loopback_host():
        build(config)
    else:
        with pytest.raises(ConfigError, match="without authentication"):
            build(config)
    build(load(tmp_path, flags={"host": host, "insecure": True}))


def test_every_setting_is_read_by_the_code() -> None:
    """A setting nothing reads would do nothing: it must be legacy (accepted,
    and said at start-up to have no effect) or gone."""
    package = Path(tokligence.__file__).parent
    plumbing = {"settings_table.py", "config_view.py"}  # they name every setting
    source = "\n".join(p.read_text() for p in package.rglob("*.py") if p.name not in plumbing)
    unread = [s.name for s in REAL if not re.search(rf"\.{s.name}\b|\[\"{s.name}\"\]", source)]
    assert unread == []


def test_openai_completion_max_tokens_is_accepted_and_said_to_do_nothing(tmp_path: Path) -> None:
    config = load(tmp_path, env={"TOKLIGENCE_OPENAI_COMPLETION_MAX_TOKENS": "4096"})
    assert config.ignored_legacy == ("openai_completion_max_tokens",)
    setting = next(s for s in SETTINGS if s.name == "openai_completion_max_tokens")
    assert "no effect" in setting.help and "output limit" in setting.help


def test_fallback_adapter_takes_models_no_route_matches(tmp_path: Path) -> None:
    routed = build(load(tmp_path, env={"TOKLIGENCE_FALLBACK_ADAPTER": "loopback"})).router
    route = routed.resolve("some-model-nobody-routes")
    assert (route.providers, route.upstream_model) == (("loopback",), "some-model-nobody-routes")
    assert routed.resolve("loopback").rule == "loopback"  # rules still come first
    unrouted = build(load(tmp_path)).router
    with pytest.raises(ClientError, match="no provider for model") as missing:
        unrouted.resolve("some-model-nobody-routes")
    assert missing.value.status == 404


def test_fallback_adapter_must_name_a_configured_provider(tmp_path: Path) -> None:
    config = load(tmp_path, env={"TOKLIGENCE_FALLBACK_ADAPTER": "openai"})
    with pytest.raises(ConfigError, match="fallback_adapter names provider 'openai'"):
        build(config)


# --- showing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [("", ""), ("short", "****"), ("12345678901", "****"), (KEY, "****3456")],
)
def test_mask_secret(value: str, shown: str) -> None:
    assert mask_secret(value) == shown


def test_describe_masks_secrets_and_lists_only_set_legacy(tmp_path: Path) -> None:
    env = {
        "TOKLIGENCE_OPENAI_API_KEY": KEY,
        "TOKLIGENCE_ANTHROPIC_API_KEY": "tiny",
        "TOKLIGENCE_DATABASE_URL": "postgresql://gw:hunter2@db.internal:5432/gw",
        "TOKLIGENCE_GEMINI_API_KEY": "AIza" + "x" * 35,
        "TOKLIGENCE_EMAIL": "me@example.com",
    }
    rows = {name: (value, source) for name, value, source in describe(load(tmp_path, env=env))}
    assert rows["openai_api_key"] == ("****3456", "env TOKLIGENCE_OPENAI_API_KEY")
    assert rows["anthropic_api_key"][0] == "****"
    assert "auth_secret" not in rows  # legacy and unset: not listed
    assert rows["database_url"][0] == "postgresql://gw:****@db.internal:5432/gw"
    assert rows["gemini_api_key"][0] == "****xxxx"
    assert rows["email"] == ("me@example.com", "env TOKLIGENCE_EMAIL")
    assert "scheduler_enabled" not in rows
    assert {s.name for s in REAL} <= set(rows)
    assert all(KEY not in value and "hunter2" not in value for value, _ in rows.values())


def test_describe_values_are_json_ready(tmp_path: Path) -> None:
    values = {name: value for name, value, _ in describe_values(load(tmp_path))}
    assert values["facade_port"] == 8081
    assert values["multiport_mode"] is False
    assert values["admin_endpoints"] == ["admin", "health", "metrics"]
    assert values["model_aliases_file"] is None
    assert isinstance(values["data_dir"], str)


def test_timeouts_per_provider_and_their_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        env={
            "TOKLIGENCE_UPSTREAM_RESPONSE_TIMEOUT": "9",
            "TOKLIGENCE_ANTHROPIC_API_KEY": KEY,
            "TOKLIGENCE_PROVIDER_LOCAL_BASE_URL": "http://127.0.0.1:9/v1",
            "TOKLIGENCE_PROVIDER_LOCAL_RESPONSE_TIMEOUT": "300",
            "TOKLIGENCE_PROVIDER_LOCAL_READ_TIMEOUT": "900",
        },
    )
    by_name = {p.name: p for p in config.providers}
    assert (by_name["anthropic"].response_timeout, by_name["anthropic"].read_timeout) == (9, 600)
    assert (by_name["local"].connect_timeout, by_name["local"].response_timeout) == (10, 300)
    assert by_name["local"].read_timeout == 900
    assert "RESPONSE_TIMEOUT: must be greater than 0" in error_of(
        tmp_path,
        env={
            "TOKLIGENCE_PROVIDER_LOCAL_BASE_URL": "http://127.0.0.1:9/v1",
            "TOKLIGENCE_PROVIDER_LOCAL_RESPONSE_TIMEOUT": "-1",
        },
    )


def test_a_provider_field_in_the_environment_beats_the_same_field_in_a_file(
    tmp_path: Path,
) -> None:
    """Provider fields layer as settings do: the environment over the files,
    field by field (what the file alone sets stays)."""
    path = write(
        tmp_path / "gw.ini",
        "[provider.local]\nbase_url = http://127.0.0.1:9/v1\nread_timeout = 5\n"
        "connect_timeout = 3\n",
    )
    config = load(tmp_path, config_file=path, env={"TOKLIGENCE_PROVIDER_LOCAL_READ_TIMEOUT": "77"})
    (local,) = [p for p in config.providers if p.name == "local"]
    assert (local.read_timeout, local.connect_timeout) == (77, 3)


def test_inline_comments_and_the_readme_provider_example_as_pasted(tmp_path: Path) -> None:
    readme = (Path(tokligence.__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```ini\n", 1)[1].split("```", 1)[0]
    assert "; Chat Completions wire" in block  # the example keeps its inline comment
    path = write(
        tmp_path / "gw.ini",
        block + "[server]\nhost = 127.0.0.4   # loopback only\nadmin_email = a#b@example.com\n",
    )
    config = load(tmp_path, config_file=path, env={"DEEPSEEK_API_KEY": KEY})
    (deepseek,) = [p for p in config.providers if p.name == "deepseek"]
    assert (deepseek.kind, deepseek.base_url) == ("openai", "https://api.deepseek.com/v1")
    assert deepseek.models == ("deepseek-chat", "deepseek-reasoner")
    assert config.host == "127.0.0.4"
    assert config.admin_email == "a#b@example.com"  # no space before '#': part of the value


def test_the_alias_reload_interval_cannot_be_zero(tmp_path: Path) -> None:
    message = error_of(tmp_path, env={"TOKLIGENCE_MODEL_ALIASES_RELOAD_SEC": "0"})
    assert "model_aliases_reload_sec" in message
