"""Anthropic Messages SSE rendering: golden transcripts, lifecycle invariants,
and the official SDK's accumulator and client as the judge.

Set TOKLIGENCE_UPDATE_GOLDEN=1 to rewrite the golden files (then review the diff).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import pydantic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message as SdkMessage
from anthropic.types import RawMessageStreamEvent

from tests.sse_util import assert_byte_stable
from tokligence.canonical import (
    Event,
    Finish,
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
    collect,
)
from tokligence.fronts.anthropic_messages import AnthropicMessagesFront
from tokligence.fronts.anthropic_messages_render import IllegalTransition

GOLDEN = Path(__file__).parent / "golden" / "anthropic_messages"
FRONT = AnthropicMessagesFront()
REQUEST = FRONT.parse_request(
    b'{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
)
KEEPALIVE = "keepalive"  # a step that calls renderer.keepalive() instead of feed()
EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)


def start(input_tokens: int = 10, **usage: int) -> MessageStart:
    return MessageStart(
        id="01Golden",
        model="claude-sonnet-4-5",
        created=1_700_000_000,
        usage=Usage(input_tokens=input_tokens, **usage),
    )


def done(output_tokens: int, reason: Any = "end_turn", **finish: Any) -> list[Event]:
    return [
        UsageUpdate(usage=Usage(output_tokens=output_tokens)),
        Finish(stop_reason=reason, **finish),
    ]


def tool(index: int, call_id: str, name: str, *fragments: str) -> list[Event]:
    deltas: list[Event] = [ToolCallDelta(index=index, arguments=f) for f in fragments]
    return [ToolCallStart(index=index, id=call_id, name=name), *deltas, ToolCallEnd(index=index)]


# Quotes and backslashes, sliced inside escape sequences (failure mode 1).
QUOTED_COMMAND = 'grep -rn "a \\"quoted\\" \\\\path" . | head -5'
ENCODED = json.dumps({"command": QUOTED_COMMAND})
CUTS = (0, 13, 27, 29, len(ENCODED))
FRAGMENTS = ["", *(ENCODED[a:b] for a, b in itertools.pairwise(CUTS))]


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: list[Event | str]
    complete: bool = True  # ends with message_stop (else an error event)
    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    error_type: str | None = None


SCENARIOS = [
    Scenario(
        "text",
        [
            start(25),
            TextDelta(text="Hello"),
            TextDelta(text=""),
            TextDelta(text=", world."),
            *done(7),
        ],
        content=[{"type": "text", "text": "Hello, world."}],
        stop_reason="end_turn",
        usage={"input_tokens": 25, "output_tokens": 7},
    ),
    Scenario(
        "text_then_tool_use",
        [
            start(40),
            TextDelta(text="Let me look."),
            *tool(0, "toolu_01A", "Bash", *FRAGMENTS),
            *done(31, "tool_use"),
        ],
        content=[
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "toolu_01A",
                "name": "Bash",
                "input": {"command": QUOTED_COMMAND},
            },
        ],
        stop_reason="tool_use",
        usage={"input_tokens": 40, "output_tokens": 31},
    ),
    Scenario(
        "parallel_tool_use",
        [
            start(50),
            *tool(0, "toolu_01", "Read", '{"path":', ' "a.py"}'),
            *tool(1, "toolu_02", "Read", '{"path": "b.py"}'),
            *done(44, "tool_use"),
        ],
        content=[
            {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"path": "a.py"}},
            {"type": "tool_use", "id": "toolu_02", "name": "Read", "input": {"path": "b.py"}},
        ],
        stop_reason="tool_use",
        usage={"input_tokens": 50, "output_tokens": 44},
    ),
    Scenario(
        # OpenAI-style upstream: both calls start, fragments interleave, ids are
        # not Anthropic-valid, and the finish reason claims a normal stop.
        "parallel_tool_use_interleaved",
        [
            start(50),
            ToolCallStart(index=0, id="call:a.1", name="Read"),
            ToolCallDelta(index=0, arguments='{"pa'),
            ToolCallStart(index=1, id="call:b.2", name="Grep"),
            ToolCallDelta(index=1, arguments='{"pattern": '),
            ToolCallDelta(index=0, arguments='th": "a.py"}'),
            ToolCallDelta(index=1, arguments='"TODO"}'),
            ToolCallEnd(index=1),
            ToolCallEnd(index=0),
            *done(60, "end_turn"),
        ],
        content=[
            {"type": "tool_use", "id": "call_a_1", "name": "Read", "input": {"path": "a.py"}},
            {"type": "tool_use", "id": "call_b_2", "name": "Grep", "input": {"pattern": "TODO"}},
        ],
        stop_reason="tool_use",
        usage={"input_tokens": 50, "output_tokens": 60},
    ),
    Scenario(
        "thinking_then_text",
        [
            start(12),
            ReasoningDelta(text="The user greets. ", vendor="anthropic"),
            ReasoningDelta(text="Reply briefly.", vendor="anthropic"),
            ReasoningSignature(signature="EqQBCkgIARABGAIiQL+sig==", vendor="anthropic"),
            TextDelta(text="Hi!"),
            *done(90),
        ],
        content=[
            {
                "type": "thinking",
                "thinking": "The user greets. Reply briefly.",
                "signature": "EqQBCkgIARABGAIiQL+sig==",
            },
            {"type": "text", "text": "Hi!"},
        ],
        stop_reason="end_turn",
        usage={"input_tokens": 12, "output_tokens": 90},
    ),
    Scenario(
        "signature_only_thinking_then_tool_use",
        [
            start(30),
            ReasoningSignature(signature="EpYBCkYIBRgCKkA=", vendor="anthropic"),
            *tool(0, "toolu_01X", "TodoRead"),
            *done(20, "tool_use"),
        ],
        content=[
            {"type": "thinking", "thinking": "", "signature": "EpYBCkYIBRgCKkA="},
            {"type": "tool_use", "id": "toolu_01X", "name": "TodoRead", "input": {}},
        ],
        stop_reason="tool_use",
        usage={"input_tokens": 30, "output_tokens": 20},
    ),
    Scenario(
        "redacted_thinking",
        [
            start(9),
            RedactedReasoning(data="EmwKAhgBEgy3va3pzix/LafPsn4a"),
            TextDelta(text="Done."),
            *done(15),
        ],
        content=[
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
            {"type": "text", "text": "Done."},
        ],
        stop_reason="end_turn",
        usage={"input_tokens": 9, "output_tokens": 15},
    ),
    Scenario(
        # Reasoning from an OpenAI upstream: shown as thinking, never with a forged signature.
        "other_vendor_reasoning",
        [
            start(8),
            ReasoningDelta(text="Summing.", vendor="openai"),
            ReasoningSignature(encrypted_content="gAAAA-opaque", vendor="openai"),
            ReasoningSignature(encrypted_content="gAAAA-alone", vendor="openai"),
            TextDelta(text="4"),
            *done(3),
        ],
        content=[
            {"type": "thinking", "thinking": "Summing.", "signature": ""},
            {"type": "text", "text": "4"},
        ],
        stop_reason="end_turn",
        usage={"input_tokens": 8, "output_tokens": 3},
    ),
    Scenario(
        "max_tokens",
        [start(5), TextDelta(text="Once upon a"), *done(4, "max_tokens")],
        content=[{"type": "text", "text": "Once upon a"}],
        stop_reason="max_tokens",
        usage={"input_tokens": 5, "output_tokens": 4},
    ),
    Scenario(
        "stop_sequence",
        [start(5), TextDelta(text="1, 2, "), *done(6, "stop_sequence", stop_sequence="3")],
        content=[{"type": "text", "text": "1, 2, "}],
        stop_reason="stop_sequence",
        stop_sequence="3",
        usage={"input_tokens": 5, "output_tokens": 6},
    ),
    Scenario(
        "custom_tool_call",
        [
            start(70),
            ToolCallStart(index=0, id="call_patch", name="apply_patch", kind="custom"),
            ToolCallDelta(index=0, arguments='*** Begin Patch\n+print("hi")\n'),
            ToolCallDelta(index=0, arguments="*** End Patch"),
            ToolCallEnd(index=0),
            *done(25, "tool_use"),
        ],
        content=[
            {
                "type": "tool_use",
                "id": "call_patch",
                "name": "apply_patch",
                "input": {"input": '*** Begin Patch\n+print("hi")\n*** End Patch'},
            }
        ],
        stop_reason="tool_use",
        usage={"input_tokens": 70, "output_tokens": 25},
    ),
    Scenario(
        "pings_interleaved",
        [
            KEEPALIVE,
            start(3),
            KEEPALIVE,
            TextDelta(text="a"),
            KEEPALIVE,
            TextDelta(text="b"),
            *done(2),
        ],
        content=[{"type": "text", "text": "ab"}],
        stop_reason="end_turn",
        usage={"input_tokens": 3, "output_tokens": 2},
    ),
    Scenario(
        "mid_stream_error",
        [
            start(11),
            TextDelta(text="Partial"),
            StreamError(kind="overloaded", message="Overloaded"),
        ],
        complete=False,
        content=[{"type": "text", "text": "Partial"}],
        error_type="overloaded_error",
        usage={"input_tokens": 11, "output_tokens": 1},
    ),
    Scenario(
        "cut_stream",
        [start(11), *tool(0, "toolu_cut", "Write", '{"path": "x", "content": "ab')[:-1]],
        complete=False,
        content=[{"type": "tool_use", "id": "toolu_cut", "name": "Write", "input": {"path": "x"}}],
        error_type="api_error",
        usage={"input_tokens": 11, "output_tokens": 1},
    ),
    Scenario(
        "unicode_line_separators",
        [
            start(4),
            TextDelta(text="line\u2028sep"),
            TextDelta(text=" para\u2029sep \u00e9\U0001f600"),
            *done(9),
        ],
        content=[{"type": "text", "text": "line\u2028sep para\u2029sep \u00e9\U0001f600"}],
        stop_reason="end_turn",
        usage={"input_tokens": 4, "output_tokens": 9},
    ),
    Scenario(
        "cache_usage",
        [
            start(3, cache_read_tokens=12000, cache_write_tokens=250),
            TextDelta(text="Cached."),
            UsageUpdate(usage=Usage(output_tokens=5, reasoning_tokens=2)),
            Finish(stop_reason="end_turn"),
        ],
        content=[{"type": "text", "text": "Cached."}],
        stop_reason="end_turn",
        usage={
            "input_tokens": 3,
            "output_tokens": 5,
            "cache_read_input_tokens": 12000,
            "cache_creation_input_tokens": 250,
        },
    ),
]


def render(steps: list[Event | str]) -> bytes:
    renderer = FRONT.stream_renderer(REQUEST)
    out = b""
    for step in steps:
        out += renderer.keepalive() if step == KEEPALIVE else renderer.feed(step)  # type: ignore[arg-type]
    return out + renderer.close()


def check_invariants(events: list[tuple[str | None, Any]], *, complete: bool) -> None:
    """The Anthropic content-block lifecycle, as clients enforce it."""
    delta_types = {
        "text": {"text_delta", "citations_delta"},
        "thinking": {"thinking_delta", "signature_delta"},
        "tool_use": {"input_json_delta"},
        "redacted_thinking": set(),
    }
    names = [name for name, _ in events]
    assert names.count("message_start") == 1, "exactly one message_start"
    assert next(n for n in names if n != "ping") == "message_start", "message_start first"
    for name, payload in events:
        assert isinstance(payload, dict) and payload["type"] == name, "type equals event name"
    open_index: int | None = None
    open_type = ""
    next_index = 0
    signed = False
    for position, (name, payload) in enumerate(events):
        if name == "content_block_start":
            assert open_index is None, "a block started while another is open"
            assert payload["index"] == next_index, "indices contiguous from 0"
            open_index, open_type, signed = next_index, payload["content_block"]["type"], False
            next_index += 1
        elif name == "content_block_delta":
            assert payload["index"] == open_index, "delta only for the open block"
            kind = payload["delta"]["type"]
            assert kind in delta_types[open_type], f"{kind} inside a {open_type} block"
            assert not signed, "signature_delta must be the last delta of its block"
            signed = kind == "signature_delta"
        elif name == "content_block_stop":
            assert payload["index"] == open_index, "stop only for the open block"
            open_index = None
        elif name == "message_delta":
            assert open_index is None, "message_delta with a block open"
            assert payload["delta"]["stop_sequence"] != "", "never an empty stop_sequence"
        elif name in ("message_stop", "error"):
            assert position == len(events) - 1, f"{name} must be last"
        else:
            assert name in ("message_start", "ping"), f"unexpected event {name}"
    if complete:
        assert names.count("message_delta") == 1 and names[-1] == "message_stop"
    else:
        assert names[-1] == "error" and "message_stop" not in names and "message_delta" not in names


def accumulate(events: list[tuple[str | None, Any]]) -> Any:
    """The SDK's own snapshot of a decoded stream (pings are skipped by the SDK too)."""
    snapshot = None
    buffers: dict[int, bytes] = {}
    for name, payload in events:
        if name in ("ping", "error"):
            continue
        snapshot = accumulate_event(
            event=EVENT_ADAPTER.validate_python(payload),
            current_snapshot=snapshot,
            json_bufs=buffers,
        )
    return snapshot


def dump(blocks: list[Any]) -> list[dict[str, Any]]:
    return [block.model_dump(mode="json", exclude_none=True) for block in blocks]


def sdk_client(body: bytes) -> anthropic.Anthropic:
    """The official client over an in-memory transport that answers ``body``.
    Newer SDK releases ship their own httpx fork, httpx2."""
    http = importlib.import_module("httpx2" if importlib.util.find_spec("httpx2") else "httpx")

    def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = http.Client(transport=http.MockTransport(handler))
    return anthropic.Anthropic(api_key="test", http_client=client, max_retries=0)


def golden_bytes(name: str, rendered: bytes) -> bytes:
    path = GOLDEN / f"{name}.sse"
    if os.environ.get("TOKLIGENCE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rendered)
    return path.read_bytes()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_golden(scenario: Scenario) -> None:
    rendered = render(scenario.steps)
    assert rendered == golden_bytes(scenario.name, rendered)
    events = assert_byte_stable(rendered)
    check_invariants(events, complete=scenario.complete)

    snapshot = accumulate(events)
    assert dump(snapshot.content) == scenario.content
    assert snapshot.stop_reason == scenario.stop_reason
    assert snapshot.stop_sequence == scenario.stop_sequence
    usage = snapshot.usage.model_dump(exclude_none=True)
    expected_usage = {
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        **scenario.usage,
    }
    assert {k: usage[k] for k in expected_usage} == expected_usage
    assert snapshot.id == "msg_01Golden"
    if scenario.complete:
        SdkMessage.model_validate(snapshot.model_dump())
    else:
        assert events[-1][1]["error"]["type"] == scenario.error_type


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_official_client_reads_golden(scenario: Scenario) -> None:
    """The SDK's HTTP client, SSE decoder and MessageStream agree with us."""
    body = (GOLDEN / f"{scenario.name}.sse").read_bytes()
    client = sdk_client(body)
    request = {
        "model": "claude-gateway-test",  # a real name may trigger deprecation warnings
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "x"}],
    }
    if not scenario.complete:
        with (
            pytest.raises(anthropic.APIStatusError) as info,
            client.messages.stream(**request) as stream,
        ):
            stream.until_done()
        assert scenario.error_type in str(info.value)
        return
    with client.messages.stream(**request) as stream:
        message = stream.get_final_message()
    assert dump(message.content) == scenario.content
    assert message.stop_reason == scenario.stop_reason


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.complete], ids=lambda s: s.name)
def test_stream_and_non_stream_agree(scenario: Scenario) -> None:
    """The non-stream body of the collected events equals the stream's sum."""
    events = [s for s in scenario.steps if not isinstance(s, str)]
    body = FRONT.render_response(collect(events), REQUEST)
    message = SdkMessage.model_validate_json(body)
    streamed = accumulate(assert_byte_stable(render(scenario.steps)))
    assert dump(message.content) == dump(streamed.content)
    assert (message.stop_reason, message.stop_sequence) == (
        streamed.stop_reason,
        streamed.stop_sequence,
    )
    assert message.usage.model_dump(exclude_none=True) == streamed.usage.model_dump(
        exclude_none=True
    )


def test_message_start_carries_real_usage() -> None:
    """Failure mode 5: input and cache counts in message_start, not zeros."""
    events = assert_byte_stable(render(SCENARIOS[-1].steps))
    usage = events[0][1]["message"]["usage"]
    assert usage == {
        "input_tokens": 3,
        "output_tokens": 1,
        "cache_creation_input_tokens": 250,
        "cache_read_input_tokens": 12000,
    }
    final = next(p for n, p in events if n == "message_delta")["usage"]
    assert final["output_tokens_details"] == {"thinking_tokens": 2}


def test_one_ping_after_first_block_start() -> None:
    names = [n for n, _ in assert_byte_stable(render(SCENARIOS[4].steps))]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names.count("ping") == 1


# ------------------------------------------------- the checker itself can fail


def _stream(*items: tuple[str, dict[str, Any]]) -> list[tuple[str | None, Any]]:
    start_payload = {"type": "message_start", "message": {}}
    return [("message_start", start_payload), *[(n, {"type": n, **p}) for n, p in items]]


BAD_STREAMS = {
    "delta for closed block": _stream(
        ("content_block_start", {"index": 0, "content_block": {"type": "text"}}),
        ("content_block_stop", {"index": 0}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta"}}),
    ),
    "thinking delta in text block": _stream(
        ("content_block_start", {"index": 0, "content_block": {"type": "text"}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta"}}),
    ),
    "index gap": _stream(("content_block_start", {"index": 1, "content_block": {"type": "text"}})),
    "two open blocks": _stream(
        ("content_block_start", {"index": 0, "content_block": {"type": "text"}}),
        ("content_block_start", {"index": 1, "content_block": {"type": "text"}}),
    ),
    "no message_stop": _stream(("message_delta", {"delta": {"stop_sequence": None}})),
    "empty stop_sequence": _stream(
        ("message_delta", {"delta": {"stop_sequence": ""}}), ("message_stop", {})
    ),
}


@pytest.mark.parametrize("events", BAD_STREAMS.values(), ids=BAD_STREAMS.keys())
def test_invariant_checker_rejects(events: list[tuple[str | None, Any]]) -> None:
    with pytest.raises(AssertionError):
        check_invariants(events, complete=True)


# ------------------------------------------------------- illegal transitions

S = start()
ILLEGAL: dict[str, list[Event]] = {
    "text before message_start": [TextDelta(text="x")],
    "usage before message_start": [UsageUpdate(usage=Usage())],
    "second message_start": [S, S],
    "event after finish": [S, Finish(stop_reason="end_turn"), TextDelta(text="x")],
    "event after error": [
        S,
        StreamError(kind="api_error", message="x"),
        Finish(stop_reason="end_turn"),
    ],
    "fragment for unknown tool": [S, ToolCallDelta(index=3, arguments="{}")],
    "tool index reused": [S, *tool(0, "a", "f"), ToolCallStart(index=0, id="b", name="g")],
    "fragment after tool closed by text": [
        S,
        ToolCallStart(index=0, id="a", name="f"),
        TextDelta(text="x"),
        ToolCallDelta(index=0, arguments="{}"),
    ],
}


@pytest.mark.parametrize("events", ILLEGAL.values(), ids=ILLEGAL.keys())
def test_illegal_transitions_raise(events: list[Event]) -> None:
    renderer = FRONT.stream_renderer(REQUEST)
    with pytest.raises(IllegalTransition):
        for ev in events:
            renderer.feed(ev)


def test_nothing_after_terminal_event() -> None:
    renderer = FRONT.stream_renderer(REQUEST)
    renderer.feed(S)
    renderer.feed(Finish(stop_reason="end_turn"))
    assert (renderer.close(), renderer.keepalive()) == (b"", b"")


def test_error_leaves_open_block_unclosed() -> None:
    renderer = FRONT.stream_renderer(REQUEST)
    out = renderer.feed(S) + renderer.feed(TextDelta(text="x"))
    out += renderer.feed(StreamError(kind="rate_limit", message="slow down"))
    names = [n for n, _ in assert_byte_stable(out)]
    assert "content_block_stop" not in names
    assert assert_byte_stable(out)[-1][1] == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }


def test_text_closes_open_tool_and_waiting_tools_follow() -> None:
    steps: list[Event | str] = [
        S,
        ToolCallStart(index=0, id="t0", name="a"),
        ToolCallStart(index=1, id="t1", name="b"),
        ToolCallDelta(index=1, arguments='{"k": 1}'),
        TextDelta(text="meanwhile"),
        ToolCallEnd(index=0),
        ToolCallEnd(index=1),
        Finish(stop_reason="tool_use"),
    ]
    events = assert_byte_stable(render(steps))
    check_invariants(events, complete=True)
    assert dump(accumulate(events).content) == [
        {"type": "tool_use", "id": "t0", "name": "a", "input": {}},
        {"type": "text", "text": "meanwhile"},
        {"type": "tool_use", "id": "t1", "name": "b", "input": {"k": 1}},
    ]
