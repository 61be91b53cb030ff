"""OpenAI Chat Completions responses, usage and errors -> canonical.

Theory of operation
-------------------
Every OpenAI-compatible server answers in roughly OpenAI's shape, with
dialects: reasoning text as ``reasoning_content`` (DeepSeek, vLLM),
``reasoning`` (OpenRouter, vLLM) or ``reasoning_details`` (OpenRouter), cache
hits as ``prompt_tokens_details.cached_tokens`` or DeepSeek's
``prompt_cache_hit_tokens``, errors as OpenAI's envelope or as a bare
``{"error": "..."}`` / ``{"message": ...}`` / ``{"detail": ...}``. The helpers
here accept all of them and produce one canonical meaning; the stream
decoder (``codec_openai_chat_stream``) shares them.

Semantics that matter: Chat's ``prompt_tokens`` *includes* cached tokens,
canonical ``input_tokens`` excludes them; a response that carries tool
calls stopped for ``tool_use`` whatever its ``finish_reason`` says (some
servers say ``stop``). ``created`` is 0 when the upstream gives none; the
pipeline stamps the current time over a 0 (codecs read no clock).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..canonical import (
    ContentPart,
    ReasoningPart,
    Response,
    StopReason,
    StreamError,
    TextPart,
    ToolCallPart,
    Usage,
)
from ..errors import ErrorKind, GatewayError, UpstreamBroken, UpstreamErrorStatus, kind_for_status
from .base import Encoded
from .common import custom_input, upstream_error

_FINISH: Mapping[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "model_length": "max_tokens",  # Mistral's name for the context limit
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
    # Servers that echo Anthropic's names.
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_use",
    "stop_sequence": "end_turn",  # which sequence matched is unknown; never ""
    "refusal": "refusal",
}

_KIND_BY_NAME: Mapping[str, ErrorKind] = {
    "invalid_request_error": "invalid_request",
    "context_length_exceeded": "invalid_request",
    "authentication_error": "authentication",
    "invalid_api_key": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "model_not_found": "not_found",
    "rate_limit_error": "rate_limit",
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "overloaded_error": "overloaded",
    "overloaded": "overloaded",
    "server_overloaded": "overloaded",
    "server_error": "api_error",
    "api_error": "api_error",
    "request_too_large": "request_too_large",
    "timeout": "timeout",
}

# Longest excerpt of a non-JSON error body (an HTML page from a proxy) kept
# in a message: enough to recognise it, never the whole body.
EXCERPT = 200
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
# OpenAI's 401 message quotes the (masked) key; keep even the mask out of logs.
_KEYS = re.compile(r"\b(sk|rk|pk|sess)-[A-Za-z0-9_*\-]{4,}")


# -------------------------------------------------------------------- usage


def _count(obj: Mapping[str, Any] | None, key: str) -> int:
    value = obj.get(key) if obj is not None else None
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def usage_of(usage: Mapping[str, Any]) -> Usage:
    """One Chat ``usage`` object in canonical terms (input excludes cache)."""
    prompt = _count(usage, "prompt_tokens")
    details = _mapping(usage.get("prompt_tokens_details"))
    cache_read = _count(details, "cached_tokens")
    if not cache_read:
        # DeepSeek splits the prompt into hit + miss; Moonshot puts it flat.
        cache_read = _count(usage, "prompt_cache_hit_tokens") or _count(usage, "cached_tokens")
    cache_write = _count(details, "cache_write_tokens")
    output = _count(usage, "completion_tokens")
    return Usage(
        input_tokens=max(prompt - cache_read - cache_write, 0),
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=_count(
            _mapping(usage.get("completion_tokens_details")), "reasoning_tokens"
        ),
    )


def usage_from(payload: Mapping[str, object]) -> Usage | None:
    usage = _mapping(payload.get("usage"))
    return usage_of(usage) if usage is not None else None


# ------------------------------------------------------------------- errors


def clean(message: str) -> str:
    """An upstream message with anything that looks like an API key masked."""
    return _KEYS.sub(lambda m: f"{m.group(1)}-***", message)


def _envelope(obj: Mapping[str, Any]) -> tuple[str, str | None, str | None, str | None] | None:
    """(message, type, code, param) of an error payload, or None if it is not one."""
    error = obj.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        kind, code, param = error.get("type"), error.get("code"), error.get("param")
        return (
            message if isinstance(message, str) and message else "upstream reported an error",
            kind if isinstance(kind, str) else None,
            code if isinstance(code, str) else None,
            param if isinstance(param, str) else None,
        )
    if isinstance(error, str) and error:
        return error, None, None, None
    for key in ("message", "detail"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value, None, None, None
        if key == "detail" and value:  # FastAPI validation errors: a list of objects
            return json.dumps(value, ensure_ascii=False)[:EXCERPT], None, None, None
    return None


def is_error(obj: Mapping[str, Any]) -> bool:
    # Some servers put "error": null (or "") on every good chunk.
    return bool(obj.get("error"))


def kind_of(obj: Mapping[str, Any], default: ErrorKind = "api_error") -> ErrorKind:
    """The neutral kind an in-body error names by code, type or status."""
    error = obj.get("error")
    fields = error if isinstance(error, Mapping) else obj
    for key in ("code", "type"):
        name = fields.get(key)
        if isinstance(name, str) and name in _KIND_BY_NAME:
            return _KIND_BY_NAME[name]
    for key in ("code", "status"):
        status = fields.get(key)
        if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
            return kind_for_status(status)
    return default


def stream_error(obj: Mapping[str, Any]) -> StreamError:
    found = _envelope(obj) or ("upstream reported an error", None, None, None)
    message, _, code, _ = found
    return StreamError(kind=kind_of(obj), message=clean(message), code=code)


def body_error(obj: Mapping[str, Any]) -> GatewayError:
    """An error envelope that came with a 2xx status."""
    found = _envelope(obj) or ("upstream reported an error", None, None, None)
    message, _, code, param = found
    return UpstreamErrorStatus(kind_of(obj), clean(message), code=code, param=param)


def decode_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    lowered = {key.lower(): value for key, value in headers.items()}
    found = None
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        obj = None
    if isinstance(obj, Mapping):
        found = _envelope(obj)
    if found is None:
        text = _SPACES.sub(" ", _TAGS.sub(" ", body.decode("utf-8", errors="replace"))).strip()
        message = f"upstream returned HTTP {status}"
        if text:
            message += f": {text[:EXCERPT]}"
        return upstream_error(status, clean(message), lowered)
    message, _, code, param = found
    return upstream_error(status, clean(message), lowered, code=code, param=param)


# ---------------------------------------------------------------- responses


def finish_reason(
    reason: object, *, tool_calls: bool, refusal: bool, default: StopReason = "end_turn"
) -> StopReason:
    """Chat's ``finish_reason`` in neutral terms, corrected for what was seen."""
    mapped = _FINISH.get(reason, default) if isinstance(reason, str) else default
    if tool_calls and mapped == "end_turn":
        return "tool_use"  # the upstream lied (ollama, o1-pro ... say "stop")
    if not tool_calls and mapped == "tool_use":
        return "end_turn"
    if refusal and mapped == "end_turn":
        return "refusal"
    return mapped


def reasoning_pieces(obj: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(text, is_summary) of the reasoning in a message or delta.

    OpenRouter sends the same text as ``reasoning`` *and* ``reasoning_details``;
    only the first dialect present counts, so nothing is doubled.
    """
    for key in ("reasoning_content", "reasoning"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return [(value, False)]
    details = obj.get("reasoning_details")
    pieces: list[tuple[str, bool]] = []
    if isinstance(details, list):
        for item in details:
            if not isinstance(item, Mapping):
                continue
            text, summary = item.get("text"), item.get("summary")
            if isinstance(text, str) and text:
                pieces.append((text, False))
            elif isinstance(summary, str) and summary:
                pieces.append((summary, True))
    return pieces


def arguments_text(value: object) -> str:
    """Raw arguments text; a few servers send an object instead of a string."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def content_text(value: object) -> str:
    """Message content as text: a string, or (some servers) an array of parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            p["text"] for p in value if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return ""


def _invalid(reason: str) -> GatewayError:
    return UpstreamBroken(
        "api_error", f"upstream returned an invalid response: {reason}", status=502
    )


def decode_response(body: bytes, encoded: Encoded) -> Response:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("not JSON") from None
    if not isinstance(obj, Mapping):
        raise _invalid("not a JSON object")
    if is_error(obj):
        raise body_error(obj)
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise _invalid("no choices")
    choice = choices[0]
    message = _mapping(choice.get("message")) or {}
    content: list[ContentPart] = []
    reasoning = reasoning_pieces(message)
    if reasoning:
        content.append(
            ReasoningPart(
                text="".join(t for t, summary in reasoning if not summary),
                summary=tuple(t for t, summary in reasoning if summary),
            )
        )
    text = content_text(message.get("content"))
    if text:
        content.append(TextPart(text=text))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append(TextPart(text=refusal, extra={"refusal": True}))
    calls = _tool_calls(message, encoded)
    content.extend(calls)
    usage = _mapping(obj.get("usage"))
    created = obj.get("created")
    return Response(
        id=str(obj.get("id") or ""),
        model=str(obj.get("model") or ""),
        created=created if isinstance(created, int) and not isinstance(created, bool) else 0,
        content=tuple(content),
        stop_reason=finish_reason(
            choice.get("finish_reason"),
            tool_calls=bool(calls),
            refusal=isinstance(refusal, str) and bool(refusal),
        ),
        usage=usage_of(usage) if usage is not None else Usage(),
    )


def _tool_calls(message: Mapping[str, Any], encoded: Encoded) -> list[ToolCallPart]:
    calls: list[ToolCallPart] = []
    raw = message.get("tool_calls")
    items = [c for c in raw if isinstance(c, Mapping)] if isinstance(raw, list) else []
    legacy = _mapping(message.get("function_call"))
    if legacy is not None:
        items.append({"id": "call_legacy_0", "type": "function", "function": legacy})
    for n, item in enumerate(items):
        call_id = item.get("id") if isinstance(item.get("id"), str) and item.get("id") else None
        call_id = call_id or f"call_{n}"
        custom = _mapping(item.get("custom"))
        if item.get("type") == "custom" and custom is not None:
            calls.append(
                ToolCallPart(
                    id=call_id,
                    name=str(custom.get("name") or ""),
                    arguments=arguments_text(custom.get("input")),
                    kind="custom",
                )
            )
            continue
        fn = _mapping(item.get("function")) or {}
        name = str(fn.get("name") or "")
        arguments = arguments_text(fn.get("arguments"))
        if name in encoded.custom_tools:
            raw_input = custom_input(arguments)
            calls.append(
                ToolCallPart(
                    id=call_id,
                    name=name,
                    arguments=arguments if raw_input is None else raw_input,
                    kind="custom",
                )
            )
        else:
            calls.append(ToolCallPart(id=call_id, name=name, arguments=arguments))
    return calls
