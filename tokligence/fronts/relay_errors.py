"""In-stream errors for relayed (passthrough) streams.

A passthrough relays the upstream's own events, so there is no renderer
state machine to close; when the upstream breaks off (abrupt close, silence
past the read timeout) the client must still see its protocol's in-stream
error and no success terminator, exactly as on a translated stream. For
Responses, the error continues the upstream's sequence numbers and ends
with ``response.failed`` about the upstream's own response id.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..wire.sse_write import event
from .anthropic_messages_render import error_payload
from .openai_chat_render import error_body
from .openai_responses_render import failure_code


@dataclass(frozen=True, kw_only=True, slots=True)
class RelayState:
    """What a relay saw of a Responses stream (nothing for other dialects)."""

    last_sequence: int = -1
    response_id: str | None = None
    model: str | None = None
    created_at: int = 0


def relayed_stream_error(
    dialect: str, kind: str, message: str, code: str | None = None, state: RelayState | None = None
) -> bytes:
    if dialect == "anthropic_messages":
        return event("error", error_payload(kind, message))
    if dialect == "openai_responses":
        seen = state or RelayState()
        wire_code = failure_code(kind, code)
        failure = {"code": wire_code, "message": message}
        error = {
            "type": "error",
            "sequence_number": seen.last_sequence + 1,
            "code": wire_code,
            "message": message,
            "param": None,
        }
        response = {
            "id": seen.response_id or "resp_unstarted",
            "object": "response",
            "created_at": seen.created_at,
            "status": "failed",
            "error": failure,
            "incomplete_details": None,
            "model": seen.model or "",
            "output": [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
        failed = {
            "type": "response.failed",
            "sequence_number": seen.last_sequence + 2,
            "response": response,
        }
        return event("error", error) + event("response.failed", failed)
    return event(None, error_body(kind, message, code=code))
