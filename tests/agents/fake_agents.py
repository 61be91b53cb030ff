"""Fake coding agents and the helpers around them, shared by the launcher
tests and the tests that run the documentation's commands: a fake ``claude``
and ``codex`` record their argv and environment, may call the gateway the
way the real agent would, and exit with a chosen code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.update_check_off import OFF
from tokligence.agents.background import alive

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


def isolated_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKLIGENCE_")}
    env.update(OFF)  # the suite's gateways never ask a registry
    env.update(
        HOME=str(tmp / "home"),
        XDG_CONFIG_HOME=str(tmp / "cfg"),
        XDG_DATA_HOME=str(tmp / "xdg-data"),
        XDG_STATE_HOME=str(tmp / "state"),
        PATH=VENV_BIN + os.pathsep + env.get("PATH", ""),
        ANTHROPIC_API_KEY="sk-ant-the-users-own-key",
    )
    return env


def install_fake_agents(bin_dir: Path) -> Path:
    """``bin_dir`` with a fake ``claude`` and ``codex`` in it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("claude", "codex"):
        script = bin_dir / name
        script.write_text(f"#!{sys.executable}\n{FAKE_AGENT}")
        script.chmod(0o755)
    return bin_dir
