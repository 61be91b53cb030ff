"""Helpers of the distribution tests: the build commands, processes found by
a marker in their command line, a static file server, health checks."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.update_check_off import OFF

ROOT = Path(__file__).resolve().parents[2]
HEALTH_WAIT = 30.0  # generous: a first onefile start unpacks ~25 MB on a busy CI machine
GONE_WAIT = 10.0  # a launcher's death is noticed within lifeline.POLL_INTERVAL
BUILD_TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a process under test: no TOKLIGENCE_* or npm
    settings of the developer's, its own HOME and its own TMPDIR (where a
    onefile binary unpacks, so leftovers can be seen)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TOKLIGENCE_", "npm_", "NPM_", "PIP_", "VIRTUAL_ENV"))
    }
    for name in ("home", "tmp", "cache"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(tmp / "home"),
        TMPDIR=str(tmp / "tmp"),
        XDG_CONFIG_HOME=str(tmp / "home" / ".config"),
        XDG_DATA_HOME=str(tmp / "home" / ".local" / "share"),
        XDG_STATE_HOME=str(tmp / "home" / ".local" / "state"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        # npm: never reach a registry, never write the developer's cache.
        npm_config_registry="http://127.0.0.1:9/",
        npm_config_cache=str(tmp / "npm-cache"),
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
    )
    env.update(OFF)
    env.update(extra or {})
    return env


def run_build(*command: str) -> str:
    """Run build/freeze or build/pack-npm; their output is shown on failure."""
    result = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    if result.returncode != 0:
        raise AssertionError(f"{command} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        raise AssertionError("npm is needed for the distribution tests (install Node.js)")
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def health(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return dict(json.loads(response.read()))
    except OSError:
        return None


def wait_healthy(process: subprocess.Popen[str], port: int) -> dict[str, object]:
    deadline = time.monotonic() + HEALTH_WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"exited early ({process.returncode}): {out}\n{err}")
        answer = health(port)
        if answer is not None:
            return answer
        time.sleep(0.02)
    raise AssertionError("the gateway never became healthy")


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line mentions ``marker`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_gone(marker: str) -> list[int]:
    """Wait until no process mentions ``marker``; returns those still alive."""
    deadline = time.monotonic() + GONE_WAIT
    while (alive := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def unpack_dirs(tmp: Path) -> list[str]:
    return sorted(p.name for p in (tmp / "tmp").glob("_MEI*"))


def temp_entries(tmp: Path) -> list[str]:
    """Everything in the TMPDIR of a process under test, not only _MEI* folders."""
    return sorted(p.name for p in (tmp / "tmp").iterdir())


def wait_no_unpack_dirs(tmp: Path) -> list[str]:
    deadline = time.monotonic() + GONE_WAIT
    while (left := unpack_dirs(tmp)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_all(marker: str) -> None:
    """Clean-up after a failed test: nothing it started may outlive it."""
    for pid in processes_with(marker):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def release_folder(www: Path, version: str | None, assets: Mapping[str, bytes], sums: str) -> Path:
    """A release laid out like GitHub's: <www>/download/v<version>/<asset>
    (<www>/latest/download/<asset> for version None), with SHA256SUMS."""
    folder = www / "download" / f"v{version}" if version else www / "latest" / "download"
    folder.mkdir(parents=True)
    for name, data in assets.items():
        (folder / name).write_bytes(data)
    (folder / "SHA256SUMS").write_text(sums)
    return folder


def sums_line(name: str, data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n"


class Terminal:
    """A process on a pseudo-terminal, as a person at a shell runs it."""

    def __init__(self, argv: list[str], env: Mapping[str, str]) -> None:
        import pty

        self.output = b""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes the program at once
            os.execve(argv[0], argv, env)

    def read_until(self, text: bytes, timeout: float = HEALTH_WAIT) -> bytes:
        """Read until ``text`` has appeared or the terminal closed."""
        import select

        deadline = time.monotonic() + timeout
        while text not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # closed: the program is done
                break
            if not chunk:
                break
            self.output += chunk
        return self.output

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self) -> int:
        self.read_until(b"\0never\0", timeout=GONE_WAIT)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)
