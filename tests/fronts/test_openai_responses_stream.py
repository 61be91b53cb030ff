"""Golden stream transcripts of the OpenAI Responses front.

Each case renders canonical events to SSE bytes and compares them byte for
byte with ``golden/openai_responses/<name>.sse``; then decodes them whole and
in slices, validates every event against the SDK's ``ResponseStreamEvent``
union, checks the protocol invariants Codex relies on (``type`` equals the
event name, ``sequence_number`` counts from 0, each item's events are
contiguous, exactly one terminal event, last), and feeds the events to the
SDK's own ``ResponseStreamState`` and to a real SDK client over an in-memory
transport. Regenerate after an intended change with ``TOKLIGENCE_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response as SdkResponse
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from tests.fronts.test_openai_responses_parse import APPLY_PATCH_TOOL, SHELL_TOOL
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
from tokligence.fronts.openai_responses import OpenAIResponsesFront
from tokligence.fronts.openai_responses_stream import IllegalTransition
from tokligence.wire.sse_write import COMMENT_KEEPALIVE

GOLDEN = Path(__file__).parent / "golden" / "openai_responses"
FRONT = OpenAIResponsesFront()
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
START = MessageStart(id="0001", model="gpt-5-codex", created=1_700_000_000)
TERMINALS = ("response.completed", "response.incomplete", "response.failed")

REQUEST = FRONT.parse_request(
    json.dumps(
        {
            "model": "gpt-5-codex",
            "instructions": "You are Codex.",
            "input": "fix the tests",
            "tools": [SHELL_TOOL, APPLY_PATCH_TOOL],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "store": False,
            "stream": True,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "session-1",
            "text": {"verbosity": "low"},
        }
    ).encode()
)

# Quote- and backslash-heavy arguments, the shape gateways have truncated or
# unescaped (docs/protocols.md, FM1); split at awkward places below.
HEAVY = json.dumps(
    {"command": ["bash", "-lc", 'grep -n "print(\\"x\\")" a.py | sed \'s/\\\\n/é/\'']},
    ensure_ascii=False,
)
OTHER = '{"command":["ls","-la"]}'
PATCH = '*** Begin Patch\n*** Add File: a.txt\n+"quoted" \\ line\n*** End Patch'
USAGE = Usage(input_tokens=20, cache_read_tokens=80, output_tokens=30, reasoning_tokens=12)


@dataclass(frozen=True)
class Case:
    name: str
    events: tuple[Event, ...]
    terminal: str
    text: str = ""  # the final output_text
    calls: tuple[tuple[str, str, str, str], ...] = ()  # (type, call_id, name, arguments/input)
    usage: Usage | None = USAGE


def split(text: str, *cuts: int) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


CASES = [
    Case(
        "text",
        (
            START,
            TextDelta(text="Hel"),
            TextDelta(text="lo!"),
            UsageUpdate(usage=USAGE),
            Finish(stop_reason="end_turn"),
        ),
        "response.completed",
        text="Hello!",
    ),
    Case(
        "text_then_function_call",
        (
            START,
            TextDelta(text="Running it."),
            ToolCallStart(index=0, id="call_A", name="shell"),
            *(ToolCallDelta(index=0, arguments=f) for f in ["", *split(HEAVY, 5, 17, 40)]),
            ToolCallEnd(index=0),
            UsageUpdate(usage=USAGE),
            Finish(stop_reason="tool_use"),
        ),
        "response.completed",
        text="Running it.",
        calls=(("function_call", "call_A", "shell", HEAVY),),
    ),
    Case(
        "parallel_function_calls_interleaved",
        (
            START,
            ToolCallStart(index=0, id="call_A", name="shell"),
            ToolCallDelta(index=0, arguments=split(HEAVY, 9)[0]),
            ToolCallStart(index=1, id="call_B", name="shell"),
            ToolCallDelta(index=1, arguments=split(OTHER, 12)[0]),
            ToolCallDelta(index=0, arguments=split(HEAVY, 9)[1]),
            ToolCallDelta(index=1, arguments=split(OTHER, 12)[1]),
            ToolCallEnd(index=1),
            ToolCallEnd(index=0),
            UsageUpdate(usage=USAGE),
            Finish(stop_reason="tool_use"),
        ),
        "response.completed",
        calls=(
            ("function_call", "call_A", "shell", HEAVY),
            ("function_call", "call_B", "shell", OTHER),
        ),
    ),
    Case(
        "reasoning_summary_then_text",
        (
            START,
            ReasoningDelta(text="**Planning**\n\nI will ", vendor="openai", summary=True),
            ReasoningDelta(text="read the file.", vendor="openai", summary=True),
            ReasoningSignature(encrypted_content="gAAAAB-opaque==", vendor="openai"),
            TextDelta(text="Done."),
            UsageUpdate(usage=USAGE),
            Finish(stop_reason="end_turn"),
        ),
        "response.completed",
        text="Done.",
    ),
    Case(
        "anthropic_thinking_then_call",
        (
            START,
            ReasoningDelta(text="The user wants ", vendor="anthropic"),
            ReasoningDelta(text="a listing.", vendor="anthropic"),
            ReasoningSignature(signature="EqQBCkYIBxgCKkD-anthropic-signature", vendor="anthropic"),
            RedactedReasoning(data="EmwKAhgBEgy-redacted"),
            ToolCallStart(index=0, id="toolu_01", name="shell"),
            ToolCallDelta(index=0, arguments=OTHER),
            ToolCallEnd(index=0),
            UsageUpdate(usage=USAGE),
            Finish(stop_reason="tool_use"),
        ),
        "response.completed",
        calls=(("function_call", "toolu_01", "shell", OTHER),),
    ),
    Case(
        "custom_tool_call",
        (
            START,
            ToolCallStart(index=0, id="call_P", name="apply_patch", kind="custom"),
            *(ToolCallDelta(index=0, arguments=f) for f in split(PATCH, 3, 20)),
            ToolCallEnd(index=0),
            UsageUpdate(usage=USAGE),
            Finish(stop_reason="tool_use"),
        ),
        "response.completed",
        calls=(("custom_tool_call", "call_P", "apply_patch", PATCH),),
    ),
    Case(
        "no_argument_call",
        (
            START,
            ToolCallStart(index=0, id="call_N", name="shell"),
            ToolCallEnd(index=0),
            Finish(stop_reason="tool_use"),
        ),
        "response.completed",
        calls=(("function_call", "call_N", "shell", "{}"),),
        usage=None,
    ),
    Case(
        "max_tokens_incomplete",
        (
            START,
            TextDelta(text="The answer is"),
            UsageUpdate(usage=USAGE),
            Finish(stop_reason="max_tokens"),
        ),
        "response.incomplete",
        text="The answer is",
    ),
    Case(
        "midstream_error",
        (
            START,
            TextDelta(text="Partial"),
            UsageUpdate(usage=USAGE),
            StreamError(kind="overloaded", message="Overloaded"),
        ),
        "response.failed",
    ),
    Case(
        "cut_stream",
        (START, TextDelta(text="Partial"), ToolCallStart(index=0, id="call_A", name="shell")),
        "response.failed",
        text="Partial",  # the message was finished by the call that followed it
        usage=None,
    ),
    Case(
        "unicode_line_separators",
        (
            START,
            TextDelta(text="line\u2028separator"),
            TextDelta(text=" and\u2029paragraph \U0001f600"),
            UsageUpdate(usage=USAGE),
            Finish(stop_reason="end_turn"),
        ),
        "response.completed",
        text="line\u2028separator and\u2029paragraph \U0001f600",
    ),
]
IDS = [c.name for c in CASES]


def render(case: Case) -> bytes:
    renderer = FRONT.stream_renderer(REQUEST)
    return b"".join(renderer.feed(ev) for ev in case.events) + renderer.close()


def golden(case: Case) -> bytes:
    path = GOLDEN / f"{case.name}.sse"
    if os.environ.get("TOKLIGENCE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(case))
    return path.read_bytes()


def payloads(case: Case) -> list[dict[str, Any]]:
    out = []
    for name, payload in assert_byte_stable(golden(case)):
        assert isinstance(payload, dict) and name == payload["type"]
        out.append(payload)
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_golden_bytes(case: Case) -> None:
    assert render(case) == golden(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_protocol_invariants(case: Case) -> None:
    events = payloads(case)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert [k for k in kinds if k in TERMINALS] == [case.terminal] == kinds[-1:]
    assert "[DONE]" not in golden(case).decode()
    if case.terminal == "response.failed":
        assert kinds[-2] == "error"
    # Every item's events are contiguous: added ... done, nothing of another item between.
    current = None
    for e in events[2:-1]:
        if e["type"] == "response.output_item.added":
            assert current is None
            current = e["output_index"]
        elif "output_index" in e:
            assert e["output_index"] == current
            if e["type"] == "response.output_item.done":
                current = None
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert events[-1]["response"]["output"] == done
    assert [d.get("id") for d in done] == [f"{p}_0001_{i}" for i, p in enumerate(_prefixes(done))]


def _prefixes(items: list[dict[str, Any]]) -> list[str]:
    names = {"message": "msg", "reasoning": "rs", "function_call": "fc", "custom_tool_call": "ctc"}
    return [names[i["type"]] for i in items]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sdk_validates_and_accumulates(case: Case) -> None:
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[], text_format=openai.omit)
    events = [EVENTS.validate_python(p) for p in payloads(case)]
    for ev in events:
        state.handle_event(ev)
    final: Any = events[-1].response
    assert final.id == "resp_0001" and final.model == "gpt-5-codex"
    if case.terminal == "response.completed":
        final = state._completed_response  # what the SDK's stream helper hands the user
        assert final is not None and final.status == "completed"
    assert final.output_text == case.text
    calls = [
        (o.type, o.call_id, o.name, o.arguments if o.type == "function_call" else o.input)
        for o in final.output
        if o.type in ("function_call", "custom_tool_call")
    ]
    assert calls == list(case.calls)
    if case.usage is None:
        assert final.usage is None
    else:
        assert final.usage is not None
        assert final.usage.input_tokens == case.usage.prompt_tokens  # cache included
        assert final.usage.input_tokens_details.cached_tokens == case.usage.cache_read_tokens
        assert final.usage.output_tokens_details.reasoning_tokens == case.usage.reasoning_tokens
        assert final.usage.total_tokens == case.usage.total_tokens


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_real_sdk_client(case: Case) -> None:
    data = golden(case)

    def handler(req: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=data, headers={"content-type": "text/event-stream"})

    client = openai.OpenAI(
        api_key="test-key",
        base_url="http://gateway.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.responses.stream(model="gpt-5-codex", input="fix the tests") as stream:
        streamed = list(stream)
        if case.terminal == "response.completed":
            assert stream.get_final_response().output_text == case.text
        else:
            with pytest.raises(RuntimeError):
                stream.get_final_response()
    deltas = "".join(e.delta for e in streamed if e.type == "response.output_text.delta")
    assert deltas == "".join(ev.text for ev in case.events if isinstance(ev, TextDelta))


SUCCESS = [c for c in CASES if c.terminal != "response.failed"]


@pytest.mark.parametrize("case", SUCCESS, ids=[c.name for c in SUCCESS])
def test_stream_and_non_stream_agree(case: Case) -> None:
    streamed = payloads(case)[-1]["response"]
    whole = json.loads(FRONT.render_response(collect(case.events), REQUEST))
    SdkResponse.model_validate(whole)
    assert whole["output"] == streamed["output"]
    assert (whole["status"], whole["incomplete_details"]) == (
        streamed["status"],
        streamed["incomplete_details"],
    )


def test_reasoning_events_and_items() -> None:
    summary = payloads(CASES[IDS.index("reasoning_summary_then_text")])
    kinds = [e["type"] for e in summary]
    assert kinds[2:9] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert all(e["summary_index"] == 0 for e in summary[3:8])
    item = summary[8]["item"]
    assert item["summary"] == [
        {"type": "summary_text", "text": "**Planning**\n\nI will read the file."}
    ]
    assert item["encrypted_content"] == "gAAAAB-opaque=="

    thinking = CASES[IDS.index("anthropic_thinking_then_call")]
    data = golden(thinking).decode()
    # Claude's signature travels only marked, inside encrypted_content
    # (openai_responses_proofs); redacted thinking never reaches the client.
    assert data.count("anthropic-signature") == data.count(
        '"encrypted_content":"tokligence:anthropic:EqQBCkYIBxgCKkD-anthropic-signature"'
    )
    assert "anthropic-signature" in data and "redacted" not in data
    raw = payloads(thinking)
    assert [e["content_index"] for e in raw if e["type"] == "response.reasoning_text.delta"] == [
        0,
        0,
    ]
    first_item = next(e for e in raw if e["type"] == "response.output_item.done")["item"]
    assert first_item == {
        "id": "rs_0001_0",
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "The user wants a listing."}],
        "encrypted_content": "tokligence:anthropic:EqQBCkYIBxgCKkD-anthropic-signature",
    }


def test_failure_events() -> None:
    events = payloads(CASES[IDS.index("midstream_error")])
    error, failed = events[-2], events[-1]
    assert (error["code"], error["message"]) == ("server_error", "Overloaded")
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "server_error", "message": "Overloaded"}
    # The half-written message was never finished, so it is not in the output.
    assert failed["response"]["output"] == []
    cut = payloads(CASES[IDS.index("cut_stream")])
    assert cut[-1]["response"]["error"]["code"] == "server_error"
    assert "ended before" in cut[-1]["response"]["error"]["message"]


def test_u2028_is_raw_in_the_bytes_and_not_a_line_break() -> None:
    data = golden(CASES[IDS.index("unicode_line_separators")])
    assert "\u2028".encode() in data and "\u2029".encode() in data
    for line in data.split(b"\n"):
        if line.startswith(b"data: "):
            json.loads(line[len(b"data: ") :])


def test_heavy_arguments_survive_fragmenting() -> None:
    events = payloads(CASES[IDS.index("parallel_function_calls_interleaved")])
    args = {0: "", 1: ""}
    for e in events:
        if e["type"] == "response.function_call_arguments.delta":
            args[e["output_index"]] += e["delta"]
        if e["type"] == "response.function_call_arguments.done":
            assert e["arguments"] == args[e["output_index"]]
    assert args == {0: HEAVY, 1: OTHER}


# ------------------------------------------------------------ state machine


def started() -> Any:
    renderer = FRONT.stream_renderer(REQUEST)
    renderer.feed(START)
    return renderer


def kinds_of(data: bytes) -> list[str]:
    return [p["type"] for _, p in assert_byte_stable(data)]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param((TextDelta(text="x"),), id="content before MessageStart"),
        pytest.param((UsageUpdate(usage=USAGE),), id="usage before MessageStart"),
        pytest.param((START, START), id="two MessageStarts"),
        pytest.param(
            (START, Finish(stop_reason="end_turn"), TextDelta(text="x")), id="text after Finish"
        ),
        pytest.param(
            (START, Finish(stop_reason="end_turn"), UsageUpdate(usage=USAGE)),
            id="usage after Finish",
        ),
        pytest.param(
            (START, StreamError(kind="api_error", message="x"), Finish(stop_reason="end_turn")),
            id="finish after error",
        ),
        pytest.param((START, ToolCallDelta(index=0, arguments="{}")), id="delta of unknown call"),
        pytest.param(
            (
                START,
                ToolCallStart(index=0, id="a", name="f"),
                ToolCallStart(index=0, id="b", name="f"),
            ),
            id="index reused while open",
        ),
        pytest.param(
            (
                START,
                ToolCallStart(index=0, id="a", name="f"),
                ToolCallEnd(index=0),
                ToolCallEnd(index=0),
            ),
            id="call ended twice",
        ),
        pytest.param(
            (
                START,
                ToolCallStart(index=0, id="a", name="f"),
                ToolCallEnd(index=0),
                ToolCallDelta(index=0, arguments="x"),
            ),
            id="delta after end",
        ),
    ],
)
def test_illegal_transitions_raise(events: tuple[Event, ...]) -> None:
    renderer = FRONT.stream_renderer(REQUEST)
    with pytest.raises(IllegalTransition):
        for ev in events:
            renderer.feed(ev)


def test_close_twice_raises_and_keepalive_stops_after_the_end() -> None:
    renderer = started()
    assert renderer.keepalive() == COMMENT_KEEPALIVE
    renderer.feed(Finish(stop_reason="end_turn"))
    assert renderer.keepalive() == b""
    assert renderer.close() == b""
    with pytest.raises(IllegalTransition):
        renderer.close()


def test_keepalive_is_a_comment_not_an_event() -> None:
    renderer = FRONT.stream_renderer(REQUEST)
    data = renderer.keepalive()
    assert data.startswith(b":") and kinds_of(data) == []


def test_error_before_start_still_opens_the_response() -> None:
    renderer = FRONT.stream_renderer(REQUEST)
    data = (
        renderer.feed(StreamError(kind="rate_limit", message="try again in 2s")) + renderer.close()
    )
    events = [EVENTS.validate_python(p) for _, p in assert_byte_stable(data)]
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "error",
        "response.failed",
    ]
    assert events[-1].response.error.code == "rate_limit_exceeded"
    assert events[-1].response.error.message == "try again in 2s"


def test_context_window_failure_uses_the_code_codex_knows() -> None:
    renderer = started()
    data = renderer.feed(
        StreamError(kind="invalid_request", message="too long", code="context_length_exceeded")
    )
    failed = assert_byte_stable(data)[-1][1]
    # Not in the SDK's literal (see openai_responses_render._FORWARDED_CODES);
    # Codex maps exactly this code to "context window exceeded".
    assert failed["response"]["error"]["code"] == "context_length_exceeded"
    plain = started().feed(StreamError(kind="invalid_request", message="bad"))
    assert assert_byte_stable(plain)[-1][1]["response"]["error"]["code"] == "invalid_prompt"


def test_text_behind_an_open_call_waits_its_turn() -> None:
    renderer = started()
    data = b"".join(
        renderer.feed(ev)
        for ev in (
            ToolCallStart(index=0, id="call_A", name="shell"),
            ToolCallDelta(index=0, arguments='{"a":'),
            TextDelta(text="meanwhile"),
            ToolCallDelta(index=0, arguments="1}"),
        )
    )
    # The message is queued behind the live call: nothing of it is out yet.
    assert b"meanwhile" not in data
    data += renderer.feed(ToolCallEnd(index=0)) + renderer.feed(Finish(stop_reason="tool_use"))
    items = [
        p["item"] for _, p in assert_byte_stable(data) if p["type"] == "response.output_item.done"
    ]
    assert [(i["type"], i["id"]) for i in items] == [
        ("function_call", "fc_0001_0"),
        ("message", "msg_0001_1"),
    ]
    assert items[0]["arguments"] == '{"a":1}'


def test_finish_closes_calls_that_never_ended() -> None:
    renderer = started()
    renderer.feed(ToolCallStart(index=0, id="call_A", name="shell"))
    renderer.feed(ToolCallDelta(index=0, arguments="{}"))
    data = renderer.feed(Finish(stop_reason="tool_use"))
    kinds = kinds_of(data)
    assert kinds == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]


@pytest.mark.parametrize(
    ("stop", "status", "reason"),
    [
        ("end_turn", "completed", None),
        ("stop_sequence", "completed", None),
        ("pause_turn", "completed", None),
        ("max_tokens", "incomplete", "max_output_tokens"),
        ("context_window_exceeded", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
        ("refusal", "incomplete", "content_filter"),
    ],
)
def test_terminal_status(stop: Any, status: str, reason: str | None) -> None:
    data = started().feed(Finish(stop_reason=stop))
    terminal = EVENTS.validate_python(assert_byte_stable(data)[-1][1])
    assert terminal.type == (
        "response.completed" if status == "completed" else "response.incomplete"
    )
    assert terminal.response.status == status
    details = terminal.response.incomplete_details
    assert (details.reason if details else None) == reason


def test_request_settings_echoed_in_created() -> None:
    created = EVENTS.validate_python(payloads(CASES[0])[0]).response
    assert created.status == "in_progress" and created.output == [] and created.usage is None
    assert created.instructions == "You are Codex."
    assert [t.type for t in created.tools] == ["function", "custom"]
    assert created.store is False and created.prompt_cache_key == "session-1"
    assert created.reasoning is not None and created.reasoning.effort == "medium"
    assert created.text is not None and created.text.verbosity == "low"
