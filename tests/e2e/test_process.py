"""The real command: start-up, /health, signals and start-up refusals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.update_check_off import OFF

HEALTH_WAIT = 20.0  # generous: CI machines can be slow to import a fresh venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKLIGENCE_")}
    env.update(HOME=str(tmp), XDG_CONFIG_HOME=str(tmp / "cfg"), XDG_DATA_HOME=str(tmp / "data"))
    env["XDG_STATE_HOME"] = str(tmp / "state")
    return env | OFF


def start(tmp: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tokligence", "serve", "--port", str(port), *args],
        cwd=tmp,
        env=clean_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def wait_healthy(process: subprocess.Popen[str], port: int) -> dict[str, object]:
    deadline = time.monotonic() + HEALTH_WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gateway exited early: {process.communicate()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                return dict(json.loads(response.read()))
        except OSError:
            time.sleep(0.02)
    raise AssertionError("gateway never became healthy")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_exits_cleanly_on_signal(tmp_path: Path, signum: signal.Signals) -> None:
    process, port = start(tmp_path)
    try:
        health = wait_healthy(process, port)
        assert health["status"] == "ok" and health["work_mode"] == "auto"
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert f"listening on http://127.0.0.1:{port}" in stderr
    assert "shutting down" in stderr


def test_refuses_a_public_bind_without_auth(tmp_path: Path) -> None:
    process, _ = start(tmp_path, "--host", "0.0.0.0")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "refusing to listen on 0.0.0.0" in stderr


def test_bad_setting_stops_start_up_naming_its_source(tmp_path: Path) -> None:
    env = clean_env(tmp_path) | {"TOKLIGENCE_WORK_MODE": "sideways"}
    result = subprocess.run(
        [sys.executable, "-m", "tokligence", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "TOKLIGENCE_WORK_MODE" in result.stderr and "translation" in result.stderr
