"""Canonical stream events -> Anthropic Messages SSE (plus the formatting the
non-stream body in ``anthropic_messages`` shares with it).

Theory of operation
-------------------
Anthropic clients (the SDK accumulator, Claude Code) index content blocks by
position and abort on any lifecycle slip, so the stream renderer is an
explicit state machine over the *open block*:

    NEW --MessageStart--> IDLE <--open/close block--> TEXT | THINKING | TOOL | REDACTED
    IDLE, TEXT, THINKING, TOOL --Finish | StreamError--> DONE
    any --close() before DONE--> DONE (in-stream error: the stream was cut)

``_ACCEPTS`` lists the events each state allows.

Content events say which kind of block they need; if another kind is open it
is closed first, so blocks are strictly sequential with indices 0, 1, 2 ... and
a delta only ever goes to the open block. Any event not allowed in the current
state (content before ``message_start``, a second ``message_start``, anything
after the terminal event, a fragment for an unknown or already closed tool
call) raises :class:`IllegalTransition`: a bug upstream of us, never papered
over with a malformed stream.

Tool calls are keyed by canonical index. Upstreams may interleave fragments of
parallel calls; a call that starts while another tool block is open waits in
a queue with its fragments buffered, and is opened (fragments flushed) when the
open call ends, when a fragment for it arrives while no tool block is open, or
at ``Finish``. Text or thinking arriving while a call is open closes that call;
a later fragment for it is an illegal transition (its end is simply noted).

Keep-alives are ``event: ping`` inside the message; before ``message_start``
(nothing may precede it) an SSE comment; after the terminal event, nothing.

Decisions documented here because the wire cannot say them:

* ``stop_reason`` is ``tool_use`` exactly when a tool_use block was emitted and
  the upstream said ``end_turn``/``stop_sequence``/``tool_use`` (upstreams lie
  both ways); ``stop_sequence`` is null unless a sequence really matched.
* Reasoning from another vendor renders as a ``thinking`` block with signature
  ``""``: Anthropic signatures are never forged. When the client asked for
  ``thinking.display: "omitted"`` reasoning text is not rendered at all; only
  a real signature opens a (text-less) thinking block, as Anthropic does. A
  non-Anthropic signature or encrypted blob alone renders nothing.
* Tool ids outside ``[a-zA-Z0-9_-]`` have each bad character replaced by ``_``.
* Custom (freeform) tool calls stream as the JSON text of ``{"input": text}``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..canonical import (
    Event,
    Finish,
    MessageStart,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    StopReason,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolKind,
    Usage,
    UsageUpdate,
    merge_usage,
)
from ..wire.sse_write import COMMENT_KEEPALIVE, event
from .base import IllegalStreamEvent

MESSAGE_PREFIX = "msg_"
CUT_MESSAGE = "upstream stream ended before completion"
# message_start must carry a non-zero output placeholder, as Anthropic's own do.
START_OUTPUT_TOKENS = 1

STOP_REASONS: Mapping[StopReason, str] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "content_filter": "refusal",  # Anthropic's only safety stop
    "refusal": "refusal",
    "pause_turn": "pause_turn",
    "context_window_exceeded": "model_context_window_exceeded",
}
_TOOL_STOPS = frozenset({"end_turn", "stop_sequence", "tool_use"})

ERROR_TYPES: Mapping[str, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "method_not_allowed": "invalid_request_error",  # Anthropic's type for other 4xx
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "api_error": "api_error",
    "overloaded": "overloaded_error",
    "timeout": "timeout_error",
    "unavailable": "api_error",
}


class IllegalTransition(IllegalStreamEvent):
    """An event arrived that the stream's current state does not allow."""


# ------------------------------------------------------------ shared pieces


def message_id(raw: str) -> str:
    return raw if raw.startswith(MESSAGE_PREFIX) else MESSAGE_PREFIX + raw


def _id_chars(raw: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", raw)


def tool_id(raw: str, mid: str, position: int) -> str:
    """A valid tool_use id: ``raw`` with bad characters replaced, or, if
    empty, one derived from the message id and block position."""
    return _id_chars(raw) or _id_chars(f"toolu_{mid[len(MESSAGE_PREFIX) :]}_{position}")


def error_payload(kind: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(kind, "api_error"), "message": message},
    }


def stop_fields(finish: Finish, *, emitted_tool: bool) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) as the client must see them."""
    reason = finish.stop_reason
    if reason in _TOOL_STOPS:
        reason = "tool_use" if emitted_tool else ("end_turn" if reason == "tool_use" else reason)
    sequence = finish.stop_sequence if reason == "stop_sequence" and finish.stop_sequence else None
    return STOP_REASONS[reason], sequence


def usage_fields(usage: Usage) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }
    if usage.reasoning_tokens:
        fields["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return fields


def thinking_block(text: str, signature: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": text, "signature": signature}


# ------------------------------------------------------------------ stream


class _State(enum.Enum):
    NEW = "new"  # nothing sent
    IDLE = "idle"  # message_start sent, no block open
    TEXT = "text"
    THINKING = "thinking"
    TOOL = "tool"
    REDACTED = "redacted"  # opened and closed at once: redacted thinking has no deltas
    DONE = "done"  # message_stop or error sent; nothing may follow


_LIVE = (_State.IDLE, _State.TEXT, _State.THINKING, _State.TOOL, _State.REDACTED)
_IN_MESSAGE: frozenset[type] = frozenset(
    {
        TextDelta,
        ReasoningDelta,
        ReasoningSignature,
        RedactedReasoning,
        ToolCallStart,
        ToolCallDelta,
        ToolCallEnd,
        UsageUpdate,
        Finish,
        StreamError,
    }
)
# Which events each state accepts; anything else is an IllegalTransition.
# Moves between the block states are made by _open/_close_block only.
_ACCEPTS: Mapping[_State, frozenset[type]] = {
    _State.NEW: frozenset({MessageStart}),
    **{state: _IN_MESSAGE for state in _LIVE},
    _State.DONE: frozenset(),
}


@dataclass(slots=True)
class _ToolCall:
    id: str
    name: str
    kind: ToolKind
    pending: list[str] = field(default_factory=list)  # fragments not yet sent
    ended: bool = False
    opened: bool = False
    closed: bool = False
    sent_any: bool = False  # custom calls: the {"input":" prefix went out


class AnthropicStreamRenderer:
    """Canonical events -> Anthropic SSE bytes (see module docstring)."""

    def __init__(self, *, omit_reasoning_text: bool = False) -> None:
        # thinking.display "omitted": reasoning text is dropped, signatures kept.
        self._omit_reasoning_text = omit_reasoning_text
        self._state = _State.NEW
        self._id = ""
        self._index = 0  # index of the open block, or of the next one
        self._pinged = False
        self._usage: Usage | None = None
        self._tools: dict[int, _ToolCall] = {}
        self._waiting: list[int] = []  # started, never opened, in start order
        self._open_tool: int | None = None
        self._emitted_tool = False

    # -- StreamRenderer protocol

    def feed(self, ev: Event) -> bytes:
        if type(ev) not in _ACCEPTS[self._state]:
            raise IllegalTransition(f"{type(ev).__name__} in state {self._state.value}")
        if isinstance(ev, MessageStart):
            return self._on_start(ev)
        if isinstance(ev, TextDelta):
            return self._on_text(ev)
        if isinstance(ev, ReasoningDelta):
            return self._on_reasoning(ev)
        if isinstance(ev, ReasoningSignature):
            return self._on_signature(ev)
        if isinstance(ev, RedactedReasoning):
            block = {"type": "redacted_thinking", "data": ev.data}
            return self._open(_State.REDACTED, block) + self._close_block()
        if isinstance(ev, (ToolCallStart, ToolCallDelta, ToolCallEnd)):
            return self._on_tool(ev)
        if isinstance(ev, UsageUpdate):
            self._usage = merge_usage(self._usage, ev.usage)
            return b""
        if isinstance(ev, Finish):
            return self._on_finish(ev)
        return self._on_error(ev)

    def close(self) -> bytes:
        if self._state is _State.DONE:
            return b""
        self._state = _State.DONE
        return event("error", error_payload("api_error", CUT_MESSAGE))

    def keepalive(self) -> bytes:
        if self._state is _State.NEW:
            # Nothing may precede message_start; a comment is invisible to clients.
            return COMMENT_KEEPALIVE
        # After the terminal event nothing may be written, not even a ping.
        return b"" if self._state is _State.DONE else event("ping", {"type": "ping"})

    # -- message level

    def _on_start(self, ev: MessageStart) -> bytes:
        self._state = _State.IDLE
        self._id = message_id(ev.id)
        self._usage = ev.usage
        usage = {**usage_fields(ev.usage or Usage()), "output_tokens": START_OUTPUT_TOKENS}
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": ev.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return event("message_start", {"type": "message_start", "message": message})

    def _on_finish(self, ev: Finish) -> bytes:
        out = self._leave() + self._drain_tools()
        reason, sequence = stop_fields(ev, emitted_tool=self._emitted_tool)
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        usage = usage_fields(self._usage or Usage())
        out += event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        self._state = _State.DONE
        return out + event("message_stop", {"type": "message_stop"})

    def _on_error(self, ev: StreamError) -> bytes:
        # The open block stays unclosed: a stop would claim it is complete.
        self._state = _State.DONE
        return event("error", error_payload(ev.kind, ev.message))

    # -- text and thinking

    def _on_text(self, ev: TextDelta) -> bytes:
        if not ev.text:  # never open a block that could stay empty
            return b""
        out = b""
        if self._state is not _State.TEXT:
            out = self._open(_State.TEXT, {"type": "text", "text": ""})
        return out + self._delta({"type": "text_delta", "text": ev.text})

    def _on_reasoning(self, ev: ReasoningDelta) -> bytes:
        if not ev.text or self._omit_reasoning_text:
            return b""
        out = b""
        if self._state is not _State.THINKING:
            out = self._open(_State.THINKING, thinking_block("", ""))
        return out + self._delta({"type": "thinking_delta", "thinking": ev.text})

    def _on_signature(self, ev: ReasoningSignature) -> bytes:
        valid = ev.vendor == "anthropic" and bool(ev.signature)
        out = b""
        if self._state is not _State.THINKING:
            if not valid:  # another vendor's blob alone: nothing an Anthropic client can use
                return b""
            # Signature-only thinking (display omitted) is a real block.
            out = self._open(_State.THINKING, thinking_block("", ""))
        if valid:
            out += self._delta({"type": "signature_delta", "signature": ev.signature})
        return out + self._close_block()

    # -- tool calls

    def _on_tool(self, ev: ToolCallStart | ToolCallDelta | ToolCallEnd) -> bytes:
        if isinstance(ev, ToolCallStart):
            if ev.index in self._tools:
                raise IllegalTransition(f"tool call index {ev.index} started twice")
            self._tools[ev.index] = _ToolCall(id=ev.id, name=ev.name, kind=ev.kind)
            self._waiting.append(ev.index)
            return b"" if self._state is _State.TOOL else self._leave() + self._open_next_tool()
        call = self._tools.get(ev.index)
        if call is None:
            raise IllegalTransition(f"{type(ev).__name__} for unknown tool index {ev.index}")
        if isinstance(ev, ToolCallEnd):
            call.ended = True
            if self._open_tool == ev.index:
                return self._close_block() + self._open_next_tool()
            if call.opened:  # already closed by other content; nothing left to say
                return b""
            return b"" if self._state is _State.TOOL else self._leave() + self._open_next_tool()
        if call.closed:
            raise IllegalTransition(f"argument fragment for closed tool call {ev.index}")
        if call.ended:
            raise IllegalTransition(f"argument fragment after end of tool call {ev.index}")
        if self._open_tool == ev.index:
            return self._input_delta(call, ev.arguments)
        call.pending.append(ev.arguments)
        return b"" if self._state is _State.TOOL else self._leave() + self._open_next_tool()

    def _open_next_tool(self) -> bytes:
        """Open waiting calls in start order, flushing their fragments and
        closing those already ended, until one stays open or none wait."""
        out = b""
        while self._waiting and self._state is not _State.TOOL:
            out += self._leave()
            index = self._waiting.pop(0)
            call = self._tools[index]
            call_id = tool_id(call.id, self._id, self._index)
            block = {"type": "tool_use", "id": call_id, "name": call.name, "input": {}}
            out += self._open(_State.TOOL, block)
            self._open_tool = index
            call.opened = True
            self._emitted_tool = True
            out += self._input_delta(call, "".join(call.pending))
            call.pending.clear()
            if call.ended:
                out += self._close_block()
        return out

    def _drain_tools(self) -> bytes:
        out = b""
        while self._waiting:
            out += self._open_next_tool() + self._leave()
        return out

    def _input_delta(self, call: _ToolCall, fragment: str) -> bytes:
        if call.kind == "custom":
            # Freeform input streams as the JSON text of {"input": "..."}.
            escaped = json.dumps(fragment, ensure_ascii=False)[1:-1]
            if not escaped:
                return b""
            fragment = escaped if call.sent_any else '{"input":"' + escaped
        if not fragment:
            return b""
        call.sent_any = True
        return self._delta({"type": "input_json_delta", "partial_json": fragment})

    # -- block lifecycle

    def _open(self, state: _State, block: dict[str, Any]) -> bytes:
        """Close whatever is open, then start ``block`` (entering ``state``)."""
        out = self._leave()
        payload = {"type": "content_block_start", "index": self._index, "content_block": block}
        out += event("content_block_start", payload)
        if not self._pinged:  # recorded streams ping once, after the first block start
            self._pinged = True
            out += event("ping", {"type": "ping"})
        self._state = state
        return out

    def _leave(self) -> bytes:
        return b"" if self._state is _State.IDLE else self._close_block()

    def _close_block(self) -> bytes:
        out = b""
        if self._state is _State.TOOL and self._open_tool is not None:
            call = self._tools[self._open_tool]
            if call.kind == "custom":
                suffix = '"}' if call.sent_any else '{"input":""}'
                out += self._delta({"type": "input_json_delta", "partial_json": suffix})
            call.closed = True
            self._open_tool = None
        out += event("content_block_stop", {"type": "content_block_stop", "index": self._index})
        self._index += 1
        self._state = _State.IDLE
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        payload = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return event("content_block_delta", payload)
