"""The background gateway the launchers start, reuse and stop.

Theory of operation
-------------------
``tokligence claude`` and ``tokligence codex`` need a gateway answering on
the configured port. :func:`ensure_gateway` first asks ``GET /health`` on
that port: a Tokligence gateway that answers is reused when it runs the
configuration (and version) this launch would start, which its health
document's ``config`` fingerprint tells. A launcher's own gateway running
another one is restarted; one started by hand is reused with a warning
(it is not the launcher's to stop). Something else answering is an error
(the agent would talk to a stranger). Nothing answering: the launcher
starts ``tokligence serve`` with the same configuration flags as a detached
process (its own session, no
terminal, stdio to the null device; it logs to the normal log file), waits
until its health answers, and records its pid, host and port in
``<data_dir>/gateway.pid``. The gateway outlives the agent, so the next
launch reuses it; :func:`stop_gateway` (``tokligence stop``) ends it.

The pid file is trusted only as far as it can be checked: stop signals the
recorded pid only while a gateway answers health on the recorded port, so a
stale file (a crashed gateway, a pid reused by another program) is removed
without signalling anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import Config
from ..config_view import fingerprint

PID_FILE = "gateway.pid"
# Variables the launcher's own environment may carry that must not reach a
# gateway meant to outlive it: the npm launcher's pid (the gateway would exit
# with it) and PyInstaller's unpack state (the child would reuse our folder).
_NOT_FOR_THE_GATEWAY = ("TOKLIGENCE_LAUNCHER_PID",)
POLL_INTERVAL = 0.05  # health polls while a started gateway comes up
PROBE_TIMEOUT = 2.0  # one health request
STOP_MARGIN = 5.0  # beyond shutdown_grace before a stopping gateway is killed
LOG_TAIL_LINES = 15


class LaunchError(Exception):
    """The launcher cannot go on; the message is safe to print."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Endpoint:
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True, kw_only=True, slots=True)
class PidRecord:
    pid: int
    host: str
    port: int


def endpoint_of(config: Config) -> Endpoint:
    """Where a local agent reaches the gateway this configuration describes."""
    if config.multiport_mode and not config.enable_facade:
        raise LaunchError("the launchers need the facade port; set enable_facade=true")
    if config.facade_port == 0:
        raise LaunchError("the launchers need a fixed port; set --port or facade_port")
    host = config.host.strip("[]")
    if host in ("", "0.0.0.0", "::"):  # a wildcard bind is reachable on loopback
        host = "127.0.0.1"
    return Endpoint(host=host, port=config.facade_port)


def direct_opener() -> urllib.request.OpenerDirector:
    """Requests straight to the gateway's port: a proxy from HTTP_PROXY must
    not answer for it."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(endpoint: Endpoint, timeout: float = PROBE_TIMEOUT) -> dict[str, Any] | None:
    """The gateway's health document, or None when nothing answers."""
    url = endpoint.base_url + "/health"
    try:
        with direct_opener().open(url, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()  # a red health (503) is still our gateway
    except (urllib.error.URLError, OSError):
        return None
    try:
        health = json.loads(body)
    except ValueError:
        health = None
    if not (isinstance(health, dict) and "work_mode" in health and "version" in health):
        raise LaunchError(
            f"something that is not a Tokligence gateway answers on {endpoint.base_url}; "
            "stop it or choose another port (--port)"
        )
    return health


def pid_file(config: Config) -> Path:
    return config.data_dir / PID_FILE


def read_pid(path: Path) -> PidRecord | None:
    try:
        raw = json.loads(path.read_text())
        return PidRecord(pid=int(raw["pid"]), host=str(raw["host"]), port=int(raw["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def gateway_command(serve_flags: Sequence[str]) -> list[str]:
    if getattr(sys, "frozen", False):  # a frozen build is its own CLI
        return [sys.executable, "serve", *serve_flags]
    return [sys.executable, "-m", "tokligence", "serve", *serve_flags]


def gateway_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in _NOT_FOR_THE_GATEWAY}
    if getattr(sys, "frozen", False):
        env["PYINSTALLER_RESET_ENVIRONMENT"] = "1"  # a new instance, not our child runtime
    return env


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Detached from this terminal: Ctrl-C in the agent leaves the gateway running.
    detached: dict[str, Any] = (
        {"creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
        if os.name == "nt"
        else {"start_new_session": True}
    )
    return subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        **detached,
    )


def _log_tail(config: Config) -> str:
    path = config.log_file_path()
    if path is None:
        return " (the log goes to stderr only: log_file is '-')"
    try:
        lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return f" (no log at {path})"
    return f"; last lines of {path}:\n" + "\n".join(lines)


@dataclass(frozen=True, kw_only=True, slots=True)
class Running:
    """The gateway a launcher talks to, and what the launcher did about it."""

    endpoint: Endpoint
    started: bool  # this call started it
    restarted: bool = False  # ... in place of a launcher's gateway with another configuration
    # A gateway not started by a launcher runs another configuration: said, not touched.
    differs: bool = False


def ensure_gateway(
    config: Config, serve_flags: Sequence[str], environ: Mapping[str, str]
) -> Running:
    """A running gateway with ``config``: the one already on its port when
    it runs that configuration (or was not started by a launcher, which
    only gets a warning), else a new one; a launcher's own gateway with an
    older configuration or version is restarted."""
    endpoint = endpoint_of(config)
    health = probe(endpoint)
    if health is not None:
        if health.get("config") == fingerprint(config):
            return Running(endpoint=endpoint, started=False)
        record = read_pid(pid_file(config))
        ours = record is not None and record.port == endpoint.port and alive(record.pid)
        if not ours:
            return Running(endpoint=endpoint, started=False, differs=True)
        stop_gateway(config)
        return replace(_start(config, endpoint, serve_flags, environ), restarted=True)
    return _start(config, endpoint, serve_flags, environ)


def _start(
    config: Config, endpoint: Endpoint, serve_flags: Sequence[str], environ: Mapping[str, str]
) -> Running:
    process = _spawn(gateway_command(serve_flags), gateway_env(environ))
    deadline = time.monotonic() + config.launcher_start_timeout
    while time.monotonic() < deadline:
        exited = process.poll() is not None
        if probe(endpoint) is not None:
            if not exited:
                _write_pid(
                    config, PidRecord(pid=process.pid, host=endpoint.host, port=endpoint.port)
                )
                return Running(endpoint=endpoint, started=True)
            return Running(endpoint=endpoint, started=False)  # another launcher's won the port
        if exited:
            raise LaunchError(
                f"the gateway exited with status {process.returncode} while starting"
                + _log_tail(config)
            )
        time.sleep(POLL_INTERVAL)
    _terminate(process.pid)
    raise LaunchError(
        f"the gateway did not answer on {endpoint.base_url} within "
        f"{config.launcher_start_timeout:g} s" + _log_tail(config)
    )


def _write_pid(config: Config, record: PidRecord) -> None:
    path = pid_file(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": record.pid, "host": record.host, "port": record.port}))
    tmp.replace(path)  # atomic: a concurrent stop never reads half a file


def alive(pid: int) -> bool:
    """Is ``pid`` a running process (a zombie counts as gone)?"""
    if os.name == "nt":
        out = subprocess.run(
            ["tasklist", "/FI", f"PID eq {pid}", "/NH"], capture_output=True, text=True
        )
        return str(pid) in out.stdout
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _terminate(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)


def stop_gateway(config: Config) -> str:
    """Stop the gateway a launcher started; returns what happened, for people."""
    path = pid_file(config)
    record = read_pid(path)
    if record is None:
        return f"no gateway started by a launcher is recorded ({path})"
    endpoint = Endpoint(host=record.host, port=record.port)
    try:
        ours = alive(record.pid) and probe(endpoint) is not None
    except LaunchError:
        ours = False
    if not ours:
        path.unlink(missing_ok=True)
        return f"the recorded gateway (pid {record.pid}) is not running; removed {path}"
    _terminate(record.pid)
    deadline = time.monotonic() + config.shutdown_grace + STOP_MARGIN
    while alive(record.pid) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    if alive(record.pid) and os.name != "nt":
        with contextlib.suppress(OSError):
            os.kill(record.pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return f"stopped the gateway on {endpoint.base_url} (pid {record.pid})"
