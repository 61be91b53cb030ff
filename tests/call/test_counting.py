"""The gateway's own count of what it relayed (the billing audit's side):
per dialect, stream and whole, from real-shaped upstream bytes; each text
counted once, reasoning only where the upstream does not report it apart."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes.anthropic import (
    MessagesScenario,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    messages_json,
    messages_stream,
)
from tests.fakes.openai_chat import ChatScenario, ChatToolCall, chat_json, chat_stream
from tests.fakes.openai_responses import (
    FunctionCallItem,
    MessageItem,
    ReasoningItem,
    ResponsesScenario,
    responses_json,
    responses_stream,
)
from tests.fakes.wire import Reply
from tokligence.call.usage import EventMeter, RelayMeter
from tokligence.canonical import ReasoningDelta, TextDelta, ToolCallDelta, Usage
from tokligence.canonical.tokens import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    TOOL_OVERHEAD,
    json_tokens,
    request_tokens,
    text_tokens,
)
from tokligence.codecs.usage_sniff import UsageSniffer
from tokligence.fronts.registry import FRONTS

# Real-shaped text: escapes, quotes, non-ASCII, a code line.
TEXT = ["Here is the fix:\n", 'print("héllo, 世界")', "\tdone \\o/"]
ARGUMENTS = ['{"path": "src/app.py", ', '"line": 12}']
THOUGHT = ["The user wants ", "a fix."]
VISIBLE = text_tokens("".join(TEXT) + "".join(ARGUMENTS))
WITH_THOUGHT = text_tokens("".join(THOUGHT) + "".join(TEXT) + "".join(ARGUMENTS))


def sniffed(dialect: str, reply: Reply, *, stream: bool) -> UsageSniffer:
    sniffer = UsageSniffer(dialect, lambda payload: None, stream=stream)
    for chunk in reply.chunks:
        sniffer.feed(chunk.data)
    sniffer.finish()
    return sniffer


CHAT = ChatScenario(
    reasoning=THOUGHT,
    text=TEXT,
    tool_calls=[ChatToolCall(id="call_1", name="edit", fragments=ARGUMENTS)],
)
MESSAGES = MessagesScenario(
    blocks=[
        ThinkingBlock(pieces=THOUGHT),
        TextBlock(pieces=TEXT),
        ToolUseBlock(id="toolu_1", name="edit", fragments=ARGUMENTS),
    ]
)
RESPONSES = ResponsesScenario(
    items=[
        ReasoningItem(summaries=[THOUGHT]),
        MessageItem(pieces=TEXT),
        FunctionCallItem(call_id="call_1", name="edit", fragments=ARGUMENTS),
    ]
)
STREAMS = {
    "openai_chat": chat_stream(CHAT),
    "anthropic_messages": messages_stream(MESSAGES),
    "openai_responses": responses_stream(RESPONSES),
}
WHOLE = {
    "openai_chat": chat_json(CHAT),
    "anthropic_messages": messages_json(MESSAGES),
    "openai_responses": responses_json(RESPONSES),
}


@pytest.mark.parametrize("dialect", sorted(STREAMS))
def test_a_stream_counts_each_delta_once(dialect: str) -> None:
    sniffer = sniffed(dialect, STREAMS[dialect], stream=True)
    # Responses repeats the text in its *.done and response.completed
    # events; those are not counted again.
    assert sniffer.counted_output(reasoning=False) == VISIBLE
    assert sniffer.counted_output(reasoning=True) == WITH_THOUGHT


@pytest.mark.parametrize("dialect", sorted(WHOLE))
def test_a_whole_answer_counts_its_output_alone(dialect: str) -> None:
    sniffer = sniffed(dialect, WHOLE[dialect], stream=False)
    visible = sniffer.counted_output(reasoning=False)
    # The tool's name (and, for a whole answer, its arguments re-serialised
    # by the fake) add a few tokens over the stream's count; the response's
    # ids, model, usage and echoed settings add none.
    assert VISIBLE <= visible <= VISIBLE + 4
    thought = sniffer.counted_output(reasoning=True) - visible
    assert thought == pytest.approx(text_tokens("".join(THOUGHT)), abs=1)


def test_a_cut_stream_counts_what_was_relayed() -> None:
    reply = STREAMS["anthropic_messages"]
    whole = b"".join(chunk.data for chunk in reply.chunks)
    sniffer = UsageSniffer("anthropic_messages", lambda payload: None, stream=True)
    sniffer.feed(whole[: whole.index(b"Here is")])
    assert sniffer.counted_output(reasoning=False) == 0
    assert sniffer.counted_output(reasoning=True) == text_tokens("".join(THOUGHT))


def test_escapes_are_counted_as_the_text_they_stand_for() -> None:
    text = 'a "quoted" \\ path\n\u00e9\U0001f600'
    data = json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]})
    sniffer = UsageSniffer("openai_chat", lambda payload: None, stream=True)
    sniffer.feed(f"data: {data}\n\ndata: [DONE]\n\n".encode())
    assert sniffer.counted_output(reasoning=False) == text_tokens(text)


# -------------------------------------------------------------- the request


def test_a_body_counts_its_text_not_its_labels() -> None:
    body: dict[str, Any] = {
        "model": "a-very-long-model-name-that-is-not-read-by-the-model",
        "stream": True,
        "max_tokens": 1024,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "héllo"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and this"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "A" * 9000},
                    },
                ],
            },
        ],
        "tools": [{"name": "edit", "input_schema": {"type": "object"}}],
    }
    text = "Be brief." + "héllo" + "and this" + "edit" + '{"type":"object"}'
    assert json_tokens(body) == (
        text_tokens(text) + 2 * MESSAGE_OVERHEAD + IMAGE_TOKENS + TOOL_OVERHEAD
    )


@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        (
            "openai_chat",
            {
                "model": "m",
                "messages": [
                    {"role": "system", "content": "You are a careful engineer."},
                    {"role": "user", "content": "Please fix the bug in src/app.py, line 12."},
                ],
            },
        ),
        (
            "anthropic_messages",
            {
                "model": "m",
                "max_tokens": 100,
                "system": "You are a careful engineer.",
                "messages": [{"role": "user", "content": "Please fix src/app.py, line 12."}],
            },
        ),
        (
            "openai_responses",
            {
                "model": "m",
                "instructions": "You are a careful engineer.",
                "input": [{"role": "user", "content": "Please fix src/app.py, line 12."}],
            },
        ),
    ],
)
def test_a_body_counts_as_its_canonical_request_does(dialect: str, body: dict[str, Any]) -> None:
    # Passthrough counts the body as it came; translation counts the
    # canonical request: the two agree to a token or two of rounding.
    canonical = request_tokens(FRONTS[dialect].parse_object(body))
    assert json_tokens(body) == pytest.approx(canonical, abs=2)


# ---------------------------------------------------------------- the meters


def test_the_event_meter_counts_reasoning_only_when_not_reported_apart() -> None:
    request = FRONTS["openai_chat"].parse_object(
        {"model": "m", "messages": [{"role": "user", "content": "one two three four"}]}
    )
    meter = EventMeter(request)
    meter.observe(ReasoningDelta(text="".join(THOUGHT)))
    for piece in TEXT:
        meter.observe(TextDelta(text=piece))
    meter.observe(ToolCallDelta(index=0, arguments="".join(ARGUMENTS)))
    apart = Usage(input_tokens=5, output_tokens=40, reasoning_tokens=30)
    assert meter.counted(apart) == (request_tokens(request), VISIBLE)
    assert meter.counted(Usage(input_tokens=5, output_tokens=40)) == (
        request_tokens(request),
        WITH_THOUGHT,
    )


def test_the_relay_meter_counts_only_a_relayed_answer() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi there"}]}
    meter = RelayMeter("openai_chat", lambda payload: None, lambda: 0, body)
    assert meter.counted(None) is None  # an error status: nothing relayed
    sniffer = meter.start(stream=True)
    for chunk in STREAMS["openai_chat"].chunks:
        sniffer.feed(chunk.data)
    assert meter.counted(Usage(reasoning_tokens=3)) == (json_tokens(body), VISIBLE)
