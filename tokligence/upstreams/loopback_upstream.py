"""The loopback model as an :class:`~tokligence.upstreams.base.Upstream`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import trio

from ..canonical import Event, Request
from . import loopback

if TYPE_CHECKING:
    from .client import CallContext


class LoopbackUpstream:
    name = "loopback"
    dialects: tuple[str, ...] = ()
    may_stall = False

    async def events(
        self, request: Request, *, response_id: str, created: int, context: CallContext
    ) -> AsyncIterator[Event]:
        for event in loopback.respond(request, response_id=response_id, created=created):
            # A checkpoint per event: a disconnected client cancels us here,
            # and a long answer cannot starve other connections.
            await trio.lowlevel.checkpoint()
            yield event
