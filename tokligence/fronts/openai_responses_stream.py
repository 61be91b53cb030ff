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

from abc import ABC, abstractmethod
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
    ToolKind,
    Usage,
    UsageUpdate,
    merge_usage,
)
from ._sse import COMMENT_KEEPALIVE, event
from .base import IllegalStreamEvent
from .openai_responses_proofs import carry
from .openai_responses_render import (
    STATUS,
    Status,
    call_item,
    envelope,
    failure_code,
    function_arguments,
    item_id,
    message_item,
    output_text,
    reasoning_item,
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

Out = tuple[str, dict[str, Any]]  # (event type, fields other than type and sequence_number)


class IllegalTransition(IllegalStreamEvent):
    """A canonical event arrived that the stream's current state cannot accept."""


class _Item(ABC):
    """One output item. Fragments wait in ``pending`` until the item is live."""

    prefix = ""

    def __init__(self, rid: str, index: int) -> None:
        self.index = index
        self.id = item_id(self.prefix, rid, index)
        self.live = False
        self.finished = False
        self.pending: list[Any] = []

    def where(self, **more: Any) -> dict[str, Any]:
        return {"item_id": self.id, "output_index": self.index, **more}

    def added(self, item: dict[str, Any]) -> Out:
        return ("response.output_item.added", {"output_index": self.index, "item": item})

    def done(self) -> Out:
        return ("response.output_item.done", {"output_index": self.index, "item": self.item()})

    def drain(self) -> list[Out]:
        out = [e for fragment in self.pending for e in self.delta(fragment)]
        self.pending = []
        return out

    @abstractmethod
    def opening(self) -> list[Out]: ...

    @abstractmethod
    def delta(self, fragment: Any) -> list[Out]: ...

    @abstractmethod
    def closing(self) -> list[Out]: ...

    @abstractmethod
    def item(self) -> dict[str, Any]: ...


class _Message(_Item):
    prefix = "msg"

    def __init__(self, rid: str, index: int) -> None:
        super().__init__(rid, index)
        self.text: list[str] = []

    def add(self, text: str) -> None:
        self.text.append(text)
        self.pending.append(text)

    def opening(self) -> list[Out]:
        part = ("response.content_part.added", self.where(content_index=0, part=output_text("")))
        return [self.added(message_item(self.id, None)), part]

    def delta(self, fragment: str) -> list[Out]:
        where = self.where(content_index=0, delta=fragment, logprobs=[])
        return [("response.output_text.delta", where)]

    def closing(self) -> list[Out]:
        text = "".join(self.text)
        return [
            ("response.output_text.done", self.where(content_index=0, text=text, logprobs=[])),
            ("response.content_part.done", self.where(content_index=0, part=output_text(text))),
            self.done(),
        ]

    def item(self) -> dict[str, Any]:
        return message_item(self.id, "".join(self.text))


# Per reasoning part kind (summary?): index field, part type, part event, text event.
_REASONING_PARTS: dict[bool, tuple[str, str, str, str]] = {
    True: (
        "summary_index",
        "summary_text",
        "response.reasoning_summary_part",
        "response.reasoning_summary_text",
    ),
    False: ("content_index", "reasoning_text", "response.content_part", "response.reasoning_text"),
}


class _Reasoning(_Item):
    """Summary parts (``summary_index``) and raw reasoning text parts
    (``content_index``); a switch between the two kinds opens a new part."""

    prefix = "rs"

    def __init__(self, rid: str, index: int) -> None:
        super().__init__(rid, index)
        self.summary: list[str] = []
        self.raw: list[str] = []
        self.encrypted: str | None = None
        self.last: bool | None = None  # kind (summary?) of the part being appended to
        self.open_part: tuple[bool, int] | None = None  # the part whose events are live

    def add(self, text: str, summary: bool) -> None:
        parts = self.summary if summary else self.raw
        if self.last is not summary:
            parts.append("")
            self.last = summary
        parts[-1] += text
        self.pending.append((summary, len(parts) - 1, text))

    def opening(self) -> list[Out]:
        return [self.added(reasoning_item(self.id, [], [], None))]

    def delta(self, fragment: tuple[bool, int, str]) -> list[Out]:
        summary, n, text = fragment
        key, kind, part_event, text_event = _REASONING_PARTS[summary]
        out: list[Out] = []
        if self.open_part != (summary, n):
            out += self._close_part()
            self.open_part = (summary, n)
            part = {"type": kind, "text": ""}
            out.append((f"{part_event}.added", self.where(**{key: n}, part=part)))
        return [*out, (f"{text_event}.delta", self.where(**{key: n}, delta=text))]

    def _close_part(self) -> list[Out]:
        if self.open_part is None:
            return []
        summary, n = self.open_part
        self.open_part = None
        key, kind, part_event, text_event = _REASONING_PARTS[summary]
        text = (self.summary if summary else self.raw)[n]
        return [
            (f"{text_event}.done", self.where(**{key: n}, text=text)),
            (f"{part_event}.done", self.where(**{key: n}, part={"type": kind, "text": text})),
        ]

    def closing(self) -> list[Out]:
        return [*self._close_part(), self.done()]

    def item(self) -> dict[str, Any]:
        return reasoning_item(self.id, self.summary, self.raw, self.encrypted)


# Per tool kind: event name stem and the field of its ``.done`` event.
_CALL_EVENTS: dict[ToolKind, tuple[str, str]] = {
    "function": ("response.function_call_arguments", "arguments"),
    "custom": ("response.custom_tool_call_input", "input"),
}


class _ToolCall(_Item):
    def __init__(self, rid: str, index: int, start: ToolCallStart, namespaces: Namespaces) -> None:
        self.prefix = "ctc" if start.kind == "custom" else "fc"
        super().__init__(rid, index)
        self.kind: ToolKind = start.kind
        self.call_id = start.id
        self.namespace, self.name = namespaces.split(start.name)
        self.arguments: list[str] = []

    def add(self, fragment: str) -> None:
        self.arguments.append(fragment)
        self.pending.append(fragment)

    def opening(self) -> list[Out]:
        item = call_item(self.id, self.kind, self.call_id, self.name, None, self.namespace)
        return [self.added(item)]

    def delta(self, fragment: str) -> list[Out]:
        stem = _CALL_EVENTS[self.kind][0]
        return [(f"{stem}.delta", self.where(delta=fragment))] if fragment else []

    def closing(self) -> list[Out]:
        full = "".join(self.arguments)
        if full != function_arguments(self.kind, full):
            # Keep "the deltas add up to the done value" true for argument-less calls.
            self.add(function_arguments(self.kind, full))
            full = "".join(self.arguments)
        stem, field = _CALL_EVENTS[self.kind]
        return [*self.drain(), (f"{stem}.done", self.where(**{field: full})), self.done()]

    def item(self) -> dict[str, Any]:
        arguments = "".join(self.arguments)
        return call_item(self.id, self.kind, self.call_id, self.name, arguments, self.namespace)


_I = TypeVar("_I", bound=_Item)


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
        self._queue: deque[_Item] = deque()
        self._calls: dict[int, _ToolCall] = {}  # canonical tool index -> its item
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
                tail = self._tail(_Message)
                if tail is None:
                    tail = self._push(_Message(self._rid, self._count))
                tail.add(ev.text)
        elif isinstance(ev, ReasoningDelta):
            if ev.text:
                reasoning = self._tail(_Reasoning)
                if reasoning is None:
                    reasoning = self._push(_Reasoning(self._rid, self._count))
                reasoning.add(ev.text, ev.summary)
        elif isinstance(ev, ReasoningSignature):
            self._signature(ev)
        elif isinstance(ev, RedactedReasoning):
            self._settle()  # its own block upstream; nothing a Responses client can use
        elif isinstance(ev, ToolCallStart):
            if ev.index in self._calls and not self._calls[ev.index].finished:
                raise IllegalTransition(f"tool call index {ev.index} started twice")
            call = _ToolCall(self._rid, self._count, ev, self._namespaces)
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
        reasoning = self._tail(_Reasoning)
        # OpenAI's encrypted_content goes back as it is; Claude's signature
        # rides in the same field, marked, to come back on the next turn
        # (openai_responses_proofs). Anything else is never forwarded.
        encrypted = ev.encrypted_content if ev.vendor == "openai" else None
        if ev.vendor == "anthropic" and ev.signature:
            encrypted = carry(ev.signature)
        if encrypted is not None:
            if reasoning is None:
                reasoning = self._push(_Reasoning(self._rid, self._count))
            reasoning.encrypted = encrypted
        if reasoning is not None:
            reasoning.finished = True

    def _call(self, index: int) -> _ToolCall:
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
        if self._queue and not isinstance(self._queue[-1], _ToolCall):
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
