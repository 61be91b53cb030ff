"""The Anthropic Messages client dialect (``POST /v1/messages``).

Theory of operation
-------------------
:class:`AnthropicMessagesFront` is the :class:`~tokligence.fronts.base.Front`
the server calls. Parsing lives in ``anthropic_messages_parse`` (bodies of
``/v1/messages`` and ``/v1/messages/count_tokens`` -> canonical ``Request``,
unknown fields carried in ``extra``); the stream state machine and the
formatting shared with it live in ``anthropic_messages_render``. This module
renders the non-stream Message body, error envelopes and token counts.

Non-stream decisions (the stream makes the same ones, see the render module):

* Empty text parts render nothing: Anthropic refuses empty text blocks when
  the client sends the turn back.
* Tool input: empty arguments -> ``{}``; a JSON object -> itself; anything
  else (truncated or invalid JSON, a non-object) -> ``{"_raw": text}``, so
  nothing is silently lost and the client's schema check fails loudly rather
  than running the tool with defaults. Custom (freeform) calls ->
  ``{"input": text}``.
* ``thinking.display: "omitted"`` (Claude Code's default): reasoning text is
  not shown, as Anthropic itself sends only the signature then. A block with
  a real Anthropic signature stays (empty text); other vendors' reasoning,
  having no signature, renders nothing at all -- never as text.
* Errors render as ``{"type": "error", "error": {"type", "message"}}``; the
  HTTP status travels on the :class:`GatewayError`. No ``request_id`` is
  invented: the gateway has none of Anthropic's to give.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..canonical import (
    ContentPart,
    Finish,
    ReasoningPart,
    RedactedReasoningPart,
    Request,
    Response,
    TextPart,
    ToolKind,
)
from ..errors import GatewayError
from ..wire.json_body import dumps
from .anthropic_messages_parse import parse_messages, parse_messages_object
from .anthropic_messages_render import (
    AnthropicStreamRenderer,
    error_payload,
    message_id,
    stop_fields,
    thinking_block,
    tool_id,
    usage_fields,
)

__all__ = ["AnthropicMessagesFront", "AnthropicStreamRenderer"]


class AnthropicMessagesFront:
    dialect = "anthropic_messages"

    def parse_request(self, body: bytes) -> Request:
        return parse_messages(body)

    def parse_object(self, obj: dict[str, Any]) -> Request:
        return parse_messages_object(obj)

    def parse_count_tokens(self, obj: dict[str, Any]) -> Request:
        """``/v1/messages/count_tokens``: as messages, without ``max_tokens``
        and ``stream`` (both ignored if sent)."""
        return parse_messages_object(obj, count_tokens=True)

    def render_response(self, response: Response, request: Request) -> bytes:
        return dumps(render_message(response, omit_reasoning_text=reasoning_omitted(request)))

    def render_count_tokens(self, input_tokens: int) -> bytes:
        return dumps({"input_tokens": input_tokens})

    def stream_renderer(self, request: Request) -> AnthropicStreamRenderer:
        return AnthropicStreamRenderer(omit_reasoning_text=reasoning_omitted(request))

    def render_error(self, error: GatewayError) -> bytes:
        return dumps(error_payload(error.kind, error.message))


def reasoning_omitted(request: Request) -> bool:
    """Whether the client asked for ``thinking.display: "omitted"`` (Claude
    Code does): it wants no thinking text back, only signed blocks."""
    return request.reasoning is not None and request.reasoning.display == "omitted"


def render_message(response: Response, *, omit_reasoning_text: bool = False) -> dict[str, Any]:
    """The complete non-stream Message object."""
    mid = message_id(response.id)
    blocks: list[dict[str, Any]] = []
    for part in response.content:
        if omit_reasoning_text and isinstance(part, ReasoningPart):
            part = replace(part, text="", summary=())
        block = _content_block(part, mid, len(blocks))
        if block is not None:
            blocks.append(block)
    finish = Finish(stop_reason=response.stop_reason, stop_sequence=response.stop_sequence)
    emitted_tool = any(b["type"] == "tool_use" for b in blocks)
    reason, sequence = stop_fields(finish, emitted_tool=emitted_tool)
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": blocks,
        "stop_reason": reason,
        "stop_sequence": sequence,  # always present, even when null
        "usage": usage_fields(response.usage),
    }


def _content_block(part: ContentPart, mid: str, position: int) -> dict[str, Any] | None:
    """The block for one response part, or None when it renders nothing."""
    if isinstance(part, TextPart):
        if not part.text:
            return None
        block: dict[str, Any] = {"type": "text", "text": part.text}
        if "citations" in part.extra:  # other dialects' extras (annotations) stay behind
            block["citations"] = part.extra["citations"]
        return block
    if isinstance(part, ReasoningPart):
        text = part.text or "\n\n".join(part.summary)
        # Only Anthropic's own signatures are valid; others become "" (never forged).
        signature = part.signature if part.vendor == "anthropic" and part.signature else ""
        if not text and not signature:  # e.g. an OpenAI encrypted blob alone
            return None
        return thinking_block(text, signature)
    if isinstance(part, RedactedReasoningPart):
        return {"type": "redacted_thinking", "data": part.data}
    return {
        "type": "tool_use",
        "id": tool_id(part.id, mid, position),
        "name": part.name,
        "input": _tool_input(part.arguments, part.kind),
    }


def _tool_input(arguments: str, kind: ToolKind) -> dict[str, Any]:
    if kind == "custom":
        return {"input": arguments}
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


if TYPE_CHECKING:  # the protocols are checked statically, not at import time
    from .base import Front, StreamRenderer

    _front: Front = AnthropicMessagesFront()
    _renderer: StreamRenderer = AnthropicStreamRenderer()
