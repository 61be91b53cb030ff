"""The contract between the pipeline and an upstream provider.

An upstream turns a canonical request into canonical events. ``dialects``
names the client dialects the provider speaks natively (empty for loopback,
which answers every dialect itself), which is what the work-mode decision
compares against; ``may_stall`` says whether it can go silent long enough
to need keep-alives (network upstreams can, loopback cannot).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from ..canonical import Event, Request

if TYPE_CHECKING:
    from .client import CallContext


class Upstream(Protocol):
    name: str
    dialects: tuple[str, ...]
    may_stall: bool

    def events(
        self, request: Request, *, response_id: str, created: int, context: CallContext
    ) -> AsyncIterator[Event]:
        """The response as events; raises ``GatewayError`` before the first
        event for failures that happen before the response begins."""
        ...
