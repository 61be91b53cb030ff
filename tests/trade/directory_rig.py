"""A directory served in the test's own trio run, on 127.0.0.1, with a clock
the test moves (so expiry is tested without waiting for it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trio

from tokligence.server.http import HttpLimits
from tokligence.trade.directory.server import MAX_BODY_BYTES, Directory, DirectorySettings

from .directory_samples import NOW

TTL = 90.0
SKEW = 300.0


@dataclass
class Clock:
    """The directory's wall clock in Unix ms, moved by the test."""

    now: int = NOW

    def __call__(self) -> int:
        return self.now


@dataclass
class Running:
    url: str
    port: int
    clock: Clock
    directory: Directory
    http: httpx.AsyncClient = field(init=False)


def settings(data_dir: Path, *, port: int = 0, ttl: float = TTL) -> DirectorySettings:
    return DirectorySettings(
        host="127.0.0.1",
        port=port,
        data_dir=data_dir,
        ttl=ttl,
        clock_skew=SKEW,
        limits=HttpLimits(max_body_bytes=MAX_BODY_BYTES),
        max_connections=64,
        grace=1.0,
    )


@asynccontextmanager
async def running_directory(
    data_dir: Path, *, port: int = 0, ttl: float = TTL, clock: Clock | None = None
) -> AsyncIterator[Running]:
    clock = clock or Clock()
    directory = Directory(settings(data_dir, port=port, ttl=ttl), clock=clock)
    async with trio.open_nursery() as nursery:
        (bound,) = await nursery.start(directory.run)
        running = Running(
            url=f"http://127.0.0.1:{bound.port}", port=bound.port, clock=clock, directory=directory
        )
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
            running.http = http
            try:
                yield running
            finally:
                directory.shutdown()
