"""The tokligence / gatewayd command line, driven through main() with a fake runner."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tokligence
from tests.update_check_off import OFF
from tokligence.app import build
from tokligence.cli import gatewayd_main, main
from tokligence.config import Config, ConfigError, load_config
from tokligence.logs import LOGGER_NAME, shutdown_logging

KEY = "sk-ant-api03-" + "k" * 40


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter that imports this checkout whether or not it is installed."""
    root = str(Path(tokligence.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real TOKLIGENCE_* variables, user config or log directory leak in."""
    for name in list(os.environ):
        if name.startswith("TOKLIGENCE_"):
            monkeypatch.delenv(name)
    for name, value in OFF.items():
        monkeypatch.setenv(name, value)
    for xdg in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(xdg, str(tmp_path / xdg.lower()))
    monkeypatch.setenv("TOKLIGENCE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.chdir(tmp_path)
    yield
    shutdown_logging()
    logging.getLogger(LOGGER_NAME).propagate = True


class FakeRunner:
    def __init__(self, code: int = 0) -> None:
        self.code = code
        self.configs: list[Config] = []

    def __call__(self, config: Config) -> int:
        self.configs.append(config)
        logging.getLogger("tokligence.server").info("fake gateway on port %d", config.facade_port)
        return self.code


@pytest.mark.parametrize("argv", [["version"], ["--version"]])
def test_version(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().out == f"tokligence {tokligence.__version__}\n"


def test_version_flag_does_not_import_the_server() -> None:
    code = (
        "import sys; from tokligence.cli import main; rc = main(['--version']);"
        "heavy = [m for m in ('trio', 'httpx', 'h11', 'peewee') if m in sys.modules];"
        "print(rc, heavy)"
    )
    done = run_python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"tokligence {tokligence.__version__}", "0 []"]


def test_python_dash_m() -> None:
    done = run_python("-m", "tokligence", "version")
    assert (done.returncode, done.stdout) == (0, f"tokligence {tokligence.__version__}\n")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["serve"],
        ["--port", "9100", "serve", "--host", "127.0.0.5"],
        ["serve", "--port", "9100", "--host", "127.0.0.5", "--log-level", "debug"],
    ],
)
def test_serve_runs_the_runner_with_flags(argv: list[str]) -> None:
    runner = FakeRunner(code=7)
    assert main(argv, runner=runner) == 7
    (config,) = runner.configs
    if "--port" in argv:
        assert (config.facade_port, config.host) == (9100, "127.0.0.5")
        assert config.sources["facade_port"] == "flag --port"
    else:
        assert (config.facade_port, config.host) == (8081, "127.0.0.1")


def test_serve_sets_up_logging_and_warns_about_legacy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKLIGENCE_MARKETPLACE_ENABLED", "false")
    assert main(["serve"], runner=FakeRunner()) == 0
    shutdown_logging()
    err = capsys.readouterr().err
    assert "WARNING tokligence.config: setting marketplace_enabled" in err
    assert "INFO tokligence.server: fake gateway on port 8081" in err
    log_text = (tmp_path / "logs" / "gatewayd.log").read_text(encoding="utf-8")
    assert "fake gateway on port 8081" in log_text


def test_serve_with_config_file_and_data_dir(tmp_path: Path) -> None:
    (tmp_path / "gw.ini").write_text("[server]\nfacade_port = 9200\n", encoding="utf-8")
    runner = FakeRunner()
    assert (
        main(["serve", "--config", "gw.ini", "--data-dir", "d", "--insecure"], runner=runner) == 0
    )
    (config,) = runner.configs
    assert config.facade_port == 9200 and config.insecure is True
    assert config.data_dir == tmp_path / "d"
    assert config.config_files == (tmp_path / "gw.ini",)


def test_gatewayd_is_serve() -> None:
    runner = FakeRunner(code=3)
    assert gatewayd_main(["--port", "9300"], runner=runner) == 3
    assert runner.configs[0].facade_port == 9300


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        (["serve"], {"TOKLIGENCE_FACADE_PORT": "http"}, "(env TOKLIGENCE_FACADE_PORT)"),
        (["--port", "99999"], {}, "(flag --port)"),
        (["config", "show"], {"TOKLIGENCE_WROK_MODE": "auto"}, "TOKLIGENCE_WORK_MODE"),
        (["serve", "--config", "nowhere.ini"], {}, "does not exist"),
        (["serve", "--log-level", "loud"], {}, "debug, info, warn, warning, error"),
    ],
)
def test_configuration_error_exits_2(
    argv: list[str],
    env: dict[str, str],
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = FakeRunner()
    assert main(argv, runner=runner) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("tokligence: configuration error: ")
    assert fragment in captured.err
    assert captured.out == "" and runner.configs == []


def test_gatewayd_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKLIGENCE_ADMIN_PORT", "-4")
    assert gatewayd_main([], runner=FakeRunner()) == 2
    assert capsys.readouterr().err.startswith("gatewayd: configuration error: admin_port")


def test_config_show_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKLIGENCE_ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("TOKLIGENCE_WORK_MODE", "translation")
    assert main(["--port", "9400", "config", "show"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["NAME"] == ["NAME", "VALUE", "SOURCE", "ENV", "HELP"]
    assert rows["anthropic_api_key"][:5] == [
        "anthropic_api_key",
        "****" + KEY[-4:],
        "env",
        "TOKLIGENCE_ANTHROPIC_API_KEY",
        "TOKLIGENCE_ANTHROPIC_API_KEY",
    ]
    assert rows["work_mode"][1:5] == [
        "translation",
        "env",
        "TOKLIGENCE_WORK_MODE",
        "TOKLIGENCE_WORK_MODE",
    ]
    assert rows["facade_port"][1:5] == ["9400", "flag", "--port", "TOKLIGENCE_FACADE_PORT"]
    assert " ".join(rows["facade_port"][5:]) == "port of the all-in-one facade (set by --port)"
    assert rows["openai_api_key"][1:3] == ["default", "TOKLIGENCE_OPENAI_API_KEY"]  # empty
    assert KEY not in out
    assert "scheduler_enabled" not in rows


def test_config_show_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKLIGENCE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("TOKLIGENCE_SCHEDULER_ENABLED", "true")
    (tmp_path / "gw.ini").write_text("multiport_mode = yes\n", encoding="utf-8")
    assert main(["config", "show", "--json", "--config", "gw.ini"]) == 0
    out = capsys.readouterr().out
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows["facade_port"]) == {"name", "value", "source", "env", "help"}
    assert rows["facade_port"]["env"] == "TOKLIGENCE_FACADE_PORT"
    assert rows["facade_port"]["value"] == 8081
    assert {k: rows["multiport_mode"][k] for k in ("name", "value", "source")} == {
        "name": "multiport_mode",
        "value": True,
        "source": f"ini {tmp_path / 'gw.ini'}",
    }
    assert rows["openai_endpoints"]["value"] == ["openai_core", "health", "trade"]
    assert rows["openai_api_key"]["value"] == "****" + KEY[-4:]
    assert rows["scheduler_enabled"]["value"] == "true"  # legacy, listed because set
    assert KEY not in out


def test_config_show_lists_provider_sections_masked_and_refuses_what_serve_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "gw.ini").write_text(
        "[provider.local]\nbase_url = http://127.0.0.1:9/v1\napi_key = " + KEY + "\n"
        "models = local-chat\n",
        encoding="utf-8",
    )
    assert main(["config", "show", "--json", "--config", "gw.ini"]) == 0
    out = capsys.readouterr().out
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["provider.local.models"]["value"] == ["local-chat"]
    assert rows["provider.local.api_key"]["value"] == "****" + KEY[-4:]
    assert rows["provider.local.base_url"]["env"] == "TOKLIGENCE_PROVIDER_LOCAL_BASE_URL"
    assert KEY not in out
    (tmp_path / "bad.ini").write_text("routes = x*=>anthropic\n", encoding="utf-8")
    assert main(["config", "show", "--config", "bad.ini"]) == 2
    assert "set TOKLIGENCE_ANTHROPIC_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("hooks_enabled = true\n", "hooks_enabled is true but hooks_script_path is empty"),
        (
            "hooks_enabled = true\nhooks_script_path = hook.py\nhooks_timeout = soon\n",
            "hooks: ",
        ),
        (
            "hooks_enabled = true\nhooks_script_path = hook.py\nhooks_script_env = NOEQUALS\n",
            "hooks: ",
        ),
    ],
)
def test_config_show_refuses_the_hook_settings_serve_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ini: str, message: str
) -> None:
    (tmp_path / "gw.ini").write_text(ini, encoding="utf-8")
    assert main(["config", "show", "--config", "gw.ini"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    # serve refuses it in the same check, before opening anything
    with pytest.raises(ConfigError, match=message):
        build(load_config(flags={}, env={}, config_file=tmp_path / "gw.ini", cwd=tmp_path))


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["--help"], "usage: tokligence"),
        (["serve", "--help"], "usage: tokligence serve"),
        (["version", "--help"], "usage: tokligence version"),
        (["config", "--help"], "usage: tokligence config"),
        (["config", "show", "--help"], "usage: tokligence config show"),
    ],
)
def test_help_everywhere(argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]) -> None:
    runner = FakeRunner()
    assert main(argv, runner=runner) == 0
    out = capsys.readouterr().out
    assert out.startswith(usage)
    assert runner.configs == []
    if argv[0] in ("--help", "serve") or "show" in argv:
        assert "--data-dir DIR" in out and "--insecure" in out


def test_gatewayd_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert gatewayd_main(["--help"], runner=FakeRunner()) == 0
    assert capsys.readouterr().out.startswith("usage: gatewayd")


@pytest.mark.parametrize("argv", [["bogus"], ["config"], ["serve", "--nope"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv, runner=FakeRunner()) == 2
    assert "usage: tokligence" in capsys.readouterr().err


class _ClosedPipe:
    """stdout whose reader has gone away, as under `tokligence config show | head`."""

    def __init__(self, fileno: int) -> None:
        self._fileno = fileno

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._fileno


def test_config_show_into_a_closed_pipe_exits_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = open(tmp_path / "stdout", "w")  # noqa: SIM115 - stands in for the pipe's fd
    monkeypatch.setattr(sys, "stdout", _ClosedPipe(target.fileno()))
    from tokligence import cli

    assert cli.main(["config", "show"]) == 0
    target.close()


@pytest.mark.parametrize("multiport", [False, True])
def test_a_port_in_use_is_one_line_naming_the_fix(tmp_path: Path, multiport: bool) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,  # the fixture took out every TOKLIGENCE_* variable
            "PYTHONPATH": str(Path(tokligence.__file__).resolve().parent.parent),
            "TOKLIGENCE_DATA_DIR": str(tmp_path / "data"),
        }
        if multiport:
            env |= {
                "TOKLIGENCE_MULTIPORT_MODE": "true",
                "TOKLIGENCE_ADMIN_PORT": "0",
                "TOKLIGENCE_ANTHROPIC_PORT": "0",
                "TOKLIGENCE_OPENAI_PORT": str(port),
            }
            argv = ["serve"]
        else:
            argv = ["serve", "--port", str(port)]
        result = subprocess.run(
            [sys.executable, "-m", "tokligence", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(errors) == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in errors[0]
    fix = "TOKLIGENCE_OPENAI_PORT" if multiport else "--port or TOKLIGENCE_FACADE_PORT"
    assert fix in errors[0]
    assert "Traceback" not in result.stderr


def test_an_unwritable_log_file_is_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log's folder should be")
    monkeypatch.setenv("TOKLIGENCE_LOG_FILE", str(blocker / "gateway.log"))
    assert main(["serve"], runner=FakeRunner()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tokligence: cannot open the log file: ")
    assert "set log_file (TOKLIGENCE_LOG_FILE) to a writable path" in err
