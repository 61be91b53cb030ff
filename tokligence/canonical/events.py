"""The canonical response: usage, stop reasons, stream events, and the
non-stream :class:`Response` that a stream of events adds up to.

Theory of operation
-------------------
Every upstream, streaming or not, is consumed as a sequence of events:

    MessageStart  (exactly one, first)
    content events, in model order:
        TextDelta*                                   visible text
        ReasoningDelta* [ReasoningSignature]         thinking / reasoning text
        RedactedReasoning                            opaque redacted thinking
        ToolCallStart, ToolCallDelta*, ToolCallEnd   one tool call, keyed by index
    UsageUpdate*  (anywhere; later values replace earlier ones field by field)
    Finish        (exactly one, last) -- or StreamError instead of it

The events carry no content-block indices: each client renderer runs its own
state machine to open and close blocks (Anthropic content blocks, Responses
output items, chat deltas). Tool calls carry an ``index`` because upstreams
may interleave fragments of parallel calls.

A non-stream response is just the events collected by :func:`collect`, so
every renderer is tested once against events and once against their sum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from .request import (
    JsonObject,
    ReasoningPart,
    RedactedReasoningPart,
    TextPart,
    ToolCallPart,
    ToolKind,
    Vendor,
)

StopReason = Literal[
    "end_turn",  # natural end (OpenAI "stop")
    "max_tokens",  # output limit hit (OpenAI "length")
    "stop_sequence",  # a client stop sequence matched
    "tool_use",  # waiting on client tool results (OpenAI "tool_calls")
    "content_filter",  # provider safety filter
    "refusal",  # model refused
    "pause_turn",  # server-tool loop paused; client should resend
    "context_window_exceeded",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """Token counts with protocol-neutral meaning.

    ``input_tokens`` excludes cached tokens (Anthropic's meaning); the OpenAI
    ``prompt_tokens`` is ``input_tokens + cache_read_tokens +
    cache_write_tokens``. ``output_tokens`` includes reasoning tokens;
    ``reasoning_tokens`` breaks them out. ``estimated`` marks counts the
    gateway had to guess (aborted stream, upstream without usage).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def prompt_tokens(self) -> int:
        """Total prompt tokens in OpenAI's sense (cache included)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens


# -------------------------------------------------------------------- events


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageStart:
    id: str
    model: str
    created: int  # unix seconds
    usage: Usage | None = None  # input side, when known up front


@dataclass(frozen=True, kw_only=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReasoningDelta:
    text: str
    vendor: Vendor = "other"
    summary: bool = False  # a Responses reasoning *summary* rather than raw reasoning


@dataclass(frozen=True, kw_only=True, slots=True)
class ReasoningSignature:
    """Closes the current reasoning block with its opaque proof."""

    signature: str | None = None
    encrypted_content: str | None = None
    vendor: Vendor = "other"


@dataclass(frozen=True, kw_only=True, slots=True)
class RedactedReasoning:
    data: str
    vendor: Vendor = "anthropic"


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str
    kind: ToolKind = "function"


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # an arbitrary slice of the raw arguments text


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCallEnd:
    index: int


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageUpdate:
    usage: Usage


@dataclass(frozen=True, kw_only=True, slots=True)
class Finish:
    stop_reason: StopReason
    stop_sequence: str | None = None  # only with stop_reason "stop_sequence"; never ""


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamError:
    """The upstream failed after the stream began. Renderers emit their
    protocol's in-stream error and end without a success terminator."""

    kind: str  # an errors.ErrorKind value
    message: str
    code: str | None = None


Event = (
    MessageStart
    | TextDelta
    | ReasoningDelta
    | ReasoningSignature
    | RedactedReasoning
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | UsageUpdate
    | Finish
    | StreamError
)


def merge_usage(old: Usage | None, new: Usage) -> Usage:
    """Later usage replaces earlier field by field, except that a zero in the
    newer report does not erase a count the older one had (upstreams that
    report input only at the start and output only at the end)."""
    if old is None:
        return new
    return Usage(
        input_tokens=new.input_tokens or old.input_tokens,
        output_tokens=new.output_tokens or old.output_tokens,
        cache_read_tokens=new.cache_read_tokens or old.cache_read_tokens,
        cache_write_tokens=new.cache_write_tokens or old.cache_write_tokens,
        reasoning_tokens=new.reasoning_tokens or old.reasoning_tokens,
        estimated=old.estimated or new.estimated,
    )


# ------------------------------------------------------------------ response

ContentPart = TextPart | ReasoningPart | RedactedReasoningPart | ToolCallPart


@dataclass(frozen=True, kw_only=True, slots=True)
class Response:
    id: str
    model: str
    created: int
    content: tuple[ContentPart, ...]
    stop_reason: StopReason
    stop_sequence: str | None = None
    usage: Usage = Usage()
    extra: JsonObject | None = None

    def tool_calls(self) -> tuple[ToolCallPart, ...]:
        return tuple(p for p in self.content if isinstance(p, ToolCallPart))

    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


class IncompleteStream(Exception):
    """The events ended without ``Finish`` (or with ``StreamError``)."""

    def __init__(self, message: str, *, kind: str = "api_error", code: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


def collect(events: Iterable[Event]) -> Response:
    """Add up a complete event sequence into a :class:`Response`.

    Raises :class:`IncompleteStream` if the sequence carries a
    :class:`StreamError` or ends without :class:`Finish`.
    """
    collector = Collector()
    for event in events:
        collector.add(event)
    return collector.result()


class Collector:
    """Incremental form of :func:`collect`, for upstreams consumed as they arrive."""

    def __init__(self) -> None:
        self._start: MessageStart | None = None
        self._parts: list[ContentPart] = []
        self._tools: dict[int, int] = {}  # tool index -> position in _parts
        self._args: dict[int, list[str]] = {}
        self._usage: Usage | None = None
        self._finish: Finish | None = None
        self._error: StreamError | None = None

    def add(self, event: Event) -> None:
        parts = self._parts
        last = parts[-1] if parts else None
        if isinstance(event, MessageStart):
            self._start = event
            if event.usage is not None:
                self._usage = merge_usage(self._usage, event.usage)
        elif isinstance(event, TextDelta):
            if isinstance(last, TextPart):
                parts[-1] = TextPart(text=last.text + event.text)
            elif event.text:
                parts.append(TextPart(text=event.text))
        elif isinstance(event, ReasoningDelta):
            if (
                isinstance(last, ReasoningPart)
                and last.signature is None
                and last.encrypted_content is None
            ):
                if event.summary:
                    summary = last.summary or ("",)
                    parts[-1] = replace(last, summary=(*summary[:-1], summary[-1] + event.text))
                else:
                    parts[-1] = replace(last, text=last.text + event.text)
            elif event.summary:
                parts.append(ReasoningPart(summary=(event.text,), vendor=event.vendor))
            else:
                parts.append(ReasoningPart(text=event.text, vendor=event.vendor))
        elif isinstance(event, ReasoningSignature):
            if (
                isinstance(last, ReasoningPart)
                and last.signature is None
                and last.encrypted_content is None
            ):
                parts[-1] = replace(
                    last,
                    signature=event.signature,
                    encrypted_content=event.encrypted_content,
                    vendor=event.vendor,
                )
            else:  # signature-only reasoning block: real, not empty
                parts.append(
                    ReasoningPart(
                        signature=event.signature,
                        encrypted_content=event.encrypted_content,
                        vendor=event.vendor,
                    )
                )
        elif isinstance(event, RedactedReasoning):
            parts.append(RedactedReasoningPart(data=event.data, vendor=event.vendor))
        elif isinstance(event, ToolCallStart):
            self._tools[event.index] = len(parts)
            self._args[event.index] = []
            parts.append(ToolCallPart(id=event.id, name=event.name, arguments="", kind=event.kind))
        elif isinstance(event, ToolCallDelta):
            if event.index not in self._args:
                raise IncompleteStream(f"tool call fragment for unknown index {event.index}")
            self._args[event.index].append(event.arguments)
        elif isinstance(event, ToolCallEnd):
            pass
        elif isinstance(event, UsageUpdate):
            self._usage = merge_usage(self._usage, event.usage)
        elif isinstance(event, Finish):
            self._finish = event
        elif isinstance(event, StreamError):
            self._error = event

    def result(self) -> Response:
        if self._error is not None:
            raise IncompleteStream(
                self._error.message, kind=self._error.kind, code=self._error.code
            )
        if self._start is None:
            raise IncompleteStream("stream ended before it started")
        if self._finish is None:
            raise IncompleteStream("stream ended before it finished")
        parts = list(self._parts)
        for index, position in self._tools.items():
            call = parts[position]
            assert isinstance(call, ToolCallPart)
            parts[position] = replace(call, arguments="".join(self._args[index]))
        return Response(
            id=self._start.id,
            model=self._start.model,
            created=self._start.created,
            content=tuple(parts),
            stop_reason=self._finish.stop_reason,
            stop_sequence=self._finish.stop_sequence,
            usage=self._usage or Usage(),
        )


def replay(response: Response) -> list[Event]:
    """The canonical event sequence of a complete response (inverse of
    :func:`collect`), used to stream a response that arrived whole."""
    events: list[Event] = [
        MessageStart(id=response.id, model=response.model, created=response.created)
    ]
    tool_index = 0
    for part in response.content:
        if isinstance(part, TextPart):
            events.append(TextDelta(text=part.text))
        elif isinstance(part, ReasoningPart):
            if part.text:
                events.append(ReasoningDelta(text=part.text, vendor=part.vendor))
            for summary in part.summary:
                events.append(ReasoningDelta(text=summary, vendor=part.vendor, summary=True))
            if part.signature is not None or part.encrypted_content is not None:
                events.append(
                    ReasoningSignature(
                        signature=part.signature,
                        encrypted_content=part.encrypted_content,
                        vendor=part.vendor,
                    )
                )
        elif isinstance(part, RedactedReasoningPart):
            events.append(RedactedReasoning(data=part.data, vendor=part.vendor))
        elif isinstance(part, ToolCallPart):
            events.append(
                ToolCallStart(index=tool_index, id=part.id, name=part.name, kind=part.kind)
            )
            if part.arguments:
                events.append(ToolCallDelta(index=tool_index, arguments=part.arguments))
            events.append(ToolCallEnd(index=tool_index))
            tool_index += 1
    events.append(UsageUpdate(usage=response.usage))
    events.append(Finish(stop_reason=response.stop_reason, stop_sequence=response.stop_sequence))
    return events
