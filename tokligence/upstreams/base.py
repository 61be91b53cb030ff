"""The contract between a model call and an upstream provider.

Everything a call needs of a provider is here, so no caller inspects the
concrete class behind it (:class:`~tokligence.upstreams.client.ProviderClient`
for a network provider, :class:`~tokligence.upstreams.loopback_upstream.LoopbackUpstream`
for the built-in model):

* ``dialects`` names the client dialects the provider speaks natively (empty
  for loopback, which answers every dialect itself): the work-mode decision
  compares against it;
* :meth:`events` answers a canonical request as canonical events
  (translation, and loopback's native answers);
* :meth:`relay` forwards a same-dialect body and returns the provider's
  status, headers and raw bytes (passthrough, ``count_tokens`` and
  embeddings included), and :meth:`error_for` reads one of its error bodies;
* :meth:`embed` is the provider's own embeddings when it has no
  OpenAI-compatible endpoint to relay to (loopback);
* ``breaker`` is its health, ``may_stall`` whether it can go silent long
  enough to need keep-alives, ``models`` what it lists in ``/v1/models``;
* :meth:`head_timeout` is how long its response may take to begin: the
  call turns it into one deadline that its retries and fallbacks share
  (``CallContext.head_deadline``), which the provider's calls respect.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..canonical import Event, Request, Usage
from ..codecs.model_limits import DEFAULT_MAX_TOKENS
from ..codecs.usage_sniff import UsageReader
from ..errors import GatewayError
from ..routing.breaker import CircuitBreaker
from ..timing import UpstreamClock


@dataclass(frozen=True, kw_only=True, slots=True)
class CallContext:
    """What the client's request says about the upstream call."""

    client_key: str | None = None
    client_headers: tuple[tuple[str, str], ...] = ()
    query: str = ""
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    # When the upstream's response must have begun (trio clock), for every
    # attempt of the client's request: a timeout is never multiplied by the
    # retry count.
    head_deadline: float = math.inf
    # Marked as each attempt is sent and answered: the upstream's share of
    # the request's time (timing.py).
    clock: UpstreamClock = field(default_factory=UpstreamClock)
    request_id: str = ""  # the gateway's id of the client's request


@dataclass(frozen=True, kw_only=True, slots=True)
class Relayed:
    status: int
    headers: tuple[tuple[str, str], ...]
    chunks: AsyncIterator[bytes]
    aclose: Callable[[], Awaitable[None]]  # releases the upstream connection


@dataclass(frozen=True, kw_only=True, slots=True)
class Embeddings:
    vectors: list[list[float]]
    usage: Usage


class Upstream(Protocol):
    name: str
    dialects: tuple[str, ...]
    may_stall: bool
    breaker: CircuitBreaker
    models: tuple[str, ...]

    def events(
        self, request: Request, *, response_id: str, created: int, context: CallContext
    ) -> AsyncIterator[Event]:
        """The response as events; raises ``GatewayError`` before the first
        event for failures that happen before the response begins, and
        during the events for failures after."""
        ...

    async def relay(self, path: str, body: bytes, context: CallContext) -> Relayed:
        """Forward a same-dialect body; error statuses are returned, not
        raised. The caller must ``aclose()`` what it gets."""
        ...

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        """The error an error answer of this provider stands for."""
        ...

    def head_timeout(self, stream: bool) -> float:
        """Seconds its response may take to begin (``math.inf``: no limit)."""
        ...

    def usage_reader(self, dialect: str) -> UsageReader:
        """How to read usage from this provider's relayed ``dialect`` bodies."""
        ...

    async def embed(self, inputs: tuple[str, ...], dimensions: int | None) -> Embeddings:
        """Embeddings computed by the provider itself (no endpoint to relay to)."""
        ...

    async def aclose(self) -> None: ...
