"""OpenAI Chat Completions SSE stream -> canonical events.

Theory of operation
-------------------
The decoder is a small state machine over ``data:`` payloads::

    waiting --first chunk--> streaming --[DONE] or close()--> done
                                 |  \\--finish_reason: remembered, calls closed
                                 \\--error payload--> done (StreamError)

``finish_reason`` does not end the stream: the usage chunk comes *after* it
(``stream_options.include_usage``), or on the finish chunk itself, or with
``choices: null``, or never. So ``Finish`` waits for ``[DONE]`` (or the end
of the body), and each new usage report becomes a ``UsageUpdate`` when it
arrives; reports are cumulative, so a later one replaces an earlier one.

Tool calls are merged strictly by the upstream's ``index``, never by order
of arrival and never as text. Each upstream call becomes a :class:`_Call`
with its own canonical index (0, 1, 2 ... in order of appearance). A call is
*started* (``ToolCallStart``) once both its id and name are known; fragments
that arrive earlier are buffered, and a call whose id never comes gets a
deterministic one when it ends. A fragment that reuses an index with a
different id (or, without an id, a different name) is a new call: the old
one ends there (Ollama via some proxies numbers every call 0). Argument
fragments pass through byte for byte, except for downgraded custom tools
(``Encoded.custom_tools``): those are buffered to the end, parsed, and their
``input`` string emitted as the call's raw text.

Reasoning arrives as ``reasoning_content``, ``reasoning`` or
``reasoning_details`` and is always a ``ReasoningDelta``, never visible text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..canonical import (
    Event,
    Finish,
    MessageStart,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolKind,
    Usage,
    UsageUpdate,
)
from ..wire.sse_read import SseEvent
from .base import Encoded
from .common import custom_input
from .openai_chat_decode import (
    arguments_text,
    clean,
    content_text,
    finish_reason,
    is_error,
    reasoning_pieces,
    stream_error,
    usage_of,
)

ENDED_EARLY = "upstream stream ended before completion"
NO_VALID_DATA = "upstream stream carried no valid data"
# Legacy ``function_call`` deltas have no index; they get a key no real index has.
_LEGACY = -1
# Longest plain-text error body quoted from an ``event: error`` line.
_EXCERPT = 200


class _Call:
    """One upstream tool call being assembled."""

    __slots__ = ("buffer", "ended", "id", "index", "name", "native_custom", "rewrap", "started")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id: str | None = None  # as the upstream gave it
        self.name: str | None = None
        self.native_custom = False
        self.rewrap = False  # a downgraded custom tool: buffer, then unwrap "input"
        self.started = False
        self.ended = False
        self.buffer: list[str] = []


class OpenAIChatStreamDecoder:
    def __init__(self, encoded: Encoded) -> None:
        self._custom_tools = encoded.custom_tools
        self._started = False
        self._done = False
        self._response_id = ""
        self._calls: list[_Call] = []
        self._by_upstream: dict[int, _Call] = {}
        self._reason: str | None = None
        self._finished = False
        self._refusal = False
        self._bad_payloads = 0
        self._usage: Usage | None = None

    # ------------------------------------------------------------ protocol

    def feed(self, event: SseEvent) -> list[Event]:
        if self._done:
            return []
        data = event.data.strip()
        if not data:
            return []
        if data == "[DONE]":
            return self._end()
        try:
            obj: Any = json.loads(data)
        except ValueError:
            if event.event == "error":
                self._done = True
                return [StreamError(kind="api_error", message=clean(data[:_EXCERPT]))]
            self._bad_payloads += 1  # survivable: one garbled line is skipped
            return []
        if not isinstance(obj, Mapping):
            self._bad_payloads += 1
            return []
        if is_error(obj) or event.event == "error":
            self._done = True
            return [stream_error(obj)]
        return self._chunk(obj)

    def close(self) -> list[Event]:
        if self._done:
            return []
        if self._finished:
            return self._end()
        self._done = True
        message = NO_VALID_DATA if not self._started and self._bad_payloads else ENDED_EARLY
        return [StreamError(kind="api_error", message=message)]

    # --------------------------------------------------------------- chunks

    def _chunk(self, obj: Mapping[str, Any]) -> list[Event]:
        out: list[Event] = []
        choices = obj.get("choices")
        usage = obj.get("usage")
        if not self._started:
            if choices is None and usage is None and "id" not in obj:
                return out  # a keep-alive "{}" some servers send
            self._started = True
            self._response_id = str(obj.get("id") or "")
            created = obj.get("created")
            out.append(
                MessageStart(
                    id=self._response_id,
                    model=str(obj.get("model") or ""),
                    created=created if isinstance(created, int) and created > 0 else 0,
                )
            )
        if isinstance(choices, list):
            for choice in choices:
                # n is always 1 upstream; a server adding choices gets them ignored.
                if isinstance(choice, Mapping) and choice.get("index", 0) in (0, None):
                    self._choice(choice, out)
        if isinstance(usage, Mapping):
            report = usage_of(usage)
            if report != self._usage:
                self._usage = report
                out.append(UsageUpdate(usage=report))
        return out

    def _choice(self, choice: Mapping[str, Any], out: list[Event]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            for text, summary in reasoning_pieces(delta):
                out.append(ReasoningDelta(text=text, summary=summary))
            text = content_text(delta.get("content"))
            if text:
                out.append(TextDelta(text=text))
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                self._refusal = True
                out.append(TextDelta(text=refusal))
            fragments = delta.get("tool_calls")
            if isinstance(fragments, list):
                for position, fragment in enumerate(fragments):
                    if isinstance(fragment, Mapping):
                        self._fragment(fragment, position, out)
            legacy = delta.get("function_call")
            if isinstance(legacy, Mapping):
                fragment = {"index": _LEGACY, "id": "call_legacy_0", "function": legacy}
                self._fragment(fragment, _LEGACY, out)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self._reason = reason
            self._finished = True
            for call in self._calls:
                self._end_call(call, out)

    # ---------------------------------------------------------- tool calls

    def _fragment(self, fragment: Mapping[str, Any], position: int, out: list[Event]) -> None:
        index = fragment.get("index")
        key = index if isinstance(index, int) and not isinstance(index, bool) else position
        raw_id = fragment.get("id")
        call_id = raw_id if isinstance(raw_id, str) and raw_id else None
        custom = fragment.get("custom")
        native = fragment.get("type") == "custom" or isinstance(custom, Mapping)
        body = custom if isinstance(custom, Mapping) else fragment.get("function")
        body = body if isinstance(body, Mapping) else {}
        raw_name = body.get("name")
        name = raw_name if isinstance(raw_name, str) and raw_name else None
        arguments = arguments_text(body.get("input" if native else "arguments"))

        call = self._by_upstream.get(key)
        if call is not None and self._is_new(call, call_id, name):
            self._end_call(call, out)
            call = None
        if call is not None and call.ended:
            return  # a late fragment for a call already closed by finish_reason
        if call is None:
            call = _Call(len(self._calls))
            self._calls.append(call)
            self._by_upstream[key] = call
        if call.id is None:
            call.id = call_id
        if call.name is None:
            call.name = name
        call.native_custom = call.native_custom or native
        if arguments:
            if call.started and not call.rewrap:
                out.append(ToolCallDelta(index=call.index, arguments=arguments))
            else:
                call.buffer.append(arguments)
        if not call.started and call.id is not None and call.name is not None:
            self._start(call, out)

    @staticmethod
    def _is_new(call: _Call, call_id: str | None, name: str | None) -> bool:
        if call_id is not None and call.id is not None:
            return call_id != call.id
        return call_id is None and name is not None and call.name is not None and name != call.name

    def _start(self, call: _Call, out: list[Event]) -> None:
        call.started = True
        name = call.name or ""
        call.rewrap = not call.native_custom and name in self._custom_tools
        kind: ToolKind = "custom" if call.native_custom or call.rewrap else "function"
        out.append(
            ToolCallStart(
                index=call.index, id=call.id or self._synthetic_id(call), name=name, kind=kind
            )
        )
        if call.buffer and not call.rewrap:
            out.append(ToolCallDelta(index=call.index, arguments="".join(call.buffer)))
            call.buffer.clear()

    def _synthetic_id(self, call: _Call) -> str:
        # Unique across turns (the response id differs), stable across replays.
        digest = hashlib.sha256(self._response_id.encode()).hexdigest()[:12]
        return f"call_{call.index}_{digest}"

    def _end_call(self, call: _Call, out: list[Event]) -> None:
        if call.ended:
            return
        if not call.started:
            self._start(call, out)
        if call.rewrap:
            raw = "".join(call.buffer)
            unwrapped = custom_input(raw)
            text = raw if unwrapped is None else unwrapped
            if text:
                out.append(ToolCallDelta(index=call.index, arguments=text))
            call.buffer.clear()
        out.append(ToolCallEnd(index=call.index))
        call.ended = True

    # ----------------------------------------------------------------- end

    def _end(self) -> list[Event]:
        self._done = True
        if not self._started:
            return [StreamError(kind="api_error", message=ENDED_EARLY)]
        out: list[Event] = []
        for call in self._calls:
            self._end_call(call, out)
        # A "[DONE]" without any finish_reason still says the upstream ended
        # on purpose (some small servers omit the reason); the body just
        # stopping does not, and close() reports that as an error instead.
        stop = finish_reason(self._reason, tool_calls=bool(self._calls), refusal=self._refusal)
        out.append(Finish(stop_reason=stop))
        return out
