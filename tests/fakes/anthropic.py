"""Fake Anthropic Messages upstream replies (docs/protocols.md §1).

Theory of operation
-------------------
A frozen ``MessagesScenario`` lists the turn's content blocks; ``messages_events``
produces the recorded event order — ``message_start`` (full current usage
shape, or the older minimal one), per block ``content_block_start`` → deltas
→ ``content_block_stop`` (blocks strictly one at a time, indices from 0), a
``ping`` right after the first ``content_block_start`` as recordings have it,
one ``message_delta`` with the stop reason and cumulative usage, then
``message_stop`` (no ``[DONE]``). ``messages_stream`` frames the events
(``sse_script.Framing``), ``messages_json`` gives the non-streaming body of the
same turn: the ``message_start`` message filled in.

Usage numbers follow Anthropic's meaning: ``input_tokens`` excludes cache
reads and writes; ``output_tokens`` is the final cumulative count (thinking
included) and ``start_output_tokens`` the small placeholder of
``message_start``.

docs/protocols.md §5 shape -> option
=============================================  ==============================================
byte splits / UTF-8 / CRLF / padded JSON        ``framing=Framing(split_every=…, offsets=…,
                                                eol="\\r\\n", pad_json=…)``
pings (recorded position)                       ``ping_after_first_block=True`` (default)
pings / comments anywhere                       ``Framing(insert={i: [PING]})`` / ``Comment()``
long silent gap before the first delta          ``gap_before_first_delta=seconds``
abrupt close after N events (no message_stop)   ``Framing(cut_after=N)`` (or ``cut_at_byte``)
tool input: empty first fragment                ``ToolUseBlock(fragments=["", …])``
one giant fragment / quote-heavy input          ``ToolUseBlock(fragments=[big])``
no-argument tool (no deltas, input ``{}``)      ``ToolUseBlock(fragments=())``
two parallel calls                              two ``ToolUseBlock``
``caller`` field on tool_use                    ``ToolUseBlock(caller=True)``
thinking + signature                            ``ThinkingBlock(pieces=[…], signature=…)``
signature-only thinking                         ``ThinkingBlock(pieces=(), signature=…)``
redacted thinking                               ``RedactedThinkingBlock(data=…)``
cache read / write tokens (+5m/1h split)        ``cache_read_input_tokens``,
                                                ``cache_creation_input_tokens``, ``ephemeral_1h_…``
older minimal usage                             ``minimal_usage=True``
stop reasons incl. stop_sequence value          ``stop_reason=…``, ``stop_sequence=…``
``max_tokens`` mid-text / partial tool JSON     ``stop_reason="max_tokens"`` + truncated fragments
mid-stream ``event: error`` (overloaded)        ``error_after=N`` (``error_type``/``error_message``)
pre-stream 400/401/404/429+retry-after/500/529  ``anthropic_error(status, type, message, …)``
count_tokens                                    ``count_tokens_reply(n)``
=============================================  ==============================================
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from .sse_script import Framing, Gap, Item, sse_reply
from .wire import Reply, json_reply

PING: Item = ("ping", {"type": "ping"})


@dataclass(frozen=True, kw_only=True)
class TextBlock:
    pieces: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class ToolUseBlock:
    id: str
    name: str
    fragments: Sequence[str] = ()
    caller: bool = False  # newer recordings: content_block.caller = {"type": "direct"}

    @property
    def input(self) -> Any:
        joined = "".join(self.fragments)
        return json.loads(joined) if joined else {}


@dataclass(frozen=True, kw_only=True)
class ThinkingBlock:
    pieces: Sequence[str] = ()
    signature: str = "EqQBCkYIBxgCKkBfakeSignature0001"


@dataclass(frozen=True, kw_only=True)
class RedactedThinkingBlock:
    data: str = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwfakeRedacted"


Block: TypeAlias = TextBlock | ToolUseBlock | ThinkingBlock | RedactedThinkingBlock


@dataclass(frozen=True, kw_only=True)
class MessagesScenario:
    id: str = "msg_fake0001"
    model: str = "claude-sonnet-4-5-20250929"
    blocks: Sequence[Block] = ()
    stop_reason: str | None = None  # None: "tool_use" when a tool_use block exists, else "end_turn"
    stop_sequence: str | None = None
    stop_details: bool = False  # newer API: stop_details: null on message and message_delta
    input_tokens: int = 21  # uncached input only
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0  # the rest of the cache write counts as 5-minute
    output_tokens: int = 13
    start_output_tokens: int = 1
    thinking_tokens: int | None = None  # adds usage.output_tokens_details to message_delta
    service_tier: str = "standard"
    minimal_usage: bool = False  # older shape: only input_tokens/output_tokens
    delta_usage_full: bool = True  # message_delta usage repeats input and cache counts
    ping_after_first_block: bool = True
    gap_before_first_delta: float = 0.0
    error_after: int | None = None
    error_type: str = "overloaded_error"
    error_message: str = "Overloaded"
    request_id: str = "req_fake0001"
    framing: Framing = field(default_factory=Framing)
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def effective_stop_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if any(isinstance(b, ToolUseBlock) for b in self.blocks) else "end_turn"


def _usage(sc: MessagesScenario, output_tokens: int) -> dict[str, Any]:
    if sc.minimal_usage:
        return {"input_tokens": sc.input_tokens, "output_tokens": output_tokens}
    five_minutes = sc.cache_creation_input_tokens - sc.ephemeral_1h_input_tokens
    return {
        "input_tokens": sc.input_tokens,
        "cache_creation_input_tokens": sc.cache_creation_input_tokens,
        "cache_read_input_tokens": sc.cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": five_minutes,
            "ephemeral_1h_input_tokens": sc.ephemeral_1h_input_tokens,
        },
        "output_tokens": output_tokens,
        "service_tier": sc.service_tier,
    }


def _message(sc: MessagesScenario, content: list[Any], final: bool) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": sc.id,
        "type": "message",
        "role": "assistant",
        "model": sc.model,
        "content": content,
        "stop_reason": sc.effective_stop_reason if final else None,
        "stop_sequence": sc.stop_sequence if final else None,
    }
    if sc.stop_details:
        message["stop_details"] = None
    message["usage"] = _usage(sc, sc.output_tokens if final else sc.start_output_tokens)
    return message


def _start(block: Block) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": ""}
    if isinstance(block, ToolUseBlock):
        start: dict[str, Any] = {"type": "tool_use", "id": block.id, "name": block.name}
        start["input"] = {}
        if block.caller:
            start["caller"] = {"type": "direct"}
        return start
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "redacted_thinking", "data": block.data}


def _deltas(block: Block) -> list[dict[str, Any]]:
    if isinstance(block, TextBlock):
        return [{"type": "text_delta", "text": piece} for piece in block.pieces]
    if isinstance(block, ToolUseBlock):
        return [{"type": "input_json_delta", "partial_json": f} for f in block.fragments]
    if isinstance(block, ThinkingBlock):
        thinking = [{"type": "thinking_delta", "thinking": piece} for piece in block.pieces]
        return [*thinking, {"type": "signature_delta", "signature": block.signature}]
    return []


def messages_events(sc: MessagesScenario) -> list[Item]:
    items: list[Item] = [
        ("message_start", {"type": "message_start", "message": _message(sc, [], False)})
    ]
    gap_pending = sc.gap_before_first_delta > 0
    for index, block in enumerate(sc.blocks):
        start = {"type": "content_block_start", "index": index, "content_block": _start(block)}
        items.append(("content_block_start", start))
        if index == 0 and sc.ping_after_first_block:
            items.append(PING)
        for delta in _deltas(block):
            if gap_pending:
                items.append(Gap(seconds=sc.gap_before_first_delta))
                gap_pending = False
            event = {"type": "content_block_delta", "index": index, "delta": delta}
            items.append(("content_block_delta", event))
        items.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    if gap_pending:
        items.append(Gap(seconds=sc.gap_before_first_delta))
    stop: dict[str, Any] = {
        "stop_reason": sc.effective_stop_reason,
        "stop_sequence": sc.stop_sequence,
    }
    if sc.stop_details:
        stop["stop_details"] = None
    usage: dict[str, Any] = {}
    if sc.delta_usage_full and not sc.minimal_usage:
        usage = {
            "input_tokens": sc.input_tokens,
            "cache_creation_input_tokens": sc.cache_creation_input_tokens,
            "cache_read_input_tokens": sc.cache_read_input_tokens,
        }
    usage["output_tokens"] = sc.output_tokens
    if sc.thinking_tokens is not None:
        usage["output_tokens_details"] = {"thinking_tokens": sc.thinking_tokens}
    items.append(("message_delta", {"type": "message_delta", "delta": stop, "usage": usage}))
    items.append(("message_stop", {"type": "message_stop"}))
    if sc.error_after is not None:
        error = {"type": "error", "error": {"type": sc.error_type, "message": sc.error_message}}
        items = [*items[: sc.error_after], ("error", error)]
    return items


def messages_stream(sc: MessagesScenario) -> Reply:
    return sse_reply(messages_events(sc), sc.framing, headers=_headers(sc))


def final_block(block: Block) -> dict[str, Any]:
    """A block as the non-streaming body (and the SDK's final message) shows it."""
    if isinstance(block, TextBlock):
        return {"type": "text", "text": "".join(block.pieces)}
    if isinstance(block, ToolUseBlock):
        final = {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
        if block.caller:
            final["caller"] = {"type": "direct"}
        return final
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": "".join(block.pieces), "signature": block.signature}
    return {"type": "redacted_thinking", "data": block.data}


def messages_json(sc: MessagesScenario) -> Reply:
    body = _message(sc, [final_block(block) for block in sc.blocks], True)
    return json_reply(body, headers=_headers(sc))


def _headers(sc: MessagesScenario) -> tuple[tuple[str, str], ...]:
    return (("request-id", sc.request_id), *sc.headers)


def anthropic_error(
    status: int,
    type: str,
    message: str,
    *,
    retry_after: float | None = None,
    should_retry: bool | None = None,
    request_id: str = "req_fake_error",
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """A pre-stream error: ``{"type": "error", "error": {type, message}, "request_id"}``."""
    extra: list[tuple[str, str]] = [("request-id", request_id)]
    if retry_after is not None:
        value = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        extra.append(("retry-after", value))
    if should_retry is not None:
        extra.append(("x-should-retry", "true" if should_retry else "false"))
    payload = {
        "type": "error",
        "error": {"type": type, "message": message},
        "request_id": request_id,
    }
    return json_reply(payload, status=status, headers=(*extra, *headers))


def count_tokens_reply(input_tokens: int) -> Reply:
    """The ``/v1/messages/count_tokens`` answer."""
    return json_reply({"input_tokens": input_tokens})
