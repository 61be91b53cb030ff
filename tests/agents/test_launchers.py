"""``tokligence claude|codex`` and ``tokligence stop``: the real command in a
subprocess, with fake agents (small scripts that record their argv and
environment, may call the gateway, and exit with a chosen code) and, for one
smoke each, the real Claude Code and Codex. Every test has its own data and
config folders and a free port, and leaves no gateway behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.agents.npm_tools import CLAUDE_CODE, CODEX, install, offline_env
from tests.update_check_off import OFF
from tokligence.agents.background import Endpoint, alive
from tokligence.agents.launch import (
    PLACEHOLDER_KEY,
    claude_env,
    codex_env,
    find_agent_command,
    run_agent,
    split_arguments,
)

RUN_TIMEOUT = 90.0
VENV_BIN = str(Path(sys.executable).parent)

# The fake agent: records what it was given into $FAKE_RECORD, optionally
# asks the gateway for an answer the way the real agent would, optionally
# waits for SIGTERM, then exits with $FAKE_EXIT.
FAKE_AGENT = """\
import json, os, signal, sys, time, urllib.request

name = os.path.basename(sys.argv[0])
record = {"argv": sys.argv[1:], "env": dict(os.environ), "pid": os.getpid()}
if os.environ.get("FAKE_CALL"):
    if name == "claude":
        url = os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages"
        body = {"model": "loopback", "max_tokens": 50,
                "messages": [{"role": "user", "content": "hello from fake claude"}]}
        key = os.environ["ANTHROPIC_AUTH_TOKEN"]
    else:
        args = sys.argv[1:]
        overrides = dict(a.split("=", 1) for a in args[1::2] if "=" in a)
        url = json.loads(overrides["model_providers.tokligence.base_url"]) + "/responses"
        body = {"model": "loopback", "input": "hello from fake codex", "store": False}
        key = os.environ[json.loads(overrides["model_providers.tokligence.env_key"])]
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={
        "content-type": "application/json", "authorization": "Bearer " + key})
    with urllib.request.urlopen(request, timeout=30) as response:
        record["answer"] = json.loads(response.read())
if os.environ.get("FAKE_WAIT"):
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(int(os.environ["FAKE_WAIT"])))
    record["ready"] = True
with open(os.environ["FAKE_RECORD"], "w") as f:
    json.dump(record, f)
if os.environ.get("FAKE_WAIT"):
    while True:
        time.sleep(0.05)
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return dict(json.loads(response.read()))
    except OSError:
        return None


def gateway_processes(port: int) -> list[int]:
    """Pids of live ``tokligence serve`` processes for ``port``."""
    if Path("/proc").is_dir():
        commands = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    commands[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
    else:  # macOS and other BSDs
        listing = subprocess.run(["ps", "-axo", "pid=,args="], capture_output=True, check=True)
        commands = {
            int(line.split(None, 1)[0]): line.split()[1:]
            for line in listing.stdout.splitlines()
            if line.strip()
        }
    return sorted(
        pid
        for pid, words in commands.items()
        if b"serve" in words and str(port).encode() in words and alive(pid)
    )


@dataclass
class Setup:
    tmp: Path
    port: int
    env: dict[str, str]
    bin_dir: Path

    @property
    def record_path(self) -> Path:
        return self.tmp / "record.json"

    @property
    def pid_file(self) -> Path:
        return self.tmp / "data" / "gateway.pid"

    def record(self) -> dict[str, Any]:
        return dict(json.loads(self.record_path.read_text()))

    def command(self, agent: str, *args: str, fake: bool = True) -> list[str]:
        gateway = ["--port", str(self.port), "--data-dir", str(self.tmp / "data")]
        binary = ["--bin", str(self.bin_dir / agent)] if fake else []
        return [sys.executable, "-m", "tokligence", *gateway, agent, *binary, *args]

    def launch(
        self, agent: str, *args: str, extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        self.record_path.unlink(missing_ok=True)
        return subprocess.run(
            self.command(agent, *args),
            cwd=self.tmp,
            env={**self.env, "FAKE_RECORD": str(self.record_path), **(extra or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )

    def tokligence(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tokligence", *args, "--data-dir", str(self.tmp / "data")],
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )


def isolated_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKLIGENCE_")}
    env.update(OFF)
    env.update(
        HOME=str(tmp / "home"),
        XDG_CONFIG_HOME=str(tmp / "cfg"),
        XDG_DATA_HOME=str(tmp / "xdg-data"),
        XDG_STATE_HOME=str(tmp / "state"),
        PATH=VENV_BIN + os.pathsep + env.get("PATH", ""),
        ANTHROPIC_API_KEY="sk-ant-the-users-own-key",
    )
    return env


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("claude", "codex"):
        script = bin_dir / name
        script.write_text(f"#!{sys.executable}\n{FAKE_AGENT}")
        script.chmod(0o755)
    result = Setup(tmp=tmp_path, port=free_port(), env=isolated_env(tmp_path), bin_dir=bin_dir)
    try:
        yield result
    finally:
        # Whatever the test did, no gateway outlives it.
        result.tokligence("stop")
        for pid in gateway_processes(result.port):
            os.kill(pid, signal.SIGKILL)


def test_claude_starts_a_gateway_and_gets_the_environment(setup: Setup) -> None:
    assert health(setup.port) is None
    process = subprocess.Popen(
        setup.command("claude", "--model", "gpt-x", "-p", "hi there", "--model", "theirs"),
        cwd=setup.tmp,
        env={**setup.env, "FAKE_RECORD": str(setup.record_path), "FAKE_CALL": "1"},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 0, stderr
    assert f"started the gateway on http://127.0.0.1:{setup.port}" in stderr
    record = setup.record()
    # The launcher became the agent: same process, nothing in between.
    assert record["pid"] == process.pid
    assert record["argv"] == ["-p", "hi there", "--model", "theirs"]
    env = record["env"]
    assert env["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{setup.port}"
    assert env["ANTHROPIC_AUTH_TOKEN"] == PLACEHOLDER_KEY
    assert "ANTHROPIC_API_KEY" not in env  # the user's own key stays home
    for name in (
        "ANTHROPIC_MODEL",
        "ANTHROPIC_DEFAULT_OPUS_MODEL",
        "ANTHROPIC_DEFAULT_SONNET_MODEL",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL",
        "ANTHROPIC_SMALL_FAST_MODEL",
    ):
        assert env[name] == "gpt-x"
    assert env["DISABLE_TELEMETRY"] == env["DISABLE_ERROR_REPORTING"] == "1"
    # Required to stay local: see tests/agents/test_claude_code_e2e.py.
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == env["DISABLE_AUTOUPDATER"] == "1"
    assert record["answer"]["content"][0]["text"] == "hello from fake claude"
    # The gateway is detached, recorded, and still serving after the agent left.
    pid = json.loads(setup.pid_file.read_text())["pid"]
    assert alive(pid) and health(setup.port) is not None
    assert gateway_processes(setup.port) == [pid]


def test_a_running_gateway_is_reused_not_doubled(setup: Setup) -> None:
    first = setup.launch("claude", "-p", "one")
    assert first.returncode == 0, first.stderr
    recorded = setup.pid_file.read_text()
    second = setup.launch("codex", "exec", "two", extra={"FAKE_CALL": "1"})
    third = setup.launch("claude", "-p", "three")
    assert second.returncode == third.returncode == 0, second.stderr + third.stderr
    assert "started the gateway" not in second.stderr + third.stderr
    assert setup.pid_file.read_text() == recorded
    assert gateway_processes(setup.port) == [json.loads(recorded)["pid"]]


def test_a_launchers_gateway_with_another_configuration_is_restarted(setup: Setup) -> None:
    first = setup.launch("claude", "--model", "loopback", "-p", "one")
    assert first.returncode == 0, first.stderr
    before = json.loads(setup.pid_file.read_text())["pid"]
    old = health(setup.port)
    changed = {"TOKLIGENCE_MODEL_ALIASES": "gpt-4o=>loopback"}
    second = setup.launch("claude", "--model", "loopback", "-p", "two", extra=changed)
    assert second.returncode == 0, second.stderr
    assert "restarted the gateway" in second.stderr and "configuration had changed" in second.stderr
    after = json.loads(setup.pid_file.read_text())["pid"]
    assert after != before and not alive(before)
    new = health(setup.port)
    assert old is not None and new is not None and new["config"] != old["config"]
    third = setup.launch("claude", "--model", "loopback", "-p", "three", extra=changed)
    assert "restarted" not in third.stderr and "started the gateway" not in third.stderr
    assert gateway_processes(setup.port) == [after]


def test_a_gateway_started_by_hand_is_used_with_a_note_not_stopped(setup: Setup) -> None:
    data = setup.tmp / "data"
    by_hand = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tokligence",
            "serve",
            "--port",
            str(setup.port),
            "--data-dir",
            str(data),
        ],
        cwd=setup.tmp,
        env={**setup.env, "TOKLIGENCE_WORK_MODE": "translation"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while health(setup.port) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        result = setup.launch("claude", "--model", "loopback", "-p", "hi")
        assert result.returncode == 0, result.stderr
        assert "runs another configuration" in result.stderr
        assert by_hand.poll() is None  # not the launcher's to stop
    finally:
        by_hand.terminate()
        by_hand.wait(timeout=30)


def test_claude_without_a_routed_claude_model_says_so_first(setup: Setup) -> None:
    result = setup.launch("claude", "-p", "hi")
    assert "no provider on this gateway serves Claude models" in result.stderr
    assert "--model loopback" in result.stderr
    routed = setup.launch("claude", "--model", "loopback", "-p", "hi")
    assert "serves Claude models" not in routed.stderr


def test_codex_gets_a_provider_by_c_overrides(setup: Setup) -> None:
    result = setup.launch(
        "codex",
        "--model",
        "claude-y",
        "exec",
        "-c",
        'model="mine"',
        "do it",
        extra={"FAKE_CALL": "1"},
    )
    assert result.returncode == 0, result.stderr
    record = setup.record()
    url = f"http://127.0.0.1:{setup.port}/v1"
    assert record["argv"] == [
        "-c",
        'model_providers.tokligence.name="Tokligence gateway"',
        "-c",
        f'model_providers.tokligence.base_url="{url}"',
        "-c",
        'model_providers.tokligence.wire_api="responses"',
        "-c",
        'model_providers.tokligence.env_key="TOKLIGENCE_AGENT_API_KEY"',
        "-c",
        'model_provider="tokligence"',
        "-c",
        "analytics.enabled=false",
        "-c",
        "features.plugins=false",
        "-c",
        'model="claude-y"',
        "exec",
        "-c",
        'model="mine"',
        "do it",
    ]
    assert record["env"]["TOKLIGENCE_AGENT_API_KEY"] == PLACEHOLDER_KEY
    output = record["answer"]["output"][0]["content"][0]["text"]
    assert output == "hello from fake codex"


@pytest.mark.parametrize("code", [0, 3, 130])
def test_the_exit_code_is_the_agents(setup: Setup, code: int) -> None:
    result = setup.launch("claude", "-p", "x", extra={"FAKE_EXIT": str(code)})
    assert result.returncode == code


def test_a_signal_to_the_launcher_reaches_the_agent(setup: Setup) -> None:
    process = subprocess.Popen(
        setup.command("codex", "exec", "wait"),
        cwd=setup.tmp,
        env={**setup.env, "FAKE_RECORD": str(setup.record_path), "FAKE_WAIT": "42"},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + RUN_TIMEOUT
    while not setup.record_path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)  # the record is written after the handler is installed
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=RUN_TIMEOUT) == 42
    assert health(setup.port) is not None  # the gateway is not the agent's to stop


def test_the_child_mode_forwards_signals_and_returns_the_code(setup: Setup) -> None:
    """The path used where exec is not (Windows), exercised here in-process."""
    env = {**setup.env, "FAKE_RECORD": str(setup.record_path), "FAKE_WAIT": "17"}

    def signal_us_when_ready() -> None:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not setup.record_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=signal_us_when_ready, daemon=True).start()
    code = run_agent([str(setup.bin_dir / "claude")], env, replace=False)
    assert code == 17
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_gateway_does_not_die_with_an_npm_launcher_in_front(setup: Setup) -> None:
    """A launcher run from the npm wrapper inherits its TOKLIGENCE_LAUNCHER_PID;
    the background gateway must not take that process as its lifeline."""
    wrapper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        extra = {"TOKLIGENCE_LAUNCHER_PID": str(wrapper.pid)}
        assert setup.launch("claude", "-p", "x", extra=extra).returncode == 0
    finally:
        wrapper.kill()
        wrapper.wait()
    time.sleep(1.0)  # several lifeline polls
    assert health(setup.port) is not None


def test_stop_ends_the_gateway_and_leaves_nothing(setup: Setup) -> None:
    assert setup.launch("claude", "-p", "x").returncode == 0
    pid = json.loads(setup.pid_file.read_text())["pid"]
    stopped = setup.tokligence("stop")
    assert stopped.returncode == 0
    assert f"stopped the gateway on http://127.0.0.1:{setup.port} (pid {pid})" in stopped.stdout
    assert not alive(pid) and health(setup.port) is None
    assert not setup.pid_file.exists() and gateway_processes(setup.port) == []
    again = setup.tokligence("stop")
    assert again.returncode == 0 and "no gateway started by a launcher" in again.stdout


def test_stop_with_a_stale_pid_file_signals_nobody(setup: Setup) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        setup.pid_file.parent.mkdir(parents=True)
        record = {"pid": bystander.pid, "host": "127.0.0.1", "port": setup.port}
        setup.pid_file.write_text(json.dumps(record))
        result = setup.tokligence("stop")
        assert "is not running" in result.stdout and not setup.pid_file.exists()
        assert bystander.poll() is None  # no gateway answered there: not signalled
    finally:
        bystander.kill()
        bystander.wait()


def test_a_stranger_on_the_port_is_not_mistaken_for_the_gateway(setup: Setup) -> None:
    class Stranger(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>hello</html>")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", setup.port), Stranger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = setup.launch("claude", "-p", "x")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert "not a Tokligence gateway" in result.stderr
    assert not setup.record_path.exists() and not setup.pid_file.exists()


def test_the_agent_binary_comes_from_the_setting_or_path(setup: Setup) -> None:
    via_setting = subprocess.run(
        [
            sys.executable,
            "-m",
            "tokligence",
            "--port",
            str(setup.port),
            "--data-dir",
            str(setup.tmp / "data"),
            "claude",
            "-p",
            "x",
        ],
        cwd=setup.tmp,
        env={
            **setup.env,
            "FAKE_RECORD": str(setup.record_path),
            "TOKLIGENCE_CLAUDE_BIN": str(setup.bin_dir / "claude"),
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert via_setting.returncode == 0, via_setting.stderr
    assert setup.record()["argv"] == ["-p", "x"]
    on_path = subprocess.run(
        [sys.executable, "-m", "tokligence", "--port", str(setup.port), "codex", "exec", "y"],
        cwd=setup.tmp,
        env={
            **setup.env,
            "FAKE_RECORD": str(setup.record_path),
            "PATH": str(setup.bin_dir) + os.pathsep + setup.env["PATH"],
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert on_path.returncode == 0, on_path.stderr
    missing = setup.launch("claude", "--bin", str(setup.tmp / "nowhere"))
    assert missing.returncode == 1 and "not found" in missing.stderr
    no_path = subprocess.run(
        [sys.executable, "-m", "tokligence", "--port", str(setup.port), "claude"],
        cwd=setup.tmp,
        env={**setup.env, "PATH": VENV_BIN},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert no_path.returncode == 1 and "TOKLIGENCE_CLAUDE_BIN" in no_path.stderr


def test_with_auth_on_the_agent_gets_the_configured_key(setup: Setup) -> None:
    auth = {"TOKLIGENCE_AUTH_DISABLED": "false"}
    refused = setup.launch("claude", "-p", "x", extra=auth)
    assert refused.returncode == 1 and "TOKLIGENCE_AGENT_API_KEY" in refused.stderr
    assert not setup.record_path.exists() and health(setup.port) is None
    key = "tok_launcher_test_key_0001"
    given = setup.launch("claude", "-p", "x", extra={**auth, "TOKLIGENCE_AGENT_API_KEY": key})
    assert given.returncode == 0, given.stderr
    assert setup.record()["env"]["ANTHROPIC_AUTH_TOKEN"] == key
    assert key not in given.stderr


def test_user_settings_win_over_the_telemetry_defaults(setup: Setup) -> None:
    result = setup.launch("claude", extra={"DISABLE_TELEMETRY": "0"})
    assert result.returncode == 0, result.stderr
    assert setup.record()["env"]["DISABLE_TELEMETRY"] == "0"


def test_help_is_the_launchers(setup: Setup) -> None:
    result = setup.tokligence("claude", "--help")
    assert result.returncode == 0
    assert "--small-model" in result.stdout and "tokligence stop" in result.stdout
    assert health(setup.port) is None  # help starts nothing


SPLITS = [
    (["claude"], {}, None, ()),
    (["claude", "-p", "hi", "--model", "x"], {}, None, ("-p", "hi", "--model", "x")),
    (
        ["--port", "9", "claude", "--model", "m", "--", "--model", "n"],
        {"port": "9"},
        "m",
        ("--model", "n"),
    ),
    (
        ["--insecure", "--config=a.ini", "codex", "--port=7", "--model=q", "exec"],
        {"insecure": True, "config": "a.ini", "port": "7"},
        "q",
        ("exec",),
    ),
    (["codex", "exec", "--port", "1"], {}, None, ("exec", "--port", "1")),
]


@pytest.mark.parametrize(("argv", "serve", "model", "rest"), SPLITS)
def test_split_arguments(
    argv: list[str], serve: dict[str, Any], model: str | None, rest: tuple[str, ...]
) -> None:
    index = find_agent_command(argv)
    assert index is not None
    args = split_arguments(argv, index)
    assert (args.serve, args.model, args.agent_args) == (serve, model, rest)


@pytest.mark.parametrize("argv", [["serve"], ["keys", "claude"], ["--port", "1"], ["users"]])
def test_other_commands_are_not_launches(argv: list[str]) -> None:
    assert find_agent_command(argv) is None


# --------------------------------------------------------------- real agents


def real_env(setup: Setup) -> dict[str, str]:
    env = offline_env(setup.tmp / "agent-home")
    (setup.tmp / "agent-home" / ".codex").mkdir(exist_ok=True)
    env.update(
        PATH=VENV_BIN + os.pathsep + env["PATH"],
        XDG_DATA_HOME=str(setup.tmp / "xdg-data"),
        XDG_STATE_HOME=str(setup.tmp / "state"),
    )
    return env


@pytest.mark.parametrize(
    ("agent", "args"),
    [
        (CLAUDE_CODE, ("-p", "smoke test through the launcher")),
        (CODEX, ("exec", "--skip-git-repo-check", "smoke test through the launcher")),
    ],
    ids=["claude", "codex"],
)
def test_real_agent_smoke(setup: Setup, agent: Any, args: tuple[str, ...]) -> None:
    executable = install(agent)
    result = subprocess.run(
        setup.command(
            agent.bin, "--bin", str(executable), "--model", "loopback", *args, fake=False
        ),
        cwd=setup.tmp,
        env=real_env(setup),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The loopback model echoes the prompt: the answer went through the gateway.
    assert result.stdout.strip().endswith("smoke test through the launcher")
    assert "started the gateway" in result.stderr
    stopped = setup.tokligence("stop")
    assert "stopped the gateway" in stopped.stdout and gateway_processes(setup.port) == []


@pytest.mark.parametrize("make_env", ["claude", "codex"])
def test_from_the_binary_the_agent_gets_no_bootloader_environment(
    make_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inside the single-file binary LD_LIBRARY_PATH points into the unpack
    # folder, where Node would load our OpenSSL, and _PYI_* mark our runtime.
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    environ = {
        "PATH": "/usr/bin",
        "LD_LIBRARY_PATH": "/tmp/_MEI42",
        "LD_LIBRARY_PATH_ORIG": "/opt/lib",
        "_PYI_APPLICATION_HOME_DIR": "/tmp/_MEI42",
    }
    if make_env == "claude":
        endpoint = Endpoint(host="127.0.0.1", port=8081)
        env = claude_env(environ, endpoint, "key")
    else:
        env = codex_env(environ, "key")
    assert env["LD_LIBRARY_PATH"] == "/opt/lib"
    assert "_PYI_APPLICATION_HOME_DIR" not in env and "LD_LIBRARY_PATH_ORIG" not in env
    assert env["PATH"] == "/usr/bin"
