"""The Anthropic Messages upstream codec (``POST {base}/v1/messages``).

Theory of operation
-------------------
:class:`AnthropicCodec` is the one object the pipeline holds; the work is
split by direction:

* ``codec_anthropic_encode`` — canonical request -> request body (parameter
  map, thinking, tools); ``codec_anthropic_messages`` — the conversation
  (turns, tool-id pairing, blocks, reasoning fidelity);
* ``codec_anthropic_decode`` — message bodies -> canonical response;
  ``codec_anthropic_stream`` — SSE streams -> canonical events.

This module adds what the two share with the HTTP adapter: error envelopes
(before a stream begins) and usage sniffing for passthrough.

Error envelopes are ``{"type": "error", "error": {"type", "message"}}``.
The Anthropic error type decides the neutral kind (``overloaded_error`` ->
overloaded, also when a proxy changes the status); the HTTP status is kept.
Two types also get an OpenAI-style code that OpenAI clients act on:
``billing_error`` -> ``insufficient_quota``, a "prompt is too long"
``invalid_request_error`` -> ``context_length_exceeded``. A body that is not
an envelope (an HTML page from a proxy) becomes "upstream returned HTTP
<status>" plus a short excerpt. ``retry-after-ms`` / ``retry-after`` become
``GatewayError.retry_after``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from ..canonical import Request, Response, Usage
from ..errors import GatewayError
from .anthropic_decode import ERROR_KINDS, decode_message, error_code, error_fields, usage_of
from .anthropic_encode import encode_request
from .anthropic_stream import AnthropicStreamDecoder
from .base import Encoded, EncodeOptions
from .common import upstream_error

DIALECT: Final = "anthropic_messages"
EXCERPT_CHARS = 200  # longest piece of a non-JSON error body quoted in a message


class AnthropicCodec:
    dialect: str = DIALECT

    def encode(self, request: Request, options: EncodeOptions) -> Encoded:
        return encode_request(request, options)

    def decode_response(self, body: bytes, encoded: Encoded) -> Response:
        return decode_message(body, encoded)

    def stream_decoder(self, encoded: Encoded) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(encoded)

    def decode_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return decode_error(status, body, headers)

    def usage_from(self, payload: Mapping[str, object]) -> Usage | None:
        return usage_from(payload)


def decode_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        payload: Any = json.loads(body)
    except ValueError:
        payload = None
    fields = error_fields(payload) if isinstance(payload, dict) else None
    if fields is None:
        return upstream_error(status, _describe(status, payload, body), lowered)
    error_type, message = fields
    code = error_code(error_type, message) if error_type else None
    error = upstream_error(status, message, lowered, code=code)
    kind = ERROR_KINDS.get(error_type) if error_type else None
    if kind is not None:
        error.kind = kind
    return error


def _describe(status: int, payload: Any, body: bytes) -> str:
    """A message for an error body that is not Anthropic's envelope."""
    if isinstance(payload, dict):
        for key in ("message", "error", "detail"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])  # an OpenAI-shaped envelope from a proxy
    excerpt = " ".join(body.decode("utf-8", errors="replace").split())
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[:EXCERPT_CHARS] + "..."
    prefix = f"upstream returned HTTP {status}"
    return f"{prefix}: {excerpt}" if excerpt else prefix


def usage_from(payload: Mapping[str, object]) -> Usage | None:
    """Usage in a message body, ``message_start`` or ``message_delta``. The
    output count of ``message_start`` is a placeholder and is left out."""
    kind = payload.get("type")
    if kind == "message_start":
        message = payload.get("message")
        usage = usage_of(message.get("usage")) if isinstance(message, Mapping) else None
        if usage is None:
            return None
        return Usage(
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        )
    if kind in ("message", "message_delta"):
        return usage_of(payload.get("usage"))
    return None
