"""The ledger across processes: nothing is lost when SIGTERM lands in the
middle of a load, nor when two gateway processes write one database
(SQLite file and PostgreSQL)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import trio

from tests.e2e.test_multiport import free_ports
from tests.e2e.test_process import clean_env, free_port, wait_healthy
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.queries import usage_summary

BODY = {"model": "loopback", "messages": [{"role": "user", "content": "count me"}]}


def start(tmp: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    full = clean_env(tmp) | env
    return subprocess.Popen(
        [sys.executable, "-m", "tokligence", "serve", "--port", str(port), "--log-level", "warn"],
        cwd=tmp,
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def hammer(
    port: int,
    total: int,
    concurrency: int,
    *,
    at: int = 0,
    action: Callable[[], None] | None = None,
) -> int:
    """Send ``total`` requests; returns how many got a complete answer.
    ``action`` runs once, right after the ``at``-th answer."""
    answered = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:

        async def one() -> None:
            nonlocal answered
            try:
                response = await client.post("/v1/chat/completions", json=BODY, timeout=30)
            except httpx.TransportError:
                return  # refused or cut: it never counted
            if response.status_code == 200 and response.json()["choices"]:
                answered += 1
                if answered == at and action is not None:
                    action()

        async with trio.open_nursery() as nursery:
            for _ in range(total):
                nursery.start_soon(one)
    return answered


def ledger_requests(url: str) -> int:
    db = open_database(url)
    try:
        return sum(t.requests for t in usage_summary(db, group_by="model"))
    finally:
        close_database(db)


async def test_sigterm_in_the_middle_of_a_load_loses_no_row(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    process = start(tmp_path, port, {"TOKLIGENCE_DATA_DIR": str(data)})
    try:
        wait_healthy(process, port)  # type: ignore[arg-type]
        answered = await hammer(
            port, 600, 40, at=150, action=lambda: process.send_signal(signal.SIGTERM)
        )
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    assert 0 < answered < 600  # the signal really landed mid-load
    assert ledger_requests(sqlite_url(data / "ledger.db")) == answered


async def two_processes_on(database_url: str, tmp_path: Path) -> None:
    ports = free_ports(2)
    processes = [
        start(tmp_path / f"p{i}", port, {"TOKLIGENCE_DATABASE_URL": database_url})
        for i, port in enumerate(ports)
        if (tmp_path / f"p{i}").mkdir() is None
    ]
    try:
        for process, port in zip(processes, ports, strict=True):
            wait_healthy(process, port)  # type: ignore[arg-type]
        counts: list[int] = []

        async def load(port: int) -> None:
            counts.append(await hammer(port, 250, 20))

        async with trio.open_nursery() as nursery:
            for port in ports:
                nursery.start_soon(load, port)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert counts == [250, 250]
    assert ledger_requests(database_url) == 500


async def test_two_gateways_share_one_sqlite_ledger(tmp_path: Path) -> None:
    await two_processes_on(sqlite_url(tmp_path / "shared" / "ledger.db"), tmp_path)


async def test_two_gateways_share_one_postgresql_ledger(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("postgresql"):
        await two_processes_on(database_url, tmp_path)
    else:  # the sqlite half of the fixture's parameters is the test above
        assert database_url.startswith("sqlite")
