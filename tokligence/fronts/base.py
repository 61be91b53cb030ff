"""The contract every client dialect implements.

A front is pure: it turns request bytes into a canonical :class:`Request`,
and canonical responses, events and errors into the bytes its clients expect.
It never sees sockets, so every case is a table-driven test.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..canonical import Event, Request, Response
from ..errors import GatewayError


class IllegalStreamEvent(RuntimeError):
    """A renderer was fed an event its state machine cannot accept (an
    upstream or codec bug). The renderer's state is unchanged, so the caller
    can still ``close()`` it, which ends the stream with the protocol's error."""


class StreamRenderer(Protocol):
    """A state machine turning canonical events into one SSE response body.

    ``feed`` is called for every event in order and returns the bytes to send
    now (possibly empty); ``close`` is called once when the event source ends
    and returns the closing bytes. If the events never reached ``Finish`` or
    ``StreamError``, ``close`` renders the protocol's in-stream error (the
    stream was cut) rather than a success terminator. ``keepalive`` returns
    bytes that keep an idle connection alive without changing the stream's
    meaning (Anthropic ``ping``, an SSE comment elsewhere).
    """

    def feed(self, event: Event) -> bytes: ...

    def close(self) -> bytes: ...

    def keepalive(self) -> bytes: ...


class Front(Protocol):
    dialect: str

    def parse_request(self, body: bytes) -> Request:
        """Parse and validate a request body; raise ``GatewayError`` (400)
        naming the offending field on invalid input."""
        ...

    def parse_object(self, obj: dict[str, Any]) -> Request:
        """``parse_request`` for a body the caller already decoded."""
        ...

    def render_response(self, response: Response, request: Request) -> bytes:
        """The complete non-stream JSON body."""
        ...

    def stream_renderer(self, request: Request) -> StreamRenderer: ...

    def render_error(self, error: GatewayError) -> bytes:
        """The protocol's JSON error envelope (status travels separately)."""
        ...
