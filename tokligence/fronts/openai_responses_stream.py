"""Canonical events -> OpenAI Responses SSE: the item-lifecycle state machine.

Theory of operation
-------------------
The renderer has four phases, and :data:`_ACCEPTS` is the whole transition
table: ``idle`` (before ``MessageStart``) -> ``open`` (``response.created``
and ``response.in_progress`` sent) -> ``done`` (the one terminal event sent)
-> ``closed`` (``close()`` returned). An event a phase does not accept
raises :class:`IllegalTransition`: it is a codec bug, and a stream that
silently broke the protocol would be worse.

Inside ``open``, output items wait in a FIFO queue in the order they started.
Only the head is live: its events are written as they arrive. Items behind it
(the second of two parallel tool calls whose fragments interleave, text that
follows a still-open call) keep their fragments and replay them, in order,
once every item ahead of them is done -- so each item's events stay
contiguous, which Codex and the SDK accumulator need. A text or reasoning item
is finished by the start of any other item; a tool call by ``ToolCallEnd``;
everything by ``Finish``.

Each event carries ``type`` (equal to the SSE event name) and a
``sequence_number`` counting from 0. There is no ``[DONE]``: the stream ends
after ``response.completed``, ``response.incomplete`` or, when the upstream
failed (``StreamError``, or ``close()`` before ``Finish``), an ``error`` event
followed by ``response.failed``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal, TypeVar

from ..canonical import (
    Event,
    Finish,
    MessageStart,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    Request,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageUpdate,
    merge_usage,
)
from ..wire.sse_write import COMMENT_KEEPALIVE, event
from .base import IllegalStreamEvent
from .openai_responses_items import Item, Message, Out, Reasoning, ToolCall
from .openai_responses_proofs import carry
from .openai_responses_render import (
    STATUS,
    Status,
    envelope,
    failure_code,
    response_id,
)
from .openai_responses_tools import Namespaces

Phase = Literal["idle", "open", "done", "closed"]

_ITEM_EVENTS = (TextDelta, ReasoningDelta, ReasoningSignature, RedactedReasoning)
_TOOL_EVENTS = (ToolCallStart, ToolCallDelta, ToolCallEnd)
_ACCEPTS: dict[Phase, tuple[type, ...]] = {
    "idle": (MessageStart, StreamError),
    "open": (*_ITEM_EVENTS, *_TOOL_EVENTS, UsageUpdate, Finish, StreamError),
    "done": (),
    "closed": (),
}

# Identity of a stream that fails before the upstream named the response.
_UNSTARTED_ID = "resp_unstarted"
_CUT_MESSAGE = "the upstream stream ended before the response was complete"


class IllegalTransition(IllegalStreamEvent):
    """A canonical event arrived that the stream's current state cannot accept."""


_I = TypeVar("_I", bound=Item)


class ResponsesStreamRenderer:
    """Implements :class:`~tokligence.fronts.base.StreamRenderer` for Responses."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._namespaces = Namespaces(request)
        self._phase: Phase = "idle"
        self._seq = 0
        self._rid = _UNSTARTED_ID
        self._created = 0
        self._model = request.model
        self._usage: Usage | None = None
        self._queue: deque[Item] = deque()
        self._calls: dict[int, ToolCall] = {}  # canonical tool index -> its item
        self._output: list[dict[str, Any]] = []  # finished items, in output order
        self._count = 0  # output indices handed out
        self._out: list[bytes] = []
        # The Response object of the completed/incomplete terminal event, for
        # a store that must hold the turn before that event goes out.
        self.final_response: dict[str, Any] | None = None

    # ------------------------------------------------------------ protocol

    def feed(self, ev: Event) -> bytes:
        if not isinstance(ev, _ACCEPTS[self._phase]):
            raise IllegalTransition(f"{type(ev).__name__} not allowed in phase {self._phase!r}")
        self._dispatch(ev)
        self._pump()
        return self._take()

    def close(self) -> bytes:
        if self._phase == "closed":
            raise IllegalTransition("close() called twice")
        if self._phase != "done":
            self._fail("api_error", _CUT_MESSAGE, None)
        self._phase = "closed"
        return self._take()

    def keepalive(self) -> bytes:
        # A comment keeps proxies from cutting an idle stream; it is no event,
        # so strict event parsers (Codex) never see it.
        return COMMENT_KEEPALIVE if self._phase in ("idle", "open") else b""

    # -------------------------------------------------------------- events

    def _dispatch(self, ev: Event) -> None:
        if isinstance(ev, MessageStart):
            self._rid, self._created, self._model = response_id(ev.id), ev.created, ev.model
            if ev.usage is not None:
                self._usage = ev.usage
            self._start()
        elif isinstance(ev, TextDelta):
            if ev.text:
                tail = self._tail(Message)
                if tail is None:
                    tail = self._push(Message(self._rid, self._count))
                tail.add(ev.text)
        elif isinstance(ev, ReasoningDelta):
            if ev.text:
                reasoning = self._tail(Reasoning)
                if reasoning is None:
                    reasoning = self._push(Reasoning(self._rid, self._count))
                reasoning.add(ev.text, ev.summary)
        elif isinstance(ev, ReasoningSignature):
            self._signature(ev)
        elif isinstance(ev, RedactedReasoning):
            self._settle()  # its own block upstream; nothing a Responses client can use
        elif isinstance(ev, ToolCallStart):
            if ev.index in self._calls and not self._calls[ev.index].finished:
                raise IllegalTransition(f"tool call index {ev.index} started twice")
            call = ToolCall(self._rid, self._count, ev, self._namespaces)
            self._calls[ev.index] = self._push(call)
        elif isinstance(ev, ToolCallDelta):
            self._call(ev.index).add(ev.arguments)
        elif isinstance(ev, ToolCallEnd):
            self._call(ev.index).finished = True
        elif isinstance(ev, UsageUpdate):
            self._usage = merge_usage(self._usage, ev.usage)
        elif isinstance(ev, Finish):
            self._finish(ev)
        else:
            self._fail(ev.kind, ev.message, ev.code)

    def _signature(self, ev: ReasoningSignature) -> None:
        reasoning = self._tail(Reasoning)
        # OpenAI's encrypted_content goes back as it is; Claude's signature
        # rides in the same field, marked, to come back on the next turn
        # (openai_responses_proofs). Anything else is never forwarded.
        encrypted = ev.encrypted_content if ev.vendor == "openai" else None
        if ev.vendor == "anthropic" and ev.signature:
            encrypted = carry(ev.signature)
        if encrypted is not None:
            if reasoning is None:
                reasoning = self._push(Reasoning(self._rid, self._count))
            reasoning.encrypted = encrypted
        if reasoning is not None:
            reasoning.finished = True

    def _call(self, index: int) -> ToolCall:
        call = self._calls.get(index)
        if call is None or call.finished:
            raise IllegalTransition(f"tool call index {index} is not open")
        return call

    # --------------------------------------------------------------- items

    def _tail(self, kind: type[_I]) -> _I | None:
        """The open text/reasoning item new fragments of ``kind`` extend, if any."""
        tail = self._queue[-1] if self._queue else None
        return tail if isinstance(tail, kind) and not tail.finished else None

    def _settle(self) -> None:
        # Text and reasoning end where something else begins; tool calls end
        # only with their own ToolCallEnd.
        if self._queue and not isinstance(self._queue[-1], ToolCall):
            self._queue[-1].finished = True

    def _push(self, item: _I) -> _I:
        self._settle()
        self._queue.append(item)
        self._count += 1
        return item

    def _pump(self) -> None:
        while self._queue:
            head = self._queue[0]
            if not head.live:
                head.live = True
                self._emit(head.opening())
            self._emit(head.drain())
            if not head.finished:
                return
            self._emit(head.closing())
            self._output.append(head.item())
            self._queue.popleft()

    # ----------------------------------------------------------- lifecycle

    def _response(self, status: Status, **more: Any) -> dict[str, Any]:
        return envelope(
            self._request,
            rid=self._rid,
            created=self._created,
            model=self._model,
            status=status,
            output=list(self._output),
            usage=None if status == "in_progress" else self._usage,
            **more,
        )

    def _start(self) -> None:
        self._phase = "open"
        self._emit([("response.created", {"response": self._response("in_progress")})])
        self._emit([("response.in_progress", {"response": self._response("in_progress")})])

    def _finish(self, ev: Finish) -> None:
        for item in self._queue:
            item.finished = True
        self._pump()
        status, reason = STATUS[ev.stop_reason]
        name = "response.completed" if status == "completed" else "response.incomplete"
        self.final_response = self._response(status, incomplete_reason=reason)
        self._emit([(name, {"response": self.final_response})])
        self._phase = "done"

    def _fail(self, kind: str, message: str, code: str | None) -> None:
        if self._phase == "idle":
            self._start()  # the SDK accumulator needs response.created first
        wire_code = failure_code(kind, code)
        self._emit([("error", {"code": wire_code, "message": message, "param": None})])
        error = {"code": wire_code, "message": message}
        self._emit([("response.failed", {"response": self._response("failed", error=error)})])
        self._phase = "done"

    # -------------------------------------------------------------- output

    def _emit(self, events: list[Out]) -> None:
        for name, fields in events:
            payload = {"type": name, "sequence_number": self._seq, **fields}
            self._seq += 1
            self._out.append(event(name, payload))

    def _take(self) -> bytes:
        data = b"".join(self._out)
        self._out = []
        return data
