"""The contract between the pipeline and an upstream provider.

An upstream turns a canonical request into canonical events. Adapters that
talk to the network live beside their pure codec; ``dialect`` names the
client dialect the provider speaks natively (None for loopback, which speaks
every dialect), which is what the work-mode decision compares against.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from ..canonical import Event, Request


class Upstream(Protocol):
    name: str
    dialect: str | None

    def events(self, request: Request, *, response_id: str, created: int) -> AsyncIterator[Event]:
        """The response as events; raises ``GatewayError`` before the first
        event for failures that happen before the response begins."""
        ...
