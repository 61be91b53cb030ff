"""A seller's announcer against a real directory on 127.0.0.1 (announce,
heartbeat, announce again when forgotten, a directory that goes and comes
back) and against refusing ones (it retries and never stops)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from tokligence.trade.directory.announcer import MIN_INTERVAL, Announcer
from tokligence.trade.directory.client import DirectoryClient

from .directory_rig import Clock, Running, running_directory
from .directory_samples import URL, offer
from .keys import SELLER

WAIT = 20.0  # seconds: a bound on polling, never a measured duration


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class WallClock(Clock):
    """The real clock plus an offset the test moves (the directory's view)."""

    offset = 0

    def __call__(self) -> int:
        return wall_ms() + self.offset


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    with trio.fail_after(WAIT):
        while not await check():
            await trio.sleep(0.02)


async def announcement(running: Running) -> str | None:
    """The signed announcement the directory lists for SELLER, if any."""
    offers = (await running.http.get("/v1/directory/offers")).json()["offers"]
    mine = [e for e in offers if e["seller"] == SELLER.public_id]
    return json.dumps(mine[0]["announcement"]) if mine else None


def announcer(url: str) -> tuple[Announcer, DirectoryClient]:
    client = DirectoryClient(url)
    return Announcer(client, SELLER, url=URL, offers=[offer()], retry_initial=0.05), client


async def test_it_announces_heartbeats_and_announces_again_once_forgotten(
    tmp_path: Path,
) -> None:
    clock = WallClock()
    async with running_directory(tmp_path, ttl=1.5, clock=clock) as running:
        seller, client = announcer(running.url)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(seller.run)
            await until(lambda: _listed(running))
            first = await announcement(running)
            assert seller.interval == 0.5  # a third of the directory's TTL
            clock.offset += 1_500  # the directory's clock passes the TTL: expired there
            # Its next heartbeat is refused as unknown, and it announces again.
            await until(lambda: _changed(running, first))
            nursery.cancel_scope.cancel()
        await client.aclose()


async def _listed(running: Running) -> bool:
    return await announcement(running) is not None


async def _changed(running: Running, before: str | None) -> bool:
    now = await announcement(running)
    return now is not None and now != before


async def test_a_directory_that_goes_and_comes_back_keeps_the_entry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = WallClock()
    caplog.set_level(logging.DEBUG, logger="tokligence")
    seller: Announcer | None = None
    async with trio.open_nursery() as nursery:
        async with running_directory(tmp_path, ttl=6, clock=clock) as running:
            port = running.port
            seller, client = announcer(running.url)
            nursery.start_soon(seller.run)
            await until(lambda: _listed(running))
            first = await announcement(running)
        # Gone: the seller retries, quietly after the first warning.
        await until(lambda: _warned(caplog))
        async with running_directory(tmp_path, port=port, ttl=6, clock=clock) as running:
            caplog.clear()
            await until(lambda: _heartbeat_reached(caplog))
            # The restarted directory still held it: a heartbeat, no new announcement.
            assert await announcement(running) == first
            nursery.cancel_scope.cancel()
    await client.aclose()
    assert seller is not None and seller.announced


async def _warned(caplog: pytest.LogCaptureFixture) -> bool:
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "announcing to the directory failed" in r.getMessage()
    ]
    return len(warnings) == 1


async def _heartbeat_reached(caplog: pytest.LogCaptureFixture) -> bool:
    return any(
        "POST /v1/directory/heartbeat" in r.getMessage() and "status=200" in r.getMessage()
        for r in caplog.records
    )


class Refusing:
    """A directory that refuses, or asks for heartbeats absurdly often."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        self.status, self.body, self.asked = status, body, 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.asked += 1
        data = json.dumps(self.body).encode()
        return httpx.Response(self.status, stream=httpx.ByteStream(data))

    def client(self) -> DirectoryClient:
        return DirectoryClient("http://127.0.0.1:9", transport=httpx.MockTransport(self.handle))


async def test_a_refusing_directory_is_retried_with_backoff_forever(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    refusing = Refusing(401, {"error": {"code": "bad_signature", "message": "no"}})
    seller = Announcer(refusing.client(), SELLER, url=URL, offers=[offer()])
    with caplog.at_level(logging.DEBUG, logger="tokligence"):
        with trio.move_on_after(300):
            await seller.run()  # never returns, never raises
    # 0.5, 1, 2 … then every 30 s (the default interval): about 15 in 300 s.
    assert 10 <= refusing.asked <= 20
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "bad_signature" in warnings[0].getMessage()
    assert not seller.announced


async def test_a_directory_cannot_make_a_seller_spin(
    autojump_clock: trio.testing.MockClock,
) -> None:
    eager = Refusing(200, {"heartbeat_ms": 0, "ttl_ms": 0, "seller": SELLER.public_id})
    seller = Announcer(eager.client(), SELLER, url=URL, offers=[offer()])
    with trio.move_on_after(10):
        await seller.run()
    assert seller.interval == MIN_INTERVAL
    assert eager.asked <= 10 / MIN_INTERVAL + 1
