"""The contract of an upstream codec: canonical <-> one provider's wire format.

A codec is pure (no sockets, no httpx): the HTTP adapter in
``upstreams/client.py`` asks it for the path and body to send, and hands it
the bytes and SSE events that come back. One codec per wire protocol; each
named provider (OpenAI, DeepSeek, a local vLLM ...) picks one by dialect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..canonical import Event, Request, Response, Usage
from ..errors import GatewayError
from ..wire.sse_read import SseEvent
from .model_limits import DEFAULT_MAX_TOKENS


@dataclass(frozen=True, kw_only=True, slots=True)
class EncodeOptions:
    """What a codec needs to know about the target beyond the request.

    ``model`` is the upstream model name (after aliases). ``default_max_tokens``
    is used when the client gave none and the protocol requires one;
    ``max_output_tokens`` is the model's real output limit (None: unknown, no
    clamp). ``reasoning_model`` says whether the target accepts reasoning
    controls (OpenAI ``reasoning_effort``); ``thinking`` whether it accepts
    Anthropic ``thinking``.
    """

    model: str
    stream: bool
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    max_output_tokens: int | None = None
    reasoning_model: bool = False
    thinking: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class Encoded:
    """A request ready to send: path relative to the provider's base URL,
    the JSON body, and notes on what the translation had to drop or change
    (logged, never sent)."""

    path: str
    body: bytes
    notes: tuple[str, ...] = ()
    custom_tools: frozenset[str] = field(default_factory=frozenset)
    """Names of freeform tools sent upstream as one-string-parameter
    functions; the decoder re-wraps their calls as custom tool calls."""


class StreamDecoder(Protocol):
    """Turns one upstream SSE stream into canonical events.

    ``feed`` takes each decoded SSE event in order and returns the canonical
    events it completes; ``close`` is called at end of stream and returns
    what remains — a ``Finish`` if the upstream finished, otherwise a
    ``StreamError`` saying the stream was cut. Decoders never raise on odd
    but survivable input; a malformed event that cannot be survived becomes
    a ``StreamError``.
    """

    def feed(self, event: SseEvent) -> list[Event]: ...

    def close(self) -> list[Event]: ...


class Codec(Protocol):
    dialect: str

    def encode(self, request: Request, options: EncodeOptions) -> Encoded: ...

    def decode_response(self, body: bytes, encoded: Encoded) -> Response:
        """A complete non-stream response body; raises ``GatewayError`` if it
        is an error envelope or not a valid response."""
        ...

    def stream_decoder(self, encoded: Encoded) -> StreamDecoder: ...

    def decode_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        """The upstream's error response as a neutral error (status, kind,
        message, retry_after from ``retry-after``/``retry-after-ms``)."""
        ...

    def usage_from(self, payload: Mapping[str, object]) -> Usage | None:
        """Usage found in one JSON payload of this protocol (a whole
        response or one stream event), for passthrough sniffing."""
        ...
