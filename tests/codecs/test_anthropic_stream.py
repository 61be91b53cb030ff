"""Anthropic upstream codec, stream side: SSE bytes as the real API sends them ->
canonical events.

Every stream is decoded whole, one byte at a time and in 7-byte slices (the
results must agree); well-formed streams are also checked against the
official SDK's event types and its accumulator, which is the judge of what
the stream means.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent

from tokligence.canonical import (
    Event,
    Finish,
    IncompleteStream,
    MessageStart,
    ReasoningDelta,
    ReasoningPart,
    ReasoningSignature,
    RedactedReasoning,
    RedactedReasoningPart,
    Response,
    StreamError,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    Usage,
    UsageUpdate,
    collect,
    replay,
)
from tokligence.codecs.anthropic import AnthropicCodec
from tokligence.codecs.base import Encoded
from tokligence.fronts.anthropic_messages_render import AnthropicStreamRenderer
from tokligence.wire.sse_read import SseDecoder, SseEvent

CODEC = AnthropicCodec()
MODEL = "claude-sonnet-4-5-20250929"
ENCODED = Encoded(path="/v1/messages", body=json.dumps({"model": MODEL}).encode())
CUSTOM = Encoded(
    path="/v1/messages", body=b'{"model":"m"}', custom_tools=frozenset({"apply_patch"})
)
EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)
QUOTED = 'grep -rn "a \\"quoted\\" \\\\path" . | head -5'
QUOTED_JSON = json.dumps({"command": QUOTED})


# ------------------------------------------------------------- stream bytes


def ev(name: str, payload: dict[str, Any], *, pad: str = "") -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}{pad}\n\n".encode()


def message_start(input_tokens: int = 25, **usage: Any) -> bytes:
    return ev(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_01XFD",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1, **usage},
            },
        },
    )


def start(index: int, block: dict[str, Any]) -> bytes:
    return ev(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def delta(index: int, body: dict[str, Any]) -> bytes:
    return ev("content_block_delta", {"type": "content_block_delta", "index": index, "delta": body})


def text(index: int, value: str) -> bytes:
    return delta(index, {"type": "text_delta", "text": value})


def fragment(index: int, value: str) -> bytes:
    return delta(index, {"type": "input_json_delta", "partial_json": value})


def stop(index: int) -> bytes:
    return ev("content_block_stop", {"type": "content_block_stop", "index": index})


def tool_start(index: int, call_id: str, name: str, **extra: Any) -> bytes:
    block = {"type": "tool_use", "id": call_id, "name": name, "input": {}, **extra}
    return start(index, block)


def message_delta(
    reason: str, output_tokens: int, sequence: str | None = None, **usage: Any
) -> bytes:
    return ev(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": {"output_tokens": output_tokens, **usage},
        },
    )


PING = ev("ping", {"type": "ping"})
MESSAGE_STOP = ev("message_stop", {"type": "message_stop"})
TEXT_BLOCK = {"type": "text", "text": ""}
THINKING_BLOCK = {"type": "thinking", "thinking": "", "signature": ""}


def ending(reason: str, output_tokens: int, sequence: str | None = None) -> bytes:
    return message_delta(reason, output_tokens, sequence) + MESSAGE_STOP


# ------------------------------------------------------------------ decoding


def feed(data: bytes, encoded: Encoded = ENCODED, step: int | None = None) -> list[Event]:
    decoder = CODEC.stream_decoder(encoded)
    sse = SseDecoder()
    out: list[Event] = []
    chunks = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
    for chunk in chunks:
        for item in sse.feed(chunk):
            if isinstance(item, SseEvent):
                out.extend(decoder.feed(item))
    out.extend(decoder.close())
    return out


def decode(data: bytes, encoded: Encoded = ENCODED) -> list[Event]:
    whole = feed(data, encoded)
    assert feed(data, encoded, step=1) == whole
    assert feed(data, encoded, step=7) == whole
    return whole


def sdk_snapshot(data: bytes) -> Any:
    """The official SDK's accumulated message for a well-formed stream."""
    snapshot = None
    buffers: dict[int, bytes] = {}
    for item in SseDecoder().feed(data):
        if isinstance(item, SseEvent) and item.event not in ("ping", "error"):
            event = EVENT_ADAPTER.validate_python(json.loads(item.data))
            snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)
    return snapshot


START = MessageStart(id="msg_01XFD", model=MODEL, created=0, usage=Usage(input_tokens=25))


# ---------------------------------------------------------------- scenarios

SCENARIOS: dict[str, tuple[bytes, list[Event]]] = {
    "text_with_pings_and_padding": (
        message_start()
        + start(0, TEXT_BLOCK)
        + PING
        + text(0, "Hello")
        + text(0, "")
        + ev(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": ", world \u2028 ok."},
            },
            pad="   ",
        )
        + stop(0)
        + PING
        + ending("end_turn", 7),
        [
            START,
            TextDelta(text="Hello"),
            TextDelta(text=", world \u2028 ok."),
            UsageUpdate(usage=Usage(output_tokens=7)),
            Finish(stop_reason="end_turn"),
        ],
    ),
    "text_then_tool_use_quote_heavy": (
        message_start()
        + start(0, TEXT_BLOCK)
        + text(0, "Let me look.")
        + stop(0)
        + tool_start(1, "toolu_01A", "Bash", caller={"type": "direct"})
        + fragment(1, "")
        + fragment(1, QUOTED_JSON[:13])
        + fragment(1, QUOTED_JSON[13:29])
        + fragment(1, QUOTED_JSON[29:])
        + stop(1)
        + ending("tool_use", 31),
        [
            START,
            TextDelta(text="Let me look."),
            ToolCallStart(index=0, id="toolu_01A", name="Bash"),
            ToolCallDelta(index=0, arguments=QUOTED_JSON[:13]),
            ToolCallDelta(index=0, arguments=QUOTED_JSON[13:29]),
            ToolCallDelta(index=0, arguments=QUOTED_JSON[29:]),
            ToolCallEnd(index=0),
            UsageUpdate(usage=Usage(output_tokens=31)),
            Finish(stop_reason="tool_use"),
        ],
    ),
    "parallel_tool_use_and_no_argument_tool": (
        message_start()
        + tool_start(0, "toolu_01", "Read")
        + fragment(0, '{"path": "a.py"}')
        + stop(0)
        + tool_start(1, "toolu_02", "Now")
        + stop(1)
        + ending("tool_use", 44),
        [
            START,
            ToolCallStart(index=0, id="toolu_01", name="Read"),
            ToolCallDelta(index=0, arguments='{"path": "a.py"}'),
            ToolCallEnd(index=0),
            ToolCallStart(index=1, id="toolu_02", name="Now"),
            ToolCallEnd(index=1),
            UsageUpdate(usage=Usage(output_tokens=44)),
            Finish(stop_reason="tool_use"),
        ],
    ),
    "thinking_signature_then_text": (
        message_start()
        + start(0, THINKING_BLOCK)
        + delta(0, {"type": "thinking_delta", "thinking": "Let me think"})
        + delta(0, {"type": "thinking_delta", "thinking": " \u00e9 carefully."})
        + delta(0, {"type": "signature_delta", "signature": "EqQBCkYI+/=="})
        + stop(0)
        + start(1, TEXT_BLOCK)
        + text(1, "42")
        + stop(1)
        + ending("end_turn", 60),
        [
            START,
            ReasoningDelta(text="Let me think", vendor="anthropic"),
            ReasoningDelta(text=" \u00e9 carefully.", vendor="anthropic"),
            ReasoningSignature(signature="EqQBCkYI+/==", vendor="anthropic"),
            TextDelta(text="42"),
            UsageUpdate(usage=Usage(output_tokens=60)),
            Finish(stop_reason="end_turn"),
        ],
    ),
    "signature_only_thinking_then_tool_use": (
        message_start()
        + start(0, THINKING_BLOCK)
        + delta(0, {"type": "signature_delta", "signature": "sigonly=="})
        + stop(0)
        + tool_start(1, "toolu_9", "Glob")
        + fragment(1, '{"p":"*"}')
        + stop(1)
        + ending("tool_use", 12),
        [
            START,
            ReasoningSignature(signature="sigonly==", vendor="anthropic"),
            ToolCallStart(index=0, id="toolu_9", name="Glob"),
            ToolCallDelta(index=0, arguments='{"p":"*"}'),
            ToolCallEnd(index=0),
            UsageUpdate(usage=Usage(output_tokens=12)),
            Finish(stop_reason="tool_use"),
        ],
    ),
    "redacted_thinking": (
        message_start()
        + start(0, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va=="})
        + stop(0)
        + start(1, TEXT_BLOCK)
        + text(1, "ok")
        + stop(1)
        + ending("end_turn", 5),
        [
            START,
            RedactedReasoning(data="EmwKAhgBEgy3va==", vendor="anthropic"),
            TextDelta(text="ok"),
            UsageUpdate(usage=Usage(output_tokens=5)),
            Finish(stop_reason="end_turn"),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_recorded_shape_streams(name: str) -> None:
    data, expected = SCENARIOS[name]
    assert decode(data) == expected
    assert decode(data.replace(b"\n", b"\r\n")) == expected


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_collected_streams_match_the_sdks_accumulated_message(name: str) -> None:
    data, _ = SCENARIOS[name]
    ours = collect(decode(data))
    sdk = sdk_snapshot(data)
    assert ours.id == sdk.id and ours.model == sdk.model
    assert ours.stop_reason == sdk.stop_reason
    assert ours.text() == "".join(b.text for b in sdk.content if b.type == "text")
    sdk_tools = [(b.id, b.name, b.input) for b in sdk.content if b.type == "tool_use"]
    assert [(c.id, c.name, json.loads(c.arguments or "{}")) for c in ours.tool_calls()] == sdk_tools
    sdk_thinking = [(b.thinking, b.signature) for b in sdk.content if b.type == "thinking"]
    ours_thinking = [(p.text, p.signature) for p in ours.content if isinstance(p, ReasoningPart)]
    assert ours_thinking == sdk_thinking
    assert ours.usage.output_tokens == sdk.usage.output_tokens


def test_fm1_quote_heavy_arguments_reassemble_exactly() -> None:
    data, _ = SCENARIOS["text_then_tool_use_quote_heavy"]
    (call,) = collect(decode(data)).tool_calls()
    assert call.arguments == QUOTED_JSON
    assert json.loads(call.arguments)["command"] == QUOTED


def test_fm4_signatures_collect_into_real_reasoning_parts() -> None:
    thought = collect(decode(SCENARIOS["thinking_signature_then_text"][0]))
    assert thought.content[0] == ReasoningPart(
        text="Let me think \u00e9 carefully.", signature="EqQBCkYI+/==", vendor="anthropic"
    )
    signature_only = collect(decode(SCENARIOS["signature_only_thinking_then_tool_use"][0]))
    assert signature_only.content[0] == ReasoningPart(signature="sigonly==", vendor="anthropic")
    redacted = collect(decode(SCENARIOS["redacted_thinking"][0]))
    assert redacted.content[0] == RedactedReasoningPart(data="EmwKAhgBEgy3va==")


# --------------------------------------------------------------- stop reasons


@pytest.mark.parametrize(
    ("reason", "sequence", "tool", "expected"),
    [
        ("end_turn", None, False, Finish(stop_reason="end_turn")),
        ("max_tokens", None, False, Finish(stop_reason="max_tokens")),
        ("max_tokens", None, True, Finish(stop_reason="max_tokens")),
        (
            "stop_sequence",
            "</done>",
            False,
            Finish(stop_reason="stop_sequence", stop_sequence="</done>"),
        ),
        ("stop_sequence", "", False, Finish(stop_reason="stop_sequence")),
        ("stop_sequence", None, False, Finish(stop_reason="stop_sequence")),
        ("end_turn", "x", False, Finish(stop_reason="end_turn")),
        ("end_turn", None, True, Finish(stop_reason="tool_use")),  # the upstream lies
        ("tool_use", None, False, Finish(stop_reason="end_turn")),
        ("pause_turn", None, False, Finish(stop_reason="pause_turn")),
        ("refusal", None, False, Finish(stop_reason="refusal")),
        (
            "model_context_window_exceeded",
            None,
            False,
            Finish(stop_reason="context_window_exceeded"),
        ),
        ("something_new", None, False, Finish(stop_reason="end_turn")),
    ],
)
def test_fm3_stop_reasons(reason: str, sequence: str | None, tool: bool, expected: Finish) -> None:
    body = (
        tool_start(0, "toolu_1", "f") + stop(0)
        if tool
        else start(0, TEXT_BLOCK) + text(0, "partial") + stop(0)
    )
    events = decode(message_start() + body + ending(reason, 3, sequence))
    assert events[-1] == expected
    assert expected.stop_sequence != ""


def test_fm3_max_tokens_mid_text_keeps_the_partial_text() -> None:
    data = message_start() + start(0, TEXT_BLOCK) + text(0, "The answer is") + stop(0)
    response = collect(decode(data + ending("max_tokens", 4096)))
    assert (response.text(), response.stop_reason) == ("The answer is", "max_tokens")


def test_fm3_max_tokens_with_partial_tool_json() -> None:
    data = message_start() + tool_start(0, "toolu_1", "Write") + fragment(0, '{"content": "abc')
    events = decode(data + stop(0) + ending("max_tokens", 100))
    assert events[-1] == Finish(stop_reason="max_tokens")
    assert collect(events).tool_calls()[0].arguments == '{"content": "abc'


# ---------------------------------------------------------------------- usage


def test_fm5_fm6_usage_from_message_start_and_cumulative_message_delta() -> None:
    data = (
        message_start(
            2095,
            cache_creation_input_tokens=1200,
            cache_read_input_tokens=35000,
            cache_creation={"ephemeral_5m_input_tokens": 1200, "ephemeral_1h_input_tokens": 0},
            service_tier="standard",
        )
        + start(0, TEXT_BLOCK)
        + text(0, "hi")
        + stop(0)
        + message_delta("end_turn", 503, output_tokens_details={"thinking_tokens": 120})
        + MESSAGE_STOP
    )
    events = decode(data)
    assert events[0] == MessageStart(
        id="msg_01XFD",
        model=MODEL,
        created=0,
        usage=Usage(input_tokens=2095, cache_write_tokens=1200, cache_read_tokens=35000),
    )
    assert events[-2] == UsageUpdate(usage=Usage(output_tokens=503, reasoning_tokens=120))
    usage = collect(events).usage
    assert usage == Usage(
        input_tokens=2095,
        output_tokens=503,
        cache_read_tokens=35000,
        cache_write_tokens=1200,
        reasoning_tokens=120,
    )
    assert usage.prompt_tokens == 2095 + 1200 + 35000


def test_fm5_message_delta_may_restate_input_and_cache_counts() -> None:
    data = (
        message_start(10)
        + message_delta(
            "end_turn",
            9,
            input_tokens=12,
            cache_read_input_tokens=40,
            cache_creation_input_tokens=None,
        )
        + MESSAGE_STOP
    )
    assert collect(decode(data)).usage == Usage(
        input_tokens=12, output_tokens=9, cache_read_tokens=40
    )


def test_fm5_the_output_placeholder_of_message_start_is_not_usage() -> None:
    events = decode(message_start(5) + ending("end_turn", 0))
    assert isinstance(events[0], MessageStart) and events[0].usage == Usage(input_tokens=5)


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", "overloaded"),
        ("rate_limit_error", "rate_limit"),
        ("api_error", "api_error"),
        ("invalid_request_error", "invalid_request"),
        ("timeout_error", "timeout"),
        ("brand_new_error", "api_error"),
    ],
)
def test_fm18_mid_stream_error_event(error_type: str, kind: str) -> None:
    error = ev("error", {"type": "error", "error": {"type": error_type, "message": "Overloaded"}})
    data = message_start() + start(0, TEXT_BLOCK) + text(0, "Hel") + error
    events = decode(data + b"event: ping\ndata: {}\n\n")  # nothing after the error counts
    assert events == [START, TextDelta(text="Hel"), StreamError(kind=kind, message="Overloaded")]
    with pytest.raises(IncompleteStream):
        collect(events)


def test_fm18_error_before_message_start_has_no_start() -> None:
    error = ev("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    assert decode(error) == [StreamError(kind="overloaded", message="busy")]


def test_fm18_unreadable_error_event() -> None:
    data = message_start() + b"event: error\ndata: <html>oops</html>\n\n"
    events = decode(data)
    assert events[-1] == StreamError(kind="api_error", message="upstream sent an unreadable error")


@pytest.mark.parametrize(
    "cut",
    [
        b"",
        message_start(),
        message_start() + start(0, TEXT_BLOCK) + text(0, "Hel"),
        message_start() + tool_start(0, "t", "f") + fragment(0, '{"a"'),
        message_start()
        + start(0, TEXT_BLOCK)
        + text(0, "x")
        + stop(0)
        + message_delta("end_turn", 3),
        message_start() + start(0, TEXT_BLOCK) + text(0, "half an ev")[:-9],
    ],
)
def test_fm18_a_cut_stream_ends_with_an_error(cut: bytes) -> None:
    events = decode(cut)
    assert events[-1] == StreamError(
        kind="api_error", message="upstream stream ended before completion"
    )
    assert not any(isinstance(e, Finish) for e in events)


def test_close_after_the_end_adds_nothing() -> None:
    decoder = CODEC.stream_decoder(ENCODED)
    for item in SseDecoder().feed(message_start() + ending("end_turn", 1)):
        assert isinstance(item, SseEvent)
        decoder.feed(item)
    assert decoder.close() == []
    assert decoder.feed(SseEvent(event="ping", data='{"type":"ping"}')) == []


# -------------------------------------------------- ordering robustness (fm2)


def test_fm2_odd_but_survivable_orderings() -> None:
    data = (
        message_start()
        + message_start(999)  # a second start: ignored
        + text(5, "orphan delta")  # no block 5: ignored
        + stop(7)  # no block 7: ignored
        + start(0, TEXT_BLOCK)
        + fragment(0, '{"x":1}')  # a tool fragment in a text block: ignored
        + text(0, "a")
        + delta(0, {"type": "citations_delta", "citation": {"type": "char_location"}})
        + delta(0, {"type": "brand_new_delta", "x": 1})
        + start(0, TEXT_BLOCK)  # index reused without a stop
        + text(0, "b")
        + ev("brand_new_event", {"type": "brand_new_event"})
        + b"event: content_block_delta\ndata: not json\n\n"
        + tool_start(1, "toolu_1", "f")
        + fragment(1, '{"a":')
        + fragment(1, "1}")
        + ending("end_turn", 2)  # message_stop with block 1 still open
        + text(0, "after the end")
    )
    assert decode(data) == [
        START,
        TextDelta(text="a"),
        TextDelta(text="b"),
        ToolCallStart(index=0, id="toolu_1", name="f"),
        ToolCallDelta(index=0, arguments='{"a":'),
        ToolCallDelta(index=0, arguments="1}"),
        UsageUpdate(usage=Usage(output_tokens=2)),
        ToolCallEnd(index=0),
        Finish(stop_reason="tool_use"),
    ]


def test_fm2_content_before_message_start_gets_a_synthesised_start() -> None:
    events = decode(start(0, TEXT_BLOCK) + text(0, "hi") + stop(0) + ending("end_turn", 1))
    first = events[0]
    assert isinstance(first, MessageStart)
    assert first.id.startswith("msg_") and first.model == MODEL and first.created == 0
    again = decode(text(0, "x") + start(0, TEXT_BLOCK))[0]
    assert isinstance(again, MessageStart) and again.id == first.id  # stable per request
    assert collect(events).text() == "hi"


def test_fm2_a_thinking_delta_in_a_text_block_still_counts_as_reasoning() -> None:
    data = message_start() + start(0, TEXT_BLOCK)
    data += delta(0, {"type": "thinking_delta", "thinking": "hmm"}) + text(0, "ok") + stop(0)
    events = decode(data + ending("end_turn", 2))
    assert events[1:3] == [ReasoningDelta(text="hmm", vendor="anthropic"), TextDelta(text="ok")]


def test_initial_content_in_block_starts_is_not_lost() -> None:
    data = (
        message_start()
        + start(0, {"type": "text", "text": "Hi"})
        + stop(0)
        + start(1, {"type": "thinking", "thinking": "pre", "signature": "late-sig"})
        + stop(1)
        + tool_start(2, "toolu_w", "f", input={"a": [1, "\u00e9"]}).replace(b'"input": {}, ', b"")
        + fragment(2, '{"a": [1, "\\u00e9"]}')  # a server sending it twice: ignored
        + stop(2)
        + ending("tool_use", 9)
    )
    assert decode(data)[1:-2] == [
        TextDelta(text="Hi"),
        ReasoningDelta(text="pre", vendor="anthropic"),
        ReasoningSignature(signature="late-sig", vendor="anthropic"),
        ToolCallStart(index=0, id="toolu_w", name="f"),
        ToolCallDelta(index=0, arguments='{"a":[1,"\u00e9"]}'),
        ToolCallEnd(index=0),
    ]


def test_server_tool_blocks_are_skipped() -> None:
    data = (
        message_start()
        + start(
            0, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
        )
        + fragment(0, '{"query": "x"}')
        + stop(0)
        + start(1, {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []})
        + stop(1)
        + start(2, TEXT_BLOCK)
        + text(2, "found it")
        + stop(2)
        + ending("end_turn", 9)
    )
    response = collect(decode(data))
    assert response.text() == "found it" and response.tool_calls() == ()
    assert response.stop_reason == "end_turn"


# -------------------------------------------------------------- custom tools


def test_fm9_custom_tool_calls_come_back_as_raw_input() -> None:
    patch = '*** Begin Patch\n*** Add File: a.txt\n+"hi" \\ there\n*** End Patch\n'
    encoded = json.dumps({"input": patch})
    data = (
        message_start()
        + tool_start(0, "toolu_p", "apply_patch")
        + fragment(0, encoded[:10])
        + fragment(0, encoded[10:])
        + stop(0)
        + tool_start(1, "toolu_s", "shell")
        + fragment(1, '{"cmd":"ls"}')
        + stop(1)
        + ending("tool_use", 50)
    )
    events = decode(data, CUSTOM)
    assert events[1:-2] == [
        ToolCallStart(index=0, id="toolu_p", name="apply_patch", kind="custom"),
        ToolCallDelta(index=0, arguments=patch),
        ToolCallEnd(index=0),
        ToolCallStart(index=1, id="toolu_s", name="shell"),
        ToolCallDelta(index=1, arguments='{"cmd":"ls"}'),
        ToolCallEnd(index=1),
    ]
    custom, function = collect(events).tool_calls()
    assert (custom.kind, custom.arguments) == ("custom", patch)
    assert function.kind == "function"


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        (['{"input": "a', "b"], '{"input": "ab'),  # cut JSON: the raw fragments
        (['{"other": 1}'], '{"other": 1}'),  # not the wrapper: the raw fragments
        ([], None),  # no input at all: no delta
    ],
)
def test_fm9_custom_tool_input_that_does_not_parse(
    fragments: list[str], expected: str | None
) -> None:
    data = message_start() + tool_start(0, "toolu_p", "apply_patch")
    data += b"".join(fragment(0, f) for f in fragments) + stop(0) + ending("tool_use", 5)
    deltas = [e for e in decode(data, CUSTOM) if isinstance(e, ToolCallDelta)]
    assert deltas == ([] if expected is None else [ToolCallDelta(index=0, arguments=expected)])


# ------------------------------------------------ round trip through a front


ROUND_TRIP_RESPONSES = [
    Response(
        id="msg_rt1",
        model=MODEL,
        created=0,
        content=(
            ReasoningPart(text="think \u2029", signature="sig/+=", vendor="anthropic"),
            ReasoningPart(signature="only", vendor="anthropic"),
            RedactedReasoningPart(data="red"),
            TextPart(text="Hello \u2028 world"),
            ToolCallPart(id="toolu_a", name="Bash", arguments=QUOTED_JSON),
            ToolCallPart(id="toolu_b", name="Read", arguments="{}"),
        ),
        stop_reason="tool_use",
        usage=Usage(input_tokens=10, output_tokens=20, cache_read_tokens=5, cache_write_tokens=3),
    ),
    Response(
        id="msg_rt2",
        model=MODEL,
        created=0,
        content=(TextPart(text="cut"),),
        stop_reason="stop_sequence",
        stop_sequence="END",
        usage=Usage(input_tokens=1, output_tokens=2, reasoning_tokens=1),
    ),
]


@pytest.mark.parametrize("response", ROUND_TRIP_RESPONSES, ids=lambda r: r.id)
def test_a_stream_rendered_by_the_anthropic_front_decodes_to_the_same_response(
    response: Response,
) -> None:
    renderer = AnthropicStreamRenderer()
    data = b"".join(renderer.feed(e) for e in replay(response)) + renderer.close()
    assert collect(decode(data)) == response
