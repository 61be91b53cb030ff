"""``serve --workers N``: several processes on one port (SO_REUSEPORT), a
worker that dies started again, one ledger row per request whichever worker
served it, and a graceful stop that lets an in-flight stream finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.agents.fake_agents import free_port, gateway_processes
from tests.e2e.test_process import clean_env
from tests.fakes.openai_chat import ChatScenario, chat_events
from tests.fakes.sse_script import to_chunks
from tests.fakes.wire import Chunk, FakeServer, Reply
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.models import LedgerEntry

START_WAIT = 60.0


class Workers:
    def __init__(self, tmp: Path, count: int, *extra: str, env: dict[str, str] | None = None):
        self.tmp = tmp
        self.port = free_port()
        self.log = (tmp / "supervisor.log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "tokligence", "serve", "--workers", str(count),
                "--port", str(self.port), "--data-dir", str(tmp / "data"), *extra,
            ],
            cwd=tmp,
            env={**clean_env(tmp), **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def health(self) -> dict[str, object] | None:
        try:
            url = f"http://127.0.0.1:{self.port}/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                return dict(json.loads(response.read()))
        except OSError:
            return None

    def pids_answering(self, wanted: int) -> set[int]:
        """Pids seen on new connections until ``wanted`` distinct ones answered."""
        seen: set[int] = set()
        deadline = time.monotonic() + START_WAIT
        while len(seen) < wanted and time.monotonic() < deadline:
            answer = self.health()
            if answer is not None:
                seen.add(int(str(answer["pid"])))
            else:
                time.sleep(0.05)
        return seen

    def output(self) -> str:
        self.log.flush()
        return (self.tmp / "supervisor.log").read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.log.close()
        return code


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    running = Workers(tmp_path, 2)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()
        for pid in gateway_processes(running.port):
            os.kill(pid, signal.SIGKILL)


def ledger_rows(tmp: Path) -> int:
    db = open_database(sqlite_url(tmp / "data" / "ledger.db"))
    try:
        with db.connection_context():
            return int(LedgerEntry.select().count(db))
    finally:
        close_database(db)


def test_two_workers_share_the_port_and_the_ledger(workers: Workers) -> None:
    pids = workers.pids_answering(2)
    assert len(pids) == 2 and workers.process.pid not in pids, workers.output()
    body = {"model": "loopback", "messages": [{"role": "user", "content": "hi"}]}
    url = f"http://127.0.0.1:{workers.port}/v1/chat/completions"
    served_by: set[str] = set()
    for _ in range(60):  # a new connection each: the kernel spreads them
        response = httpx.post(url, json=body, headers={"connection": "close"})
        assert response.status_code == 200
    for _ in range(40):
        answer = workers.health()
        assert answer is not None
        served_by.add(str(answer["pid"]))
    assert workers.stop() == 0
    assert ledger_rows(workers.tmp) == 60  # every request, whichever worker served it
    assert gateway_processes(workers.port) == []


def test_a_worker_that_dies_is_started_again(workers: Workers) -> None:
    first = workers.pids_answering(2)
    assert len(first) == 2, workers.output()
    victim = sorted(first)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + START_WAIT
    now: set[int] = set()
    while time.monotonic() < deadline:
        now = workers.pids_answering(2)
        if len(now) == 2 and victim not in now:
            break
    assert victim not in now and len(now) == 2, workers.output()
    assert "exited with SIGKILL; starting it again" in workers.output()


def test_a_killed_supervisor_takes_its_workers_along(workers: Workers) -> None:
    pids = workers.pids_answering(2)
    assert len(pids) == 2
    workers.process.kill()
    workers.process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and gateway_processes(workers.port):
        time.sleep(0.1)
    assert gateway_processes(workers.port) == []  # no orphan keeps the port


def test_sigterm_lets_an_in_flight_stream_finish(tmp_path: Path) -> None:
    fake = FakeServer()
    chunks = to_chunks(chat_events(ChatScenario(text=["one", " two", " three"])))
    slow = tuple(Chunk(data=c.data, delay=0.4) for c in chunks)
    fake.set_default(
        "/v1/chat/completions", Reply(headers=(("content-type", "text/event-stream"),), chunks=slow)
    )
    with fake.running_in_thread() as url:
        running = Workers(
            tmp_path,
            2,
            env={"TOKLIGENCE_OPENAI_API_KEY": "sk-test", "TOKLIGENCE_OPENAI_BASE_URL": url + "/v1"},
        )
        try:
            assert len(running.pids_answering(2)) == 2, running.output()
            received: list[str] = []

            def stream() -> None:
                with httpx.stream(
                    "POST",
                    f"http://127.0.0.1:{running.port}/v1/chat/completions",
                    json={
                        "model": "gpt-4o-mini",
                        "stream": True,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                    timeout=30,
                ) as response:
                    received.extend(response.iter_text())

            client = threading.Thread(target=stream)
            client.start()
            time.sleep(0.6)  # the stream has begun
            assert running.stop() == 0
            client.join(30)
        finally:
            for pid in gateway_processes(running.port):
                os.kill(pid, signal.SIGKILL)
    text = "".join(received)
    assert "three" in text and "[DONE]" in text  # whole, not cut by the stop
    assert gateway_processes(running.port) == []


def test_workers_need_fixed_ports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tokligence", "serve", "--workers", "2", "--port", "0"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tokligence: configuration error: workers above 1 need fixed ports: "
        "a port of 0 would give each worker another one"
    ]


def test_each_worker_has_its_own_log_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "gateway.log"
    running = Workers(tmp_path, 2, env={"TOKLIGENCE_LOG_FILE": str(log_file)})
    try:
        assert len(running.pids_answering(2)) == 2, running.output()
    finally:
        assert running.stop() == 0
    assert (tmp_path / "logs" / "gateway.log").exists()  # the supervisor's
    for index in (0, 1):
        text = (tmp_path / "logs" / f"gateway.worker-{index}.log").read_text()
        assert "listening on" in text


def test_limits_are_exact_and_revocation_reaches_every_worker(tmp_path: Path) -> None:
    """rpm=8 over four workers: exactly 8 of a burst of 24 pass; a key revoked
    in the database stops working on every worker within a second or so."""
    from tokligence.identity import store
    from tokligence.identity.migrations import migrate_identity
    from tokligence.limits import KeyLimits

    db = open_database(sqlite_url(tmp_path / "data" / "identity.db"))
    try:
        migrate_identity(db)
        user = store.create_user(db, email="ada@example.com")
        record, key = store.issue_key(db, user.id, limits=KeyLimits(rpm=8))
    finally:
        close_database(db)
    running = Workers(tmp_path, 4, env={"TOKLIGENCE_AUTH_DISABLED": "false"})
    try:
        assert len(running.pids_answering(4)) == 4, running.output()
        url = f"http://127.0.0.1:{running.port}/v1/chat/completions"
        body = {"model": "loopback", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {key}", "connection": "close"}
        statuses: list[int] = []
        barrier = threading.Barrier(24)

        def one() -> None:
            barrier.wait()
            statuses.append(httpx.post(url, json=body, headers=headers, timeout=30).status_code)

        threads = [threading.Thread(target=one) for _ in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(statuses) == [200] * 8 + [429] * 16
        # Revoked in the shared database (as `tokligence keys revoke` does).
        db = open_database(sqlite_url(tmp_path / "data" / "identity.db"))
        try:
            store.revoke_key(db, record.id)
        finally:
            close_database(db)
        revoked_at = time.monotonic()
        time.sleep(1.2)  # auth_cache_ttl (1 s) and a margin
        after = [
            httpx.get(
                f"http://127.0.0.1:{running.port}/v1/models", headers=headers, timeout=10
            ).status_code
            for _ in range(40)  # new connections: every worker is asked
        ]
        assert set(after) == {401}, (after, time.monotonic() - revoked_at)
    finally:
        assert running.stop() == 0


async def test_a_worker_that_cannot_be_started_does_not_end_the_supervisor(
    tmp_path: Path,
    autojump_clock: object,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import trio

    from tests.gateway_thread import isolated_config
    from tokligence.workers import Supervisor

    async def out_of_processes(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(trio.lowlevel, "open_process", out_of_processes)
    supervisor = Supervisor(isolated_config(tmp_path), [])
    with trio.move_on_after(60):
        await supervisor._keep(0)  # raises nothing: it keeps trying, ever slower
    starts = [r.message for r in caplog.records if "could not be started" in r.message]
    assert len(starts) >= 3
    assert starts[-1].endswith("starting it again in 30.0s")  # the pause has reached its cap
