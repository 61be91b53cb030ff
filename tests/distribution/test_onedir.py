"""The onedir build (what the npm platform packages carry): one process, run
from its own folder, nothing unpacked; no bootloader to watch and no unpack
folder to remove, while the launcher-pid watch still stops it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tokligence import __version__
from tokligence.lifeline import LAUNCHER_PID_ENV, POLL_INTERVAL

from .tools import (
    HEALTH_WAIT,
    clean_env,
    free_port,
    health,
    processes_with,
    temp_entries,
    wait_gone,
)


@pytest.fixture
def app(onedir: Path, tmp: Path) -> Path:
    """A copy of the onedir folder: a bug that removed it must not break dist/."""
    copy = tmp / "app"
    shutil.copytree(onedir, copy, symlinks=True)
    return copy / "tokligence"


def test_stamp_describes_the_folder(onedir: Path) -> None:
    stamp = json.loads(onedir.with_name(onedir.name + ".json").read_text())
    files = [p for p in onedir.rglob("*") if p.is_file()]
    assert stamp["kind"] == "onedir" and stamp["version"] == __version__
    assert stamp["size"] == sum(p.stat().st_size for p in files)
    assert (onedir / "tokligence").is_file() and (onedir / "_internal").is_dir()


def test_version_unpacks_nothing(app: Path, tmp: Path) -> None:
    result = subprocess.run(
        [str(app), "--version"], env=clean_env(tmp), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tokligence {__version__}"
    assert temp_entries(tmp) == []


def wait_health(port: int) -> None:
    deadline = time.monotonic() + HEALTH_WAIT
    while health(port) is None:
        assert time.monotonic() < deadline, "the gateway never became healthy"
        time.sleep(0.02)


def test_reparented_it_keeps_serving_until_the_launcher_pid_dies(app: Path, tmp: Path) -> None:
    # In a onefile binary a new parent means the bootloader died; a onedir
    # build has no bootloader, so only the launcher's pid counts (and its own
    # folder is never "cleaned up").
    launcher = subprocess.Popen(["sleep", "600"])
    port = free_port()
    log = tmp / "gateway.log"
    env = clean_env(tmp, {LAUNCHER_PID_ENV: str(launcher.pid)})
    gateway_argv = [str(app), "--port", str(port), "--data-dir", str(tmp / "data")]
    shell = subprocess.Popen(
        ["sh", "-c", '"$0" "$@" >"$LOG" 2>&1 & wait', *gateway_argv], env={**env, "LOG": str(log)}
    )
    try:
        wait_health(port)
        [gateway] = [pid for pid in processes_with(str(tmp)) if pid != shell.pid]
        shell.kill()
        shell.wait(10)
        time.sleep(4 * POLL_INTERVAL)
        assert health(port) is not None, log.read_text()
        assert temp_entries(tmp) == []
        launcher.kill()
        launcher.wait(10)
        assert wait_gone(str(tmp)) == []
    finally:
        launcher.kill()  # the fixture kills the rest
        launcher.wait(10)
    text = log.read_text()
    assert f"launcher (pid {launcher.pid}) is gone: shutting down" in text
    assert "parent process" not in text
    assert gateway not in processes_with(str(tmp))
    assert (app.parent / "_internal").is_dir() and temp_entries(tmp) == []
