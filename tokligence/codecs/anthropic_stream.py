"""Anthropic Messages SSE stream -> canonical events.

Theory of operation
-------------------
:class:`AnthropicStreamDecoder` is a small state machine over the message
plus a table of the content blocks that are open:

    NEW --message_start (or any content event)--> STREAMING
    STREAMING --message_stop--> DONE (Finish)
    NEW | STREAMING --error event--> DONE (StreamError)
    NEW | STREAMING --close()--> DONE (StreamError: the stream was cut)

Canonical events carry no block indices, so per open index the decoder only
keeps what kind of block it is: ``text`` and ``thinking`` deltas pass
straight through, a ``signature_delta`` becomes the
:class:`ReasoningSignature` that closes its reasoning (alone, for a
signature-only block), ``redacted_thinking`` is one event, and a
``tool_use`` block becomes ``ToolCallStart`` / ``ToolCallDelta`` /
``ToolCallEnd`` with a 0-based call counter as its index. Upstreams that put
a tool's whole input in ``content_block_start`` get one delta with its JSON
(later fragments for that block are ignored, so the input is never doubled).
Server-tool blocks, citations and unknown block types are skipped.

Robustness (failure mode 2): a delta or stop for an index that is not open
is ignored, a reused index closes the block it replaces, content before
``message_start`` gets a synthesised start (id derived from the request
body), and a second ``message_start`` is ignored: the decoder never raises
on odd but survivable input.

Freeform (custom) tools were sent as functions taking ``{"input": text}``
(``Encoded.custom_tools``): their fragments are buffered until the block
stops, then the ``input`` string is emitted as one delta of raw text (the
raw fragments if they do not parse).

Usage: ``message_start`` gives the input side (its output count is a
placeholder and is left out); each ``message_delta`` gives cumulative
totals as a ``UsageUpdate``. Stop reasons follow ``codec_anthropic_decode``.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from ..canonical import (
    Event,
    MessageStart,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from ..wire.sse_read import SseEvent
from .anthropic_decode import (
    CUT_STREAM,
    compact,
    fallback_id,
    request_model,
    stop_fields,
    stream_error,
    usage_of,
)
from .base import Encoded
from .common import custom_input_or_raw


class _State(enum.Enum):
    NEW = "new"
    STREAMING = "streaming"
    DONE = "done"


@dataclass(slots=True)
class _Block:
    kind: str  # text | thinking | redacted | tool | skipped
    tool_index: int = -1
    custom: bool = False
    whole: bool = False  # the tool input came whole in content_block_start
    fragments: list[str] = field(default_factory=list)
    start_signature: str | None = None
    signed: bool = False


class AnthropicStreamDecoder:
    """One upstream Messages stream -> canonical events (see module docstring).

    ``pings`` counts ``ping`` events, which produce no canonical event: the
    pipeline sends its own keep-alives.
    """

    def __init__(self, encoded: Encoded) -> None:
        self._encoded = encoded
        self._state = _State.NEW
        self._blocks: dict[int, _Block] = {}
        self._tools = 0
        self._stop_reason: Any = None
        self._stop_sequence: Any = None
        self.pings = 0

    def feed(self, event: SseEvent) -> list[Event]:
        if self._state is _State.DONE:
            return []
        try:
            payload = json.loads(event.data)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            if event.event == "error":
                self._state = _State.DONE
                return [StreamError(kind="api_error", message="upstream sent an unreadable error")]
            return []
        kind = payload.get("type") or event.event
        if kind == "ping":
            self.pings += 1
            return []
        if kind == "message_start":
            return self._message_start(payload)
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "content_block_delta":
            return self._block_delta(payload)
        if kind == "content_block_stop":
            index = payload.get("index")
            return self._close_block(index) if isinstance(index, int) else []
        if kind == "message_delta":
            return self._message_delta(payload)
        if kind == "message_stop":
            return self._message_stop()
        if kind == "error":
            self._state = _State.DONE
            return [stream_error(payload)]
        return []

    def close(self) -> list[Event]:
        if self._state is _State.DONE:
            return []
        self._state = _State.DONE
        return [StreamError(kind="api_error", message=CUT_STREAM)]

    # -- message level

    def _started(self) -> list[Event]:
        if self._state is not _State.NEW:
            return []
        self._state = _State.STREAMING
        encoded = self._encoded
        return [MessageStart(id=fallback_id(encoded), model=request_model(encoded), created=0)]

    def _message_start(self, payload: dict[str, Any]) -> list[Event]:
        if self._state is not _State.NEW:
            return []  # a second message_start: the first one stands
        self._state = _State.STREAMING
        message = payload.get("message")
        message = message if isinstance(message, dict) else {}
        usage = usage_of(message.get("usage"))
        if usage is not None:  # the output count here is a placeholder
            usage = Usage(
                input_tokens=usage.input_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
            )
        return [
            MessageStart(
                id=str(message.get("id") or fallback_id(self._encoded)),
                model=str(message.get("model") or request_model(self._encoded)),
                created=0,
                usage=usage,
            )
        ]

    def _message_delta(self, payload: dict[str, Any]) -> list[Event]:
        out = self._started()
        delta = payload.get("delta")
        if isinstance(delta, dict):
            if delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            if delta.get("stop_sequence") is not None:
                self._stop_sequence = delta["stop_sequence"]
        usage = usage_of(payload.get("usage"))
        if usage is not None:
            out.append(UsageUpdate(usage=usage))
        return out

    def _message_stop(self) -> list[Event]:
        out = self._started()
        for index in sorted(self._blocks):
            out.extend(self._close_block(index))
        finish = stop_fields(self._stop_reason, self._stop_sequence, tool_called=self._tools > 0)
        out.append(finish)
        self._state = _State.DONE
        return out

    # -- content blocks

    def _block_start(self, payload: dict[str, Any]) -> list[Event]:
        index, block = payload.get("index"), payload.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            return []
        out = self._started()
        if index in self._blocks:  # a reused index: the old block is over
            out.extend(self._close_block(index))
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = _Block(kind="text")
            out.extend(self._text(block.get("text")))
        elif kind == "thinking":
            signature = block.get("signature")
            start_signature = signature if isinstance(signature, str) and signature else None
            self._blocks[index] = _Block(kind="thinking", start_signature=start_signature)
            out.extend(self._thinking(block.get("thinking")))
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            self._blocks[index] = _Block(kind="redacted")
            out.append(RedactedReasoning(data=block["data"], vendor="anthropic"))
        elif kind == "tool_use":
            out.extend(self._tool_start(index, block))
        else:
            self._blocks[index] = _Block(kind="skipped")
        return out

    def _tool_start(self, index: int, block: dict[str, Any]) -> list[Event]:
        name = str(block.get("name") or "")
        custom = name in self._encoded.custom_tools
        tool = _Block(kind="tool", tool_index=self._tools, custom=custom)
        self._tools += 1
        self._blocks[index] = tool
        out: list[Event] = [
            ToolCallStart(
                index=tool.tool_index,
                id=str(block.get("id") or ""),
                name=name,
                kind="custom" if custom else "function",
            )
        ]
        initial = block.get("input")
        if isinstance(initial, dict) and initial:
            out.extend(self._fragment(tool, compact(initial)))
            tool.whole = True
        return out

    def _block_delta(self, payload: dict[str, Any]) -> list[Event]:
        index, delta = payload.get("index"), payload.get("delta")
        block = self._blocks.get(index) if isinstance(index, int) else None
        if block is None or block.kind == "skipped" or not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text(delta.get("text"))
        if kind == "thinking_delta":
            return self._thinking(delta.get("thinking"))
        if kind == "signature_delta" and block.kind == "thinking":
            signature = delta.get("signature")
            if isinstance(signature, str) and signature:
                block.signed = True
                return [ReasoningSignature(signature=signature, vendor="anthropic")]
        elif kind == "input_json_delta" and block.kind == "tool" and not block.whole:
            fragment = delta.get("partial_json")
            if isinstance(fragment, str) and fragment:
                return self._fragment(block, fragment)
        return []  # citations_delta and unknown deltas

    def _close_block(self, index: int) -> list[Event]:
        block = self._blocks.pop(index, None)
        if block is None:
            return []
        if block.kind == "tool":
            out: list[Event] = []
            if block.custom:
                raw = custom_input_or_raw("".join(block.fragments))
                if raw:
                    out.append(ToolCallDelta(index=block.tool_index, arguments=raw))
            out.append(ToolCallEnd(index=block.tool_index))
            return out
        if block.kind == "thinking" and not block.signed and block.start_signature:
            return [ReasoningSignature(signature=block.start_signature, vendor="anthropic")]
        return []

    def _fragment(self, block: _Block, fragment: str) -> list[Event]:
        if block.custom:
            block.fragments.append(fragment)
            return []
        return [ToolCallDelta(index=block.tool_index, arguments=fragment)]

    @staticmethod
    def _text(text: Any) -> list[Event]:
        return [TextDelta(text=text)] if isinstance(text, str) and text else []

    @staticmethod
    def _thinking(text: Any) -> list[Event]:
        if isinstance(text, str) and text:
            return [ReasoningDelta(text=text, vendor="anthropic")]
        return []
