"""Golden stream transcripts of the OpenAI Chat front.

Each case renders canonical events to SSE bytes, compares them byte for byte
with ``golden/openai_chat/<name>.sse``, decodes them whole and in slices, and
feeds every chunk to the openai SDK's own ``ChatCompletionStreamState`` (and,
separately, to a real SDK client over an in-memory transport) to check what a
client finally sees. Regenerate the files after an intended change with
``TOKLIGENCE_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx2
import openai
import pytest
from openai._models import construct_type
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.sse_util import assert_byte_stable
from tokligence.canonical import (
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
    collect,
)
from tokligence.fronts.openai_chat import OpenAIChatFront
from tokligence.fronts.openai_chat_render import StreamStateError

GOLDEN = Path(__file__).parent / "golden" / "openai_chat"
FRONT = OpenAIChatFront()
START = MessageStart(id="0001", model="gpt-4o-2024-08-06", created=1_700_000_000)

# A ~900-byte shell command full of quotes, backslashes and non-ASCII, the
# shape that gateways have truncated or unescaped (docs/protocols.md, FM1).
HEAVY_ARGS = json.dumps(
    {
        "command": (
            'find . -name \'*.py\' -exec grep -Hn "print(\\"" {} \\; | '
            'sed -e \'s/\\\\n/\\n/g\' -e "s/\'/\\"/g" > "out \\"1\\".txt" && '
        )
        * 7
        + 'echo "done ✓ \u2028 {\\"ok\\": true}"',
        "description": 'Search for print("…") calls; quote "everything" \\ twice',
    },
    ensure_ascii=False,
)


def fragments(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass(frozen=True, kw_only=True)
class Case:
    name: str
    events: list[Event]
    include_usage: bool = False
    closed_early: bool = False  # close() without Finish / StreamError
    content: str | None = None
    reasoning: str | None = None
    tools: list[tuple[str, str, Any]] = field(default_factory=list)  # (type, name, arguments)
    finish: str | None = None
    usage: tuple[int, int, int] | None = None  # prompt, completion, cached
    error: dict[str, Any] | None = None


CASES = [
    Case(
        name="text_only",
        events=[
            START,
            TextDelta(text="Hello"),
            TextDelta(text=", world!"),
            UsageUpdate(usage=Usage(input_tokens=9, output_tokens=3)),
            Finish(stop_reason="end_turn"),
        ],
        content="Hello, world!",
        finish="stop",
    ),
    Case(
        name="text_with_usage",
        include_usage=True,
        events=[
            MessageStart(
                id="0002",
                model="gpt-4o-2024-08-06",
                created=1_700_000_000,
                usage=Usage(input_tokens=12, cache_read_tokens=1024),
            ),
            TextDelta(text="Cached "),
            TextDelta(text="answer."),
            UsageUpdate(usage=Usage(output_tokens=4)),
            Finish(stop_reason="stop_sequence", stop_sequence="END"),
        ],
        content="Cached answer.",
        finish="stop",
        usage=(1036, 4, 1024),
    ),
    Case(
        name="reasoning_then_text",
        include_usage=True,
        events=[
            START,
            ReasoningDelta(text="The user wants "),
            ReasoningDelta(text="2+2."),
            ReasoningSignature(signature="c2lnbmF0dXJl", vendor="anthropic"),
            RedactedReasoning(data="b3BhcXVl"),
            TextDelta(text="2+2 = 4."),
            UsageUpdate(usage=Usage(input_tokens=20, output_tokens=30, reasoning_tokens=22)),
            Finish(stop_reason="end_turn"),
        ],
        content="2+2 = 4.",
        reasoning="The user wants 2+2.",
        finish="stop",
        usage=(20, 30, 0),
    ),
    Case(
        name="single_tool_call",
        include_usage=True,
        events=[
            START,
            ToolCallStart(index=0, id="call_weather1", name="get_weather"),
            ToolCallDelta(index=0, arguments=""),
            ToolCallDelta(index=0, arguments='{"location":'),
            ToolCallDelta(index=0, arguments=' "Paris, FR"}'),
            ToolCallEnd(index=0),
            UsageUpdate(usage=Usage(input_tokens=50, output_tokens=18)),
            Finish(stop_reason="tool_use"),
        ],
        tools=[("function", "get_weather", {"location": "Paris, FR"})],
        finish="tool_calls",
        usage=(50, 18, 0),
    ),
    Case(
        name="parallel_tool_calls_interleaved",
        include_usage=True,
        events=[
            START,
            TextDelta(text="Checking both."),
            # Canonical indices 1 and 2 (text was block 0 upstream): chat needs 0 and 1.
            ToolCallStart(index=1, id="call_a", name="get_weather"),
            ToolCallStart(index=2, id="call_b", name="get_time"),
            ToolCallDelta(index=1, arguments='{"city"'),
            ToolCallDelta(index=2, arguments='{"tz"'),
            ToolCallDelta(index=2, arguments=': "Europe/Paris"}'),
            ToolCallDelta(index=1, arguments=': "Paris"}'),
            ToolCallEnd(index=2),
            ToolCallEnd(index=1),
            UsageUpdate(usage=Usage(input_tokens=70, output_tokens=40)),
            Finish(stop_reason="tool_use"),
        ],
        content="Checking both.",
        tools=[
            ("function", "get_weather", {"city": "Paris"}),
            ("function", "get_time", {"tz": "Europe/Paris"}),
        ],
        finish="tool_calls",
        usage=(70, 40, 0),
    ),
    Case(
        name="escaped_arguments_upstream_says_stop",
        events=[
            START,
            ToolCallStart(index=0, id="call_bash", name="bash"),
            *[ToolCallDelta(index=0, arguments=f) for f in fragments(HEAVY_ARGS, 13)],
            ToolCallEnd(index=0),
            Finish(stop_reason="end_turn"),  # the upstream lies: a tool was called
        ],
        tools=[("function", "bash", json.loads(HEAVY_ARGS))],
        finish="tool_calls",
    ),
    Case(
        name="unicode_line_separators",
        include_usage=True,
        events=[
            START,
            TextDelta(text="line one\u2028line two\u2029para"),
            TextDelta(text=' — 日本語 🚀 \\n "quoted"'),
            Finish(stop_reason="end_turn"),
        ],
        content='line one\u2028line two\u2029para — 日本語 🚀 \\n "quoted"',
        finish="stop",
        usage=(0, 0, 0),
    ),
    Case(
        name="length_with_partial_tool_json",
        events=[
            START,
            ToolCallStart(index=0, id="call_w", name="write_file"),
            ToolCallDelta(index=0, arguments='{"path": "a.txt", "content": "abc'),
            Finish(stop_reason="max_tokens"),
        ],
        tools=[("function", "write_file", None)],  # None: arguments are not valid JSON
        finish="length",
    ),
    Case(
        name="custom_tool_call",
        events=[
            START,
            ToolCallStart(index=0, id="call_patch", name="apply_patch", kind="custom"),
            ToolCallDelta(index=0, arguments="*** Begin Patch\n*** Update File: a.py\n"),
            ToolCallDelta(index=0, arguments='@@\n-print("x")\n+print("y")\n*** End Patch'),
            ToolCallEnd(index=0),
            Finish(stop_reason="tool_use"),
        ],
        tools=[
            (
                "custom",
                "apply_patch",
                "*** Begin Patch\n*** Update File: a.py\n"
                '@@\n-print("x")\n+print("y")\n*** End Patch',
            )
        ],
        finish="tool_calls",
    ),
    Case(
        name="empty_response",
        events=[START, Finish(stop_reason="end_turn")],
        content="",
        finish="stop",
    ),
    Case(
        name="stream_error_midway",
        include_usage=True,
        events=[
            START,
            TextDelta(text="Partial "),
            StreamError(kind="overloaded", message="upstream overloaded, try again"),
        ],
        error={
            "message": "upstream overloaded, try again",
            "type": "server_error",
            "param": None,
            "code": "overloaded",
        },
    ),
    Case(
        name="cut_stream",
        closed_early=True,
        events=[START, TextDelta(text="Partial answer")],
        error={
            "message": "upstream stream ended before completion",
            "type": "server_error",
            "param": None,
            "code": None,
        },
    ),
]

IDS = [case.name for case in CASES]


def request(include_usage: bool) -> Request:
    return Request(
        model="gpt-4o", dialect="openai_chat", messages=(), stream=True, include_usage=include_usage
    )


def render(case: Case) -> bytes:
    renderer = FRONT.stream_renderer(request(case.include_usage))
    out = b"".join(renderer.feed(event) for event in case.events)
    return out + renderer.close()


def golden(case: Case) -> bytes:
    path = GOLDEN / f"{case.name}.sse"
    if os.environ.get("TOKLIGENCE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(case))
    return path.read_bytes()


def chunk_model(payload: dict[str, Any], case: Case) -> ChatCompletionChunk:
    if any(kind == "custom" for kind, _, _ in case.tools):
        # The SDK's chunk type knows only function tool-call deltas; its stream
        # reader builds chunks leniently, so we do what it does.
        return cast(ChatCompletionChunk, construct_type(type_=ChatCompletionChunk, value=payload))
    return ChatCompletionChunk.model_validate(payload)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_golden_bytes(case: Case) -> None:
    assert render(case) == golden(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_golden_through_sdk_stream_state(case: Case) -> None:
    items = assert_byte_stable(golden(case))
    assert all(name is None for name, _ in items)  # chat streams have no event: lines

    payloads = [p for _, p in items]
    if case.error is None:
        assert payloads[-1] == "[DONE]" and payloads.count("[DONE]") == 1
        payloads = payloads[:-1]
    else:
        assert "[DONE]" not in payloads
        assert payloads[-1] == {"error": case.error}
        payloads = payloads[:-1]

    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    ids, roles = set(), []
    for k, payload in enumerate(payloads):
        assert isinstance(payload, dict) and "error" not in payload
        ids.add((payload["id"], payload["created"], payload["model"], payload["object"]))
        assert ("usage" in payload) == case.include_usage
        is_usage_chunk = payload["choices"] == []
        if is_usage_chunk:
            assert k == len(payloads) - 1 and payload["usage"] is not None
        elif case.include_usage:
            assert payload["usage"] is None
        for choice in payload["choices"]:
            assert choice["index"] == 0
            if "role" in choice["delta"]:
                roles.append(k)
            if case.reasoning:
                assert case.reasoning not in (choice["delta"].get("content") or "")
        state.handle_chunk(chunk_model(payload, case))
    start = case.events[0]
    assert isinstance(start, MessageStart)
    assert ids == {("chatcmpl-" + start.id, start.created, start.model, "chat.completion.chunk")}
    assert roles == [0]  # role exactly once, on the first chunk

    if case.error is not None:
        return
    final = final_completion(state, case)
    choice = final.choices[0]
    assert choice.finish_reason == case.finish
    assert choice.message.content == case.content
    assert getattr(choice.message, "reasoning_content", None) == case.reasoning
    calls = calls_of(choice.message)
    assert len(calls) == len(case.tools)
    for (_, kind, name, raw), (want_kind, want_name, arguments) in zip(
        calls, case.tools, strict=True
    ):
        assert (kind, name) == (want_kind, want_name)
        if kind == "custom":
            assert raw == arguments
        elif arguments is None:
            with pytest.raises(json.JSONDecodeError):
                json.loads(raw)
        else:
            assert json.loads(raw) == arguments
    if case.usage is None:
        assert final.usage is None
    else:
        assert final.usage is not None
        prompt, completion, cached = case.usage
        assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (prompt, completion)
        assert final.usage.total_tokens == prompt + completion
        assert final.usage.prompt_tokens_details is not None
        assert final.usage.prompt_tokens_details.cached_tokens == cached


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_golden_through_sdk_client(case: Case) -> None:
    """The real SDK client reading the golden bytes from an in-memory transport."""
    data = golden(case)

    def handler(req: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=data, headers={"content-type": "text/event-stream"})

    client = openai.OpenAI(
        api_key="test-key",
        base_url="http://gateway.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    if case.error is not None:
        with pytest.raises(openai.APIError) as info:
            list(stream)
        assert info.value.message == case.error["message"]
        assert info.value.code == case.error["code"]
        return
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == (case.content or "")


SUCCESS = [case for case in CASES if case.error is None]


@pytest.mark.parametrize("case", SUCCESS, ids=[c.name for c in SUCCESS])
def test_stream_and_non_stream_agree(case: Case) -> None:
    """The stream and the non-stream body of the same events say the same thing."""
    streamed: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for _, payload in assert_byte_stable(golden(case))[:-1]:
        streamed.handle_chunk(chunk_model(payload, case))
    s = final_completion(streamed, case).choices[0]
    body = FRONT.render_response(collect(case.events), request(case.include_usage))
    whole = ChatCompletion.model_validate_json(body).choices[0]
    assert whole.finish_reason == s.finish_reason
    assert (whole.message.content or "") == (s.message.content or "")
    assert getattr(whole.message, "reasoning_content", None) == getattr(
        s.message, "reasoning_content", None
    )
    assert calls_of(whole.message) == calls_of(s.message)


def final_completion(state: ChatCompletionStreamState[Any], case: Case) -> Any:
    """The accumulated completion. ``get_final_completion`` refuses a
    ``length`` finish by design and cannot type custom calls (SDK gap), so
    those cases are read from the accumulated snapshot itself."""
    if case.finish == "length" or any(kind == "custom" for kind, _, _ in case.tools):
        return state.current_completion_snapshot
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no SDK complaints about what we sent
        return state.get_final_completion()


def calls_of(message: Any) -> list[tuple[str, str, str, str]]:
    """(id, type, name, arguments-or-input) of every tool call, read from the
    plain dict so a custom call left untyped by the SDK reads the same."""
    out = []
    for call in message.to_dict().get("tool_calls") or []:
        if call["type"] == "custom":
            out.append((call["id"], "custom", call["custom"]["name"], call["custom"]["input"]))
        else:
            function = call["function"]
            out.append((call["id"], "function", function["name"], function["arguments"]))
    return out


def test_u2028_is_raw_in_the_bytes_and_not_a_line_break() -> None:
    data = golden(next(c for c in CASES if c.name == "unicode_line_separators"))
    assert "\u2028".encode() in data and "\u2029".encode() in data
    # Only CR/LF frame SSE; each data: line must be a whole JSON document.
    for line in data.split(b"\n"):
        if line.startswith(b"data: {"):
            json.loads(line[len(b"data: ") :])


def test_escaped_arguments_survive_fragmenting() -> None:
    case = next(c for c in CASES if c.name == "escaped_arguments_upstream_says_stop")
    pieces = [
        chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for _, chunk in assert_byte_stable(golden(case))
        if isinstance(chunk, dict)
        and chunk.get("choices")
        and "tool_calls" in chunk["choices"][0]["delta"]
    ]
    assert "".join(pieces) == HEAVY_ARGS
    assert len(HEAVY_ARGS.encode()) > 750


# ---------------------------------------------------------- state machine


def started(include_usage: bool = False) -> Any:
    renderer = FRONT.stream_renderer(request(include_usage))
    assert renderer.feed(START) == b""
    return renderer


ILLEGAL: list[tuple[str, list[Event]]] = [
    ("text before MessageStart", [TextDelta(text="x")]),
    ("two MessageStarts", [START, START]),
    ("event after Finish", [START, Finish(stop_reason="end_turn"), TextDelta(text="x")]),
    ("usage after Finish", [START, Finish(stop_reason="end_turn"), UsageUpdate(usage=Usage())]),
    ("second Finish", [START, Finish(stop_reason="end_turn"), Finish(stop_reason="end_turn")]),
    (
        "event after StreamError",
        [START, StreamError(kind="api_error", message="x"), TextDelta(text="y")],
    ),
    ("delta for a tool never started", [START, ToolCallDelta(index=0, arguments="{}")]),
    ("end for a tool never started", [START, ToolCallEnd(index=3)]),
    (
        "tool index started twice",
        [START, ToolCallStart(index=0, id="a", name="f"), ToolCallStart(index=0, id="b", name="g")],
    ),
    (
        "delta after the tool ended",
        [
            START,
            ToolCallStart(index=0, id="a", name="f"),
            ToolCallEnd(index=0),
            ToolCallDelta(index=0, arguments="x"),
        ],
    ),
]


@pytest.mark.parametrize("events", [e for _, e in ILLEGAL], ids=[n for n, _ in ILLEGAL])
def test_illegal_transitions_raise(events: list[Event]) -> None:
    renderer = FRONT.stream_renderer(request(False))
    *ok, bad = events
    for event in ok:
        renderer.feed(event)
    with pytest.raises(StreamStateError):
        renderer.feed(bad)


def test_close_twice_and_feed_after_close_raise() -> None:
    renderer = started()
    renderer.feed(Finish(stop_reason="end_turn"))
    assert renderer.close() == b""
    with pytest.raises(StreamStateError):
        renderer.close()
    with pytest.raises(StreamStateError):
        renderer.feed(TextDelta(text="x"))
    with pytest.raises(StreamStateError):
        renderer.keepalive()


def test_keepalive_is_an_sse_comment_that_decodes_to_nothing() -> None:
    renderer = started()
    ping = renderer.keepalive()
    assert ping.startswith(b":") and ping.endswith(b"\n\n")
    body = renderer.feed(TextDelta(text="a")) + ping + renderer.feed(Finish(stop_reason="end_turn"))
    assert [p for _, p in assert_byte_stable(body + renderer.close())][-1] == "[DONE]"


def test_error_before_message_start() -> None:
    renderer = FRONT.stream_renderer(request(False))
    out = renderer.feed(StreamError(kind="rate_limit", message="slow down", code=None))
    assert assert_byte_stable(out) == [
        (
            None,
            {
                "error": {
                    "message": "slow down",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
        )
    ]
    assert renderer.close() == b""


def test_usage_updates_are_remembered_not_rendered() -> None:
    renderer = started(include_usage=True)
    assert renderer.feed(UsageUpdate(usage=Usage(input_tokens=5))) == b""
    assert renderer.feed(UsageUpdate(usage=Usage(output_tokens=7))) == b""
    out = renderer.feed(Finish(stop_reason="end_turn"))
    usage = next(p for _, p in assert_byte_stable(out) if isinstance(p, dict) and p.get("usage"))
    assert usage["usage"]["prompt_tokens"] == 5 and usage["usage"]["completion_tokens"] == 7
