"""A configured provider whose HTTP client is made on its first use.

httpx (with the urllib, http.client, email and cookie-jar modules it
imports) is about 7% of a start's instructions, and no request needs it
before the first one that goes upstream. :class:`DeferredProvider` answers
what the router and the calls read at start-up (name, dialects, models,
breaker) from the configuration, and makes the
:class:`~tokligence.upstreams.client.ProviderClient` the first time it is
asked for anything else. :func:`warm_up`, run in a worker thread once the
gateway listens (app.py), imports the client module in the background, so
that the first upstream call normally finds it loaded; one that comes
sooner waits for that import to finish, as it did before start-up.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

from ..providers import ProviderConfig
from ..routing.breaker import CircuitBreaker

if TYPE_CHECKING:
    from ..canonical import Event, Request
    from ..codecs.base import Codec
    from ..codecs.usage_sniff import UsageReader
    from ..errors import GatewayError
    from .base import CallContext, Embeddings, Relayed
    from .client import ProviderClient

log = logging.getLogger(__name__)

CLIENT_MODULE = "tokligence.upstreams.client"


def warm_up() -> None:
    """Import the HTTP client (blocking: run it in a worker thread). A
    failure is only logged: this runs beside the server, and the first call
    that needs the client meets the same error in its own request."""
    try:
        importlib.import_module(CLIENT_MODULE)
    except Exception:
        log.exception("importing the providers' HTTP client in the background failed")


class DeferredProvider:
    """An :class:`~tokligence.upstreams.base.Upstream` that stands for the
    ``ProviderClient`` it makes on first use, with the same arguments."""

    may_stall = True  # network upstreams can go silent: the call sends keep-alives

    def __init__(
        self,
        config: ProviderConfig,
        *,
        codec: Codec,
        forward_client_key: bool,
        breaker: CircuitBreaker,
        max_connections: int,
    ) -> None:
        self.config = config
        self.name = config.name
        self.dialects = config.dialects
        self.models = config.models
        self.breaker = breaker
        self._codec = codec
        self._forward_client_key = forward_client_key
        self._max_connections = max_connections
        self._client: ProviderClient | None = None

    def client(self) -> ProviderClient:
        """The provider's client, made (and httpx imported) on the first call."""
        if self._client is None:
            from .client import ProviderClient

            self._client = ProviderClient(
                self.config,
                codec=self._codec,
                forward_client_key=self._forward_client_key,
                breaker=self.breaker,
                max_connections=self._max_connections,
            )
        return self._client

    def events(
        self, request: Request, *, response_id: str, created: int, context: CallContext
    ) -> AsyncIterator[Event]:
        return self.client().events(
            request, response_id=response_id, created=created, context=context
        )

    async def relay(self, path: str, body: bytes, context: CallContext) -> Relayed:
        return await self.client().relay(path, body, context)

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return self.client().error_for(status, body, headers)

    def head_timeout(self, stream: bool) -> float:
        return self.client().head_timeout(stream)

    def usage_reader(self, dialect: str) -> UsageReader:
        return self.client().usage_reader(dialect)

    async def embed(self, inputs: tuple[str, ...], dimensions: int | None) -> Embeddings:
        return await self.client().embed(inputs, dimensions)

    async def aclose(self) -> None:
        if self._client is not None:  # never used: nothing to close
            await self._client.aclose()
