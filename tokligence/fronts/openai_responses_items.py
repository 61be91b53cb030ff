"""The output items of a Responses stream: a message, a reasoning item, a tool call.

Each item knows the events of its own lifecycle (``output_item.added``, its
part and delta events, ``output_item.done``) and the item object that ends
it. It buffers what arrives while it is not yet the live head of the
renderer's queue and replays it in order when it is (see
:mod:`.openai_responses_stream`, which owns the queue and the phases).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..canonical import (
    ToolCallStart,
    ToolKind,
)
from .openai_responses_render import (
    call_item,
    function_arguments,
    item_id,
    message_item,
    output_text,
    reasoning_item,
)
from .openai_responses_tools import Namespaces

Out = tuple[str, dict[str, Any]]  # (event type, fields other than type and sequence_number)


class Item(ABC):
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


class Message(Item):
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


class Reasoning(Item):
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


class ToolCall(Item):
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
