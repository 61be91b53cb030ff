"""Anthropic Messages bodies -> canonical :class:`Response`, plus the pieces
the stream decoder (``codec_anthropic_stream``) shares with it.

Theory of operation
-------------------
A non-stream body is a filled-in message: its content blocks map one to one
onto canonical parts (``thinking`` keeps its signature byte for byte and an
empty-text block with a signature is real; ``tool_use.input`` becomes the
compact JSON text of the object). Server-tool blocks and unknown types have
no canonical part: they are kept in ``Response.extra["anthropic_blocks"]``
as ``{"at": k, "block": {...}}`` (insert before part ``k``), the convention
the Anthropic front uses for requests.

Stop reasons map one to one (``model_context_window_exceeded`` ->
``context_window_exceeded``; unknown -> ``end_turn``); ``end_turn`` after a
tool call is ``tool_use`` and ``tool_use`` without one is ``end_turn``;
``stop_sequence`` is None unless a non-empty sequence matched. Usage keeps
Anthropic's meaning (``input_tokens`` excludes cache; cache creation and
cache reads are separate; ``output_tokens_details.thinking_tokens`` ->
``reasoning_tokens``). Anthropic sends no creation time: ``created`` is 0
and the pipeline stamps the clock. A body missing its id or model gets a
stable id derived from the request body and the requested model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..canonical import (
    ContentPart,
    Finish,
    ReasoningPart,
    RedactedReasoningPart,
    Response,
    StopReason,
    StreamError,
    TextPart,
    ToolCallPart,
    Usage,
)
from ..errors import ErrorKind, UpstreamBroken, UpstreamErrorStatus
from .base import Encoded
from .common import custom_input_or_raw

CUT_STREAM = "upstream stream ended before completion"
STOP_REASONS: Mapping[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    "model_context_window_exceeded": "context_window_exceeded",
}
ERROR_KINDS: Mapping[str, ErrorKind] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
    "billing_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "api_error": "api_error",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
    "gateway_timeout_error": "timeout",
}
# Anthropic's wording for a prompt over the context window; OpenAI clients
# (Codex) act on the code "context_length_exceeded".
_TOO_LONG = ("prompt is too long", "context window", "context length")
OPAQUE_BLOCKS = "anthropic_blocks"


# ------------------------------------------------------------ shared pieces


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(raw: Any) -> Usage | None:
    """A ``usage`` object (message, message_start or message_delta)."""
    if not isinstance(raw, Mapping):
        return None
    details = raw.get("output_tokens_details")
    return Usage(
        input_tokens=_count(raw.get("input_tokens")),
        output_tokens=_count(raw.get("output_tokens")),
        cache_read_tokens=_count(raw.get("cache_read_input_tokens")),
        cache_write_tokens=_count(raw.get("cache_creation_input_tokens")),
        reasoning_tokens=_count(details.get("thinking_tokens"))
        if isinstance(details, Mapping)
        else 0,
    )


def stop_fields(raw_reason: Any, raw_sequence: Any, *, tool_called: bool) -> Finish:
    reason = STOP_REASONS.get(raw_reason, "end_turn") if isinstance(raw_reason, str) else "end_turn"
    if reason == "end_turn" and tool_called:
        reason = "tool_use"  # the upstream says "done" while a tool waits
    elif reason == "tool_use" and not tool_called:
        reason = "end_turn"
    sequence = raw_sequence if reason == "stop_sequence" and isinstance(raw_sequence, str) else None
    return Finish(stop_reason=reason, stop_sequence=sequence or None)


def error_code(error_type: str, message: str) -> str | None:
    """The OpenAI-style code an Anthropic error means, if any."""
    if error_type == "billing_error":
        return "insufficient_quota"
    if error_type == "invalid_request_error" and any(t in message.lower() for t in _TOO_LONG):
        return "context_length_exceeded"
    return None


def error_fields(payload: Mapping[str, Any]) -> tuple[str | None, str] | None:
    """(type, message) of an ``{"type": "error", "error": {...}}`` envelope;
    the type is None when the envelope does not say (a proxy's own)."""
    error = payload.get("error")
    if not isinstance(error, Mapping):
        return None
    error_type = error.get("type")
    error_type = error_type if isinstance(error_type, str) and error_type else None
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = f"upstream reported {error_type or 'an error'}"
    return error_type, message


def stream_error(payload: Mapping[str, Any]) -> StreamError:
    error_type, message = error_fields(payload) or (None, "upstream reported an error")
    error_type = error_type or "api_error"
    kind = ERROR_KINDS.get(error_type, "api_error")
    return StreamError(kind=kind, message=message, code=error_code(error_type, message))


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def fallback_id(encoded: Encoded) -> str:
    return "msg_" + hashlib.sha256(encoded.body).hexdigest()[:24]


def request_model(encoded: Encoded) -> str:
    try:
        model = json.loads(encoded.body).get("model")
    except (ValueError, AttributeError):
        return ""
    return model if isinstance(model, str) else ""


# ------------------------------------------------------------- non-stream


def decode_message(body: bytes, encoded: Encoded) -> Response:
    try:
        obj = json.loads(body)
    except ValueError:
        raise UpstreamBroken("api_error", "upstream response is not JSON", status=502) from None
    if not isinstance(obj, dict):
        raise UpstreamBroken("api_error", "upstream response is not a JSON object", status=502)
    if obj.get("type") == "error":
        error_type, message = error_fields(obj) or (None, "upstream reported an error")
        error_type = error_type or "api_error"
        kind = ERROR_KINDS.get(error_type, "api_error")
        raise UpstreamErrorStatus(kind, message, code=error_code(error_type, message))
    blocks = obj.get("content")
    if not isinstance(blocks, list):
        raise UpstreamBroken("api_error", "upstream response has no content array", status=502)
    parts: list[ContentPart] = []
    opaque: list[dict[str, Any]] = []
    for block in blocks:
        part = _part(block, encoded) if isinstance(block, dict) else None
        if part is not None:
            parts.append(part)
        elif isinstance(block, dict) and block.get("type") not in ("text", "thinking"):
            opaque.append({"at": len(parts), "block": block})
    tool_called = any(isinstance(p, ToolCallPart) for p in parts)
    finish = stop_fields(obj.get("stop_reason"), obj.get("stop_sequence"), tool_called=tool_called)
    return Response(
        id=str(obj.get("id") or fallback_id(encoded)),
        model=str(obj.get("model") or request_model(encoded)),
        created=0,
        content=tuple(parts),
        stop_reason=finish.stop_reason,
        stop_sequence=finish.stop_sequence,
        usage=usage_of(obj.get("usage")) or Usage(),
        extra={OPAQUE_BLOCKS: opaque} if opaque else None,
    )


def _part(block: dict[str, Any], encoded: Encoded) -> ContentPart | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str) or not text:
            return None
        citations = block.get("citations")
        return TextPart(text=text, extra={"citations": citations} if citations else {})
    if kind == "thinking":
        signature = block.get("signature")
        thinking = block.get("thinking")
        if not signature and not thinking:
            return None
        return ReasoningPart(
            text=thinking if isinstance(thinking, str) else "",
            signature=signature if isinstance(signature, str) and signature else None,
            vendor="anthropic",
        )
    if kind == "redacted_thinking" and isinstance(block.get("data"), str):
        return RedactedReasoningPart(data=block["data"], vendor="anthropic")
    if kind == "tool_use":
        name = str(block.get("name") or "")
        arguments = compact(block.get("input") if isinstance(block.get("input"), dict) else {})
        custom = name in encoded.custom_tools
        return ToolCallPart(
            id=str(block.get("id") or ""),
            name=name,
            arguments=custom_input_or_raw(arguments) if custom else arguments,
            kind="custom" if custom else "function",
        )
    return None  # server tool blocks and unknown types: kept in Response.extra
