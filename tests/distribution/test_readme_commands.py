"""The README's first command, exactly as written, on a clean copy of the
repository: it installs the gateway into a fresh virtual environment and
starts it, and the gateway answers. (The second command, the test suite, is
what ``.ci/run`` runs, taken from the README: see tests/docs/test_readme.py.)

The copy is the repository's tracked files as they are in the working tree,
so a change is tested before it is committed. The package registry is the
machine's own, as for any user; the gateway gets a free port through
``TOKLIGENCE_FACADE_PORT`` (the command itself is not changed) and its own
data folders.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.docs.snippets import blocks
from tests.update_check_off import OFF

from .tools import ROOT, free_port, health

INSTALL_AND_START = "python3 -m venv .venv && . .venv/bin/activate && pip install . && tokligence"
START_TIMEOUT = 600  # a fresh venv and every dependency from the registry


def clean_copy(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree is gone from the copy too
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


def wait_for_gateway(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while health(port) is None:
        if process.poll() is not None:
            output = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"the command exited ({process.returncode}):\n{output}")
        assert time.monotonic() < deadline, "the gateway never became healthy"
        time.sleep(0.2)


def test_the_readme_install_command_is_the_one_tested_here() -> None:
    commands = [b.text.strip() for b in blocks("README.md") if b.lang == "sh"]
    assert commands[0] == INSTALL_AND_START


def test_the_readme_install_command_installs_and_starts_the_gateway(tmp_path: Path) -> None:
    clone = clean_copy(tmp_path / "clone")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKLIGENCE_", "VIRTUAL_ENV"))}
    env.update(
        OFF,
        TOKLIGENCE_FACADE_PORT=str(port),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    log = (tmp_path / "output.log").open("wb")
    process = subprocess.Popen(
        ["bash", "-c", INSTALL_AND_START],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_gateway(port, process, tmp_path / "output.log")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=json.dumps(
                {"model": "loopback", "messages": [{"role": "user", "content": "hello"}]}
            ).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer["choices"][0]["message"]["content"] == "hello"
        assert (clone / ".venv" / "bin" / "tokligence").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    output = (tmp_path / "output.log").read_text(errors="replace")
    assert "listening on" in output, output[-3000:]
