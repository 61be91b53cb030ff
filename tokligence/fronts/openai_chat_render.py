"""Render canonical responses, stream events and errors as OpenAI Chat Completions.

Theory of operation
-------------------
Non-stream: :func:`render_response` folds a :class:`Response` into one
``chat.completion`` object with a single choice.

Stream: :class:`ChatStreamRenderer` is a state machine fed canonical events.
Every chunk repeats the same ``id``, ``created`` and ``model``. The chunk that
introduces ``role: "assistant"`` is held back until the first event that
renders something, because its shape depends on that event: text starts with
the recorded ``{role, content: "", refusal: null}`` chunk, while a turn that
opens with a tool call or reasoning carries ``content: null`` so a tool-only
turn never accumulates ``content: ""`` (which translators turn into an empty,
rejected text block). Reasoning goes out as ``reasoning_content`` deltas,
never as ``content``. Tool calls get chat indices 0, 1, 2 ... in order of
their start, whatever canonical indices the upstream used, and fragments are
routed by that map, so interleaved parallel calls stay apart.

``Finish`` renders the finish chunk, the usage chunk (only when the client
asked for ``include_usage``; then, as OpenAI does, every other chunk carries
``"usage": null``) and ``[DONE]``. ``StreamError``, or ``close`` before
``Finish``, renders an ``{"error": ...}`` data line and no ``[DONE]``, so
clients see a failure rather than a short success. Events after the end, or
out of order, raise :class:`StreamStateError`: they are gateway bugs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

from ..canonical import (
    Event,
    Finish,
    MessageStart,
    ReasoningDelta,
    ReasoningPart,
    ReasoningSignature,
    RedactedReasoning,
    Request,
    Response,
    StopReason,
    StreamError,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolKind,
    Usage,
    UsageUpdate,
    merge_usage,
)
from ..wire.json_body import dumps
from ..wire.sse_write import COMMENT_KEEPALIVE, event, raw_data
from .base import IllegalStreamEvent

ID_PREFIX: Final = "chatcmpl-"

FINISH_REASONS: Final[Mapping[StopReason, str]] = MappingProxyType(
    {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "max_tokens": "length",
        "tool_use": "tool_calls",
        "content_filter": "content_filter",
        "refusal": "content_filter",
        "pause_turn": "stop",
        "context_window_exceeded": "length",
    }
)

# Neutral error kind -> (OpenAI error ``type``, default ``code``). OpenAI itself
# answers 401 with type invalid_request_error + code invalid_api_key, 403/404 with
# invalid_request_error, 429 with type "requests" + code rate_limit_exceeded, and
# 5xx with server_error; the SDK picks its exception class from the status alone.
ERROR_TYPES: Final[Mapping[str, tuple[str, str | None]]] = MappingProxyType(
    {
        "invalid_request": ("invalid_request_error", None),
        "authentication": ("invalid_request_error", "invalid_api_key"),
        "permission": ("invalid_request_error", None),
        "not_found": ("invalid_request_error", None),
        "method_not_allowed": ("invalid_request_error", None),
        "request_too_large": ("invalid_request_error", None),
        "rate_limit": ("requests", "rate_limit_exceeded"),
        "api_error": ("server_error", None),
        "overloaded": ("server_error", "overloaded"),
        "timeout": ("timeout", None),
        "unavailable": ("server_error", None),
    }
)

CUT_STREAM_MESSAGE: Final = "upstream stream ended before completion"


class StreamStateError(IllegalStreamEvent):
    """An event arrived that the stream's state does not allow (a gateway bug)."""


def chat_id(raw: str) -> str:
    return raw if raw.startswith(ID_PREFIX) else ID_PREFIX + raw


def finish_reason(stop_reason: StopReason, *, had_tool_calls: bool) -> str:
    # Upstreams that called a tool but say "stop" would make clients drop the call.
    if had_tool_calls and stop_reason not in ("tool_use", "max_tokens"):
        return "tool_calls"
    return FINISH_REASONS[stop_reason]


def error_body(
    kind: str, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    error_type, default_code = ERROR_TYPES.get(kind, ("server_error", None))
    return {
        "error": {
            "message": message,
            "type": error_type,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


def usage_body(usage: Usage) -> dict[str, Any]:
    prompt_details: dict[str, int] = {"cached_tokens": usage.cache_read_tokens, "audio_tokens": 0}
    if usage.cache_write_tokens:  # newer API field; omitted when there is nothing to say
        prompt_details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_call_body(call: ToolCallPart) -> dict[str, Any]:
    if call.kind == "custom":
        return {
            "id": call.id,
            "type": "custom",
            "custom": {"name": call.name, "input": call.arguments},
        }
    return {
        "id": call.id,
        "type": "function",
        # No argument text means no arguments: "{}" is what clients can parse.
        "function": {"name": call.name, "arguments": call.arguments or "{}"},
    }


def render_response(response: Response, request: Request) -> bytes:
    content: list[str] = []
    refusal: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in response.content:
        if isinstance(part, TextPart):
            (refusal if part.extra.get("refusal") is True else content).append(part.text)
        elif isinstance(part, ReasoningPart):
            reasoning.append(part.text + "".join(part.summary))
        elif isinstance(part, ToolCallPart):
            calls.append(_tool_call_body(part))
        # Redacted reasoning and bare signatures have no chat representation.
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    message["refusal"] = "".join(refusal) or None
    message["annotations"] = []
    body: dict[str, Any] = {
        "id": chat_id(response.id),
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(response.stop_reason, had_tool_calls=bool(calls)),
            }
        ],
        "usage": usage_body(response.usage),
    }
    service_tier = (response.extra or {}).get("service_tier")
    if isinstance(service_tier, str):
        body["service_tier"] = service_tier
    body["system_fingerprint"] = None
    return dumps(body)


# -------------------------------------------------------------------- stream

State = Literal["awaiting_start", "started", "streaming", "finished", "failed", "closed"]

_CONTENT_EVENTS: Final = frozenset(
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

# The transition table: which events each state accepts. "started" means
# MessageStart was seen but no chunk was sent; "streaming" means the role
# chunk is out. The end states accept nothing.
ALLOWED: Final[Mapping[State, frozenset[type]]] = MappingProxyType(
    {
        "awaiting_start": frozenset({MessageStart, StreamError}),
        "started": _CONTENT_EVENTS,
        "streaming": _CONTENT_EVENTS,
        "finished": frozenset(),
        "failed": frozenset(),
        "closed": frozenset(),
    }
)


class ChatStreamRenderer:
    """Canonical events -> ``chat.completion.chunk`` SSE body (one choice)."""

    def __init__(self, request: Request) -> None:
        self._include_usage = request.include_usage
        self._state: State = "awaiting_start"
        self._id = ""
        self._model = ""
        self._created = 0
        self._usage: Usage | None = None
        self._tools: dict[int, tuple[int, ToolKind]] = {}  # canonical index -> (chat index, kind)
        self._ended: set[int] = set()
        self._with_args: set[int] = set()  # calls that have sent argument text

    @property
    def state(self) -> State:
        return self._state

    def feed(self, ev: Event) -> bytes:
        if type(ev) not in ALLOWED[self._state]:
            raise StreamStateError(f"{type(ev).__name__} is not allowed in state {self._state!r}")
        if isinstance(ev, MessageStart):
            self._id, self._model, self._created = chat_id(ev.id), ev.model, ev.created
            if ev.usage is not None:
                self._usage = merge_usage(self._usage, ev.usage)
            self._state = "started"
            return b""
        if isinstance(ev, TextDelta):
            if not ev.text:
                return b""
            head = self._role({"content": "", "refusal": None})
            return head + self._chunk({"content": ev.text})
        if isinstance(ev, ReasoningDelta):
            if not ev.text:
                return b""
            if self._state == "started":
                return self._role({"content": None, "reasoning_content": ev.text, "refusal": None})
            return self._chunk({"reasoning_content": ev.text})
        if isinstance(ev, ToolCallStart):
            return self._tool_start(ev)
        if isinstance(ev, ToolCallDelta):
            return self._tool_delta(ev)
        if isinstance(ev, ToolCallEnd):
            self._known_tool(ev.index)
            out = self._empty_arguments(ev.index)
            self._ended.add(ev.index)
            return out
        if isinstance(ev, UsageUpdate):
            self._usage = merge_usage(self._usage, ev.usage)
            return b""
        if isinstance(ev, Finish):
            return self._finish(ev)
        if isinstance(ev, StreamError):
            self._state = "failed"
            return self._error(ev.kind, ev.message, ev.code)
        # ReasoningSignature / RedactedReasoning: opaque, no chat representation.
        return b""

    def close(self) -> bytes:
        state = self._state
        if state == "closed":
            raise StreamStateError("close() called twice")
        self._state = "closed"
        if state in ("finished", "failed"):
            return b""
        return self._error("api_error", CUT_STREAM_MESSAGE, None)

    def keepalive(self) -> bytes:
        if self._state == "closed":
            raise StreamStateError("keepalive() after close()")
        return COMMENT_KEEPALIVE

    # ------------------------------------------------------------ helpers

    def _role(self, delta: dict[str, Any]) -> bytes:
        """The role chunk, merged with ``delta``, if it has not gone out yet."""
        if self._state != "started":
            return b""
        self._state = "streaming"
        return self._chunk({"role": "assistant", **delta})

    def _tool_start(self, ev: ToolCallStart) -> bytes:
        if ev.index in self._tools:
            raise StreamStateError(f"tool call index {ev.index} started twice")
        chat_index = len(self._tools)
        self._tools[ev.index] = (chat_index, ev.kind)
        call: dict[str, Any] = {"index": chat_index, "id": ev.id, "type": ev.kind}
        if ev.kind == "custom":
            call["custom"] = {"name": ev.name, "input": ""}
        else:
            call["function"] = {"name": ev.name, "arguments": ""}
        if self._state == "started":
            return self._role({"content": None, "tool_calls": [call], "refusal": None})
        return self._chunk({"tool_calls": [call]})

    def _tool_delta(self, ev: ToolCallDelta) -> bytes:
        chat_index, kind = self._known_tool(ev.index)
        if ev.index in self._ended:
            raise StreamStateError(f"tool call index {ev.index} received arguments after its end")
        if not ev.arguments:
            return b""
        self._with_args.add(ev.index)
        if kind == "custom":
            call = {"index": chat_index, "custom": {"input": ev.arguments}}
        else:
            call = {"index": chat_index, "function": {"arguments": ev.arguments}}
        return self._chunk({"tool_calls": [call]})

    def _known_tool(self, index: int) -> tuple[int, ToolKind]:
        if index not in self._tools:
            raise StreamStateError(f"tool call index {index} was never started")
        return self._tools[index]

    def _empty_arguments(self, index: int) -> bytes:
        """A function call that streamed no argument text (a tool without
        parameters) still gets ``{}``: clients json-parse what they
        accumulated, and an empty string is not JSON."""
        chat_index, kind = self._tools[index]
        if kind == "custom" or index in self._with_args or index in self._ended:
            return b""
        self._with_args.add(index)
        call = {"index": chat_index, "function": {"arguments": "{}"}}
        return self._chunk({"tool_calls": [call]})

    def _finish(self, ev: Finish) -> bytes:
        out = b"".join(self._empty_arguments(index) for index in self._tools)
        out += self._role({"content": "", "refusal": None})
        reason = finish_reason(ev.stop_reason, had_tool_calls=bool(self._tools))
        out += self._chunk({}, reason)
        if self._include_usage:
            out += event(
                None,
                {**self._envelope(), "choices": [], "usage": usage_body(self._usage or Usage())},
            )
        self._state = "finished"
        return out + raw_data(b"[DONE]")

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
        }

    def _chunk(self, delta: dict[str, Any], reason: str | None = None) -> bytes:
        body = self._envelope()
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]
        if self._include_usage:
            body["usage"] = None
        return event(None, body)

    def _error(self, kind: str, message: str, code: str | None) -> bytes:
        return event(None, error_body(kind, message, code=code))
