"""The real gateway process: the check runs after start-up, in the
background, and nothing about the registry reaches start-up, requests,
/health or shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.test_process import clean_env, free_port, wait_healthy
from tests.fakes.registry import GARBAGE, HANG, PATHS, base_url, newer_answer
from tests.fakes.wire import FakeServer

WAIT = 10.0  # for what happens in the background: generous on a busy machine
QUICK = 2.0  # what must not wait for the registry (its timeout is 5 s)


@contextmanager
def gateway(
    tmp: Path, fake: FakeServer, *flags: str
) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port, log = free_port(), tmp / "gateway.log"
    env = clean_env(tmp) | {
        "TOKLIGENCE_UPDATE_CHECK_ENABLED": "true",
        "TOKLIGENCE_UPDATE_CHECK_URL": base_url(fake, "pip"),
        "TOKLIGENCE_LOG_FILE": str(log),
        "CI": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tokligence", "serve", "--port", str(port), *flags],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process, port, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def get(port: int, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=QUICK) as response:
        return dict(json.loads(response.read()))


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")


def stop(process: subprocess.Popen[str]) -> float:
    """SIGTERM; the seconds until the process has exited (status 0)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=WAIT) == 0
    return time.monotonic() - started


def test_a_newer_version_is_logged_once_after_start_up(tmp_path: Path) -> None:
    fake = FakeServer()
    with fake.running_in_thread():
        fake.set_default(PATHS["pip"], newer_answer(fake, "pip", "99.1.0"))
        with gateway(tmp_path, fake) as (process, port, log):
            wait_healthy(process, port)
            wait_for(lambda: "99.1.0 is available" in log.read_text(), "the line is logged")
            assert get(port, "/health")["status"] == "ok"
            stop(process)
        text = log.read_text()
        assert text.count("is available") == 1
        # After the listener: the check never stands between start-up and serving.
        assert text.index("listening on") < text.index("is available")


def test_a_hanging_registry_delays_nothing(tmp_path: Path) -> None:
    fake = FakeServer()
    with fake.running_in_thread():
        fake.set_default(PATHS["pip"], HANG)
        with gateway(tmp_path, fake) as (process, port, log):
            wait_healthy(process, port)
            wait_for(lambda: fake.requests(PATHS["pip"]), "the registry is asked")
            started = time.monotonic()  # the registry hangs from here on
            assert get(port, "/v1/models")["object"] == "list"
            health = get(port, "/health")
            assert time.monotonic() - started < QUICK
            assert health["status"] == "ok" and "background" not in health
            assert stop(process) < QUICK  # shutdown does not wait for the registry either
        assert "is available" not in log.read_text()


def test_garbage_leaves_the_gateway_healthy_and_silent(tmp_path: Path) -> None:
    fake = FakeServer()
    with fake.running_in_thread():
        fake.set_default(PATHS["pip"], GARBAGE["truncated json"])
        with gateway(tmp_path, fake, "--log-level", "debug") as (process, port, log):
            wait_healthy(process, port)
            wait_for(lambda: "update check: no answer" in log.read_text(), "the check gave up")
            health = get(port, "/health")
            assert health["status"] == "ok" and "background" not in health
            stop(process)
        said = [line for line in log.read_text().splitlines() if "update" in line.lower()]
        assert len(said) == 1 and " DEBUG " in said[0]
