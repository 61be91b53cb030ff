"""The loopback model as an :class:`~tokligence.upstreams.base.Upstream`.

It speaks every dialect itself, so a call to it is always *native*: events
for the model endpoints, its own vectors for embeddings. It never relays
(nothing reaches a network), and it cannot fail in a way the circuit
breaker should count, but it has one like every upstream.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping

import trio

from ..canonical import Event, Request, Usage
from ..canonical.tokens import text_tokens
from ..codecs.usage_sniff import UsageReader
from ..errors import GatewayError, InternalError
from ..routing.breaker import CircuitBreaker
from . import loopback
from .base import CallContext, Embeddings, Relayed


class LoopbackUpstream:
    name = "loopback"
    dialects: tuple[str, ...] = ()
    may_stall = False
    models: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.breaker = CircuitBreaker()

    async def events(
        self, request: Request, *, response_id: str, created: int, context: CallContext
    ) -> AsyncIterator[Event]:
        for event in loopback.respond(request, response_id=response_id, created=created):
            # A checkpoint per event: a disconnected client cancels us here,
            # and a long answer cannot starve other connections.
            await trio.lowlevel.checkpoint()
            yield event

    async def embed(self, inputs: tuple[str, ...], dimensions: int | None) -> Embeddings:
        dims = dimensions or loopback.DEFAULT_EMBEDDING_DIMENSIONS
        return Embeddings(
            vectors=[loopback.embed(text, dims) for text in inputs],
            usage=Usage(input_tokens=sum(text_tokens(text) for text in inputs)),
        )

    async def relay(self, path: str, body: bytes, context: CallContext) -> Relayed:
        # Unreachable: with no dialect of its own, no call passes through to it.
        raise InternalError("api_error", "the loopback model relays nothing")

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return InternalError("api_error", "the loopback model relays nothing")

    def head_timeout(self, stream: bool) -> float:
        return math.inf  # it answers at once

    def usage_reader(self, dialect: str) -> UsageReader:
        return lambda payload: None

    async def aclose(self) -> None:
        return None
