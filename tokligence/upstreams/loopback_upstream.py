"""The loopback model as an :class:`~tokligence.upstreams.base.Upstream`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

from ..canonical import Event, Request
from . import loopback


class LoopbackUpstream:
    name = "loopback"
    dialect: str | None = None

    async def events(
        self, request: Request, *, response_id: str, created: int
    ) -> AsyncIterator[Event]:
        for event in loopback.respond(request, response_id=response_id, created=created):
            # A checkpoint per event: a disconnected client cancels us here,
            # and a long answer cannot starve other connections.
            await trio.lowlevel.checkpoint()
            yield event
