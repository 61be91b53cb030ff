"""Canonical responses -> OpenAI Responses JSON: the Response object and its items.

Theory of operation
-------------------
A Responses answer is a list of *output items* (``message``, ``reasoning``,
``function_call``, ``custom_tool_call``) wrapped in a Response object that
also echoes the request's settings (instructions, tools, tool choice,
reasoning, text format, store ...), as the API does. The non-stream body here
and every lifecycle event of ``openai_responses_stream`` are built by the
same functions, so the two never disagree; a test compares them.

Ids are derived, never random: the response id is the canonical id with a
``resp_`` prefix (unless it has one), item ids are
``<msg|rs|fc|ctc>_<response id without resp_>_<output index>``. The
non-stream body keeps an upstream's own item ids when the canonical parts
carry them.

Opaque reasoning proofs are forwarded when OpenAI made them
(``encrypted_content``) and, marked, when they are Claude's thinking
signatures (``openai_responses_proofs``: the client replays them and they go
back to Anthropic); a redacted block or anyone else's proof is dropped.
Reasoning text becomes ``reasoning_text`` content of a ``reasoning`` item --
never output text.
"""

from __future__ import annotations

from typing import Any, Literal

from ..canonical import (
    CustomTool,
    FunctionTool,
    HostedTool,
    ReasoningPart,
    Request,
    Response,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolKind,
    Usage,
)
from ..wire.json_body import dumps
from .openai_responses_proofs import carry
from .openai_responses_tools import Namespaces, echo_tools

DIALECT = "openai_responses"

Status = Literal["completed", "incomplete", "failed", "in_progress"]

# Terminal status and ``incomplete_details.reason`` for each neutral stop reason.
STATUS: dict[StopReason, tuple[Status, str | None]] = {
    "end_turn": ("completed", None),
    "stop_sequence": ("completed", None),
    "tool_use": ("completed", None),
    "pause_turn": ("completed", None),
    "max_tokens": ("incomplete", "max_output_tokens"),
    # The window, not max_output_tokens, cut the output; clients react the same.
    "context_window_exceeded": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
    "refusal": ("incomplete", "content_filter"),
}

# ``response.error.code`` for an upstream failure, by neutral error kind.
_FAILURE_CODE: dict[str, str] = {
    "rate_limit": "rate_limit_exceeded",
    "invalid_request": "invalid_prompt",
    # "overloaded" (Anthropic 529) stays server_error on purpose: newer Codex
    # treats server_is_overloaded as final ("model is at capacity") but
    # retries server_error, and a 529 is usually over in seconds.
}

# Upstream codes forwarded as they are. Most are in the SDK's ResponseError
# literal. The last five are not, but the real API sends them and Codex keys
# behaviour on them (auto-compaction, no retry on an empty quota or plan,
# retry on capacity); the SDK builds stream events without validating that
# literal.
_FORWARDED_CODES = frozenset(
    {
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "vector_store_timeout",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "failed_to_download_image",
        "image_file_not_found",
        "context_length_exceeded",
        "insufficient_quota",
        "usage_not_included",
        "server_is_overloaded",
        "slow_down",
    }
)
_CONTEXT_CODES = frozenset({"context_window_exceeded", "model_context_window_exceeded"})

# Request fields echoed back only when the client sent them.
_ECHOED = ("background", "max_tool_calls", "prompt_cache_key", "safety_identifier", "top_logprobs")


def failure_code(kind: str, code: str | None) -> str:
    if code in _CONTEXT_CODES:
        return "context_length_exceeded"
    if code in _FORWARDED_CODES:
        return code
    return _FAILURE_CODE.get(kind, "server_error")


def response_id(raw: str) -> str:
    return raw if raw.startswith("resp_") else "resp_" + raw


def item_id(prefix: str, rid: str, index: int) -> str:
    return f"{prefix}_{rid.removeprefix('resp_')}_{index}"


# ------------------------------------------------------------------ envelope


def usage_object(usage: Usage) -> dict[str, Any]:
    # Responses input_tokens includes the cache (OpenAI meaning).
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def envelope(
    request: Request,
    *,
    rid: str,
    created: int,
    model: str,
    status: Status,
    output: list[dict[str, Any]],
    usage: Usage | None,
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Response object, echoing the request's settings as the API does."""
    own = request.extra if request.dialect == DIALECT else {}
    reasoning = request.reasoning
    body: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": "\n\n".join(p.text for p in request.system) if request.system else None,
        "max_output_tokens": request.max_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": True
        if request.parallel_tool_calls is None
        else request.parallel_tool_calls,
        "previous_response_id": own.get("previous_response_id"),
        "reasoning": {
            "effort": reasoning.effort if reasoning else None,
            "summary": reasoning.summary if reasoning else None,
        },
        "store": True if request.store is None else request.store,
        "temperature": request.temperature,
        "text": _text_config(request, own),
        "tool_choice": _tool_choice(request, own),
        "tools": echo_tools(request, _tool),
        "top_p": request.top_p,
        "truncation": own["truncation"] if isinstance(own.get("truncation"), str) else "disabled",
        "usage": usage_object(usage) if usage is not None else None,
        "user": request.user,
        "metadata": dict(request.metadata or {}),
    }
    body.update((key, own[key]) for key in _ECHOED if key in own)
    return body


def _text_config(request: Request, own: Any) -> dict[str, Any]:
    if isinstance(own.get("text"), dict):
        return dict(own["text"])
    fmt = request.response_format
    if fmt is None or fmt.kind != "json_schema":
        return {"format": {"type": fmt.kind if fmt else "text"}}
    schema: dict[str, Any] = {"type": "json_schema", "name": fmt.name or "response"}
    schema["schema"] = dict(fmt.schema or {})
    if fmt.description is not None:
        schema["description"] = fmt.description
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"format": schema}


def _tool_choice(request: Request, own: Any) -> Any:
    choice = request.tool_choice
    if choice is None:
        return own.get("tool_choice", "auto")
    if choice.mode != "tool":
        return choice.mode
    custom = any(isinstance(t, CustomTool) and t.name == choice.name for t in request.tools)
    return {"type": "custom" if custom else "function", "name": choice.name}


def _tool(tool: Any) -> dict[str, Any] | None:
    if isinstance(tool, FunctionTool):
        spec: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description is not None:
            spec["description"] = tool.description
        spec["parameters"] = dict(tool.parameters) if tool.parameters is not None else None
        spec["strict"] = tool.strict
        return {**spec, **tool.extra}
    if isinstance(tool, CustomTool):
        spec = {"type": "custom", "name": tool.name}
        if tool.description is not None:
            spec["description"] = tool.description
        if tool.format is not None:
            spec["format"] = dict(tool.format)
        return {**spec, **tool.extra}
    if isinstance(tool, HostedTool) and tool.dialect == DIALECT:
        return dict(tool.spec)
    return None  # another dialect's hosted tool has no Responses shape


# --------------------------------------------------------------------- items


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def message_item(iid: str, text: str | None) -> dict[str, Any]:
    """``text=None`` gives the still-empty item announced by ``output_item.added``."""
    return {
        "id": iid,
        "type": "message",
        "status": "in_progress" if text is None else "completed",
        "role": "assistant",
        "content": [] if text is None else [output_text(text)],
    }


def reasoning_item(
    iid: str, summary: list[str], raw: list[str], encrypted: str | None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": iid,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": s} for s in summary],
    }
    if raw:
        item["content"] = [{"type": "reasoning_text", "text": t} for t in raw]
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def call_item(
    iid: str,
    kind: ToolKind,
    call_id: str,
    name: str,
    arguments: str | None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """``arguments=None`` gives the item announced by ``output_item.added``.
    ``namespace`` is set for a member of a namespace tool, as OpenAI sets it."""
    item: dict[str, Any]
    if kind == "custom":
        item = {
            "id": iid,
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": name,
            "input": arguments or "",
        }
    else:
        item = {
            "id": iid,
            "type": "function_call",
            "status": "in_progress" if arguments is None else "completed",
            "arguments": arguments or "",
            "call_id": call_id,
            "name": name,
        }
    if namespace is not None:
        item["namespace"] = namespace
    return item


def function_arguments(kind: ToolKind, arguments: str) -> str:
    # A call with no arguments is "{}" on this wire; clients JSON-parse it.
    return "{}" if kind == "function" and not arguments else arguments


def render_response(response: Response, request: Request) -> bytes:
    rid = response_id(response.id)
    namespaces = Namespaces(request)
    items: list[dict[str, Any]] = []
    text: list[str] = []

    def flush_text() -> None:
        if "".join(text):
            items.append(message_item(item_id("msg", rid, len(items)), "".join(text)))
        text.clear()

    for part in response.content:
        if isinstance(part, TextPart):
            text.append(part.text)
            continue
        flush_text()
        if isinstance(part, ReasoningPart):
            encrypted = part.encrypted_content if part.vendor == "openai" else None
            if part.vendor == "anthropic" and part.signature:
                encrypted = carry(part.signature)  # see openai_responses_proofs
            raw = [part.text] if part.text else []
            if part.summary or raw or encrypted is not None:
                own_id = part.id if part.vendor == "openai" else None
                iid = own_id or item_id("rs", rid, len(items))
                items.append(reasoning_item(iid, list(part.summary), raw, encrypted))
        elif isinstance(part, ToolCallPart):
            iid = part.item_id or item_id("ctc" if part.kind == "custom" else "fc", rid, len(items))
            arguments = function_arguments(part.kind, part.arguments)
            namespace, name = namespaces.split(part.name)
            items.append(call_item(iid, part.kind, part.id, name, arguments, namespace))
        # RedactedReasoningPart: Anthropic's opaque data means nothing here.
    flush_text()
    status, reason = STATUS[response.stop_reason]
    body = envelope(
        request,
        rid=rid,
        created=response.created,
        model=response.model,
        status=status,
        output=items,
        usage=response.usage,
        incomplete_reason=reason,
    )
    return dumps(body)
