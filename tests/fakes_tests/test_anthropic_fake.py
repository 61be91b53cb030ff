"""The fake Anthropic Messages upstream, judged by the official anthropic SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import Message

from tests.fakes.anthropic import (
    PING,
    MessagesScenario,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    anthropic_error,
    count_tokens_reply,
    final_block,
    messages_events,
    messages_json,
    messages_stream,
)
from tests.fakes.sse_script import Comment, Framing, only_events
from tests.fakes.wire import FakeServer

PATH = "/v1/messages"
MESSAGES: Any = [{"role": "user", "content": "hi"}]
NASTY = 'cat "a \\"b\\"" \\\\ \n😀\u2028'
NASTY_JSON = json.dumps({"command": NASTY}, ensure_ascii=False)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeServer, anthropic.Anthropic]]:
    fake = FakeServer()
    with fake.running_in_thread() as url:
        yield fake, anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)


@pytest.fixture
def fake(server: tuple[FakeServer, anthropic.Anthropic]) -> Iterator[FakeServer]:
    server[0].reset()
    yield server[0]
    assert server[0].pending() == 0


@pytest.fixture
def client(server: tuple[FakeServer, anthropic.Anthropic]) -> anthropic.Anthropic:
    return server[1]


def final(client: anthropic.Anthropic, **extra: Any) -> Any:
    with client.messages.stream(model="claude", max_tokens=64, messages=MESSAGES, **extra) as s:
        return s.get_final_message()


def dumped(message: Any) -> list[dict[str, Any]]:
    return [
        block.model_dump(exclude_none=True, exclude={"parsed_output"}) for block in message.content
    ]


def check_invariants(scenario: MessagesScenario) -> None:
    """One message_start first; blocks strictly sequential with contiguous indices."""
    names = [name for name, _ in only_events(messages_events(scenario))]
    assert names[0] == "message_start" and names.count("message_start") == 1
    open_index: int | None = None
    next_index = 0
    for name, payload in only_events(messages_events(scenario)):
        if name == "content_block_start":
            assert open_index is None and payload["index"] == next_index
            open_index = next_index
        elif name == "content_block_delta":
            assert payload["index"] == open_index
        elif name == "content_block_stop":
            assert payload["index"] == open_index
            open_index, next_index = None, next_index + 1
    assert open_index is None and next_index == len(scenario.blocks)


SCENARIOS = {
    "text": MessagesScenario(blocks=[TextBlock(pieces=["Hel", "lo"])]),
    "text_then_tool": MessagesScenario(
        blocks=[
            TextBlock(pieces=["Let me look."]),
            ToolUseBlock(
                id="toolu_01", name="bash", fragments=["", NASTY_JSON[:9], NASTY_JSON[9:]]
            ),
        ]
    ),
    "parallel_tools_and_no_args": MessagesScenario(
        blocks=[
            ToolUseBlock(id="toolu_01", name="read", fragments=['{"path":', '"a.txt"}']),
            ToolUseBlock(id="toolu_02", name="list_all", caller=True),
        ]
    ),
    "thinking_then_text": MessagesScenario(
        blocks=[
            ThinkingBlock(pieces=["Hmm, ", "ok."], signature="sig-A=="),
            TextBlock(pieces=["Done"]),
        ]
    ),
    "signature_only_thinking_then_tool": MessagesScenario(
        blocks=[
            ThinkingBlock(signature="sig-only=="),
            ToolUseBlock(id="toolu_01", name="giant", fragments=[NASTY_JSON]),
        ]
    ),
    "redacted_thinking": MessagesScenario(
        blocks=[RedactedThinkingBlock(data="opaque=="), TextBlock(pieces=["hi"])]
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_stream_and_json_give_the_scenario_blocks(
    fake: FakeServer, client: anthropic.Anthropic, name: str
) -> None:
    scenario = SCENARIOS[name]
    check_invariants(scenario)
    expected = [final_block(block) for block in scenario.blocks]
    fake.enqueue(PATH, messages_stream(scenario))
    streamed = final(client)
    assert dumped(streamed) == expected
    assert streamed.stop_reason == scenario.effective_stop_reason
    fake.enqueue(PATH, messages_json(scenario))
    created = client.messages.create(model="claude", max_tokens=64, messages=MESSAGES)
    assert dumped(created) == expected
    assert created.model_dump() == Message.model_validate(created.model_dump()).model_dump()


def test_tool_inputs_survive_exactly(fake: FakeServer, client: anthropic.Anthropic) -> None:
    fake.enqueue(PATH, messages_stream(SCENARIOS["text_then_tool"]))
    tool = final(client).content[1]
    assert tool.input == {"command": NASTY}
    assert tool.caller is None
    fake.enqueue(PATH, messages_stream(SCENARIOS["parallel_tools_and_no_args"]))
    first, second = final(client).content
    assert (first.id, first.input) == ("toolu_01", {"path": "a.txt"})
    assert (second.id, second.input, second.caller.type) == ("toolu_02", {}, "direct")


def test_signature_only_thinking_keeps_an_empty_text(
    fake: FakeServer, client: anthropic.Anthropic
) -> None:
    scenario = SCENARIOS["signature_only_thinking_then_tool"]
    deltas = [
        p["delta"]["type"]
        for n, p in only_events(messages_events(scenario))
        if n == "content_block_delta" and p["index"] == 0
    ]
    assert deltas == ["signature_delta"]
    fake.enqueue(PATH, messages_stream(scenario))
    thinking = final(client).content[0]
    assert (thinking.type, thinking.thinking, thinking.signature) == ("thinking", "", "sig-only==")


def test_full_usage_shape(fake: FakeServer, client: anthropic.Anthropic) -> None:
    scenario = MessagesScenario(
        blocks=[TextBlock(pieces=["x"])],
        input_tokens=7,
        cache_creation_input_tokens=50,
        ephemeral_1h_input_tokens=20,
        cache_read_input_tokens=100,
        output_tokens=33,
        thinking_tokens=11,
    )
    start = only_events(messages_events(scenario))[0][1]["message"]
    assert start["usage"]["output_tokens"] == 1
    assert start["stop_reason"] is None and start["stop_sequence"] is None
    fake.enqueue(PATH, messages_stream(scenario))
    usage = final(client).usage
    assert (usage.input_tokens, usage.output_tokens) == (7, 33)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (50, 100)
    assert usage.cache_creation.ephemeral_5m_input_tokens == 30
    assert usage.cache_creation.ephemeral_1h_input_tokens == 20
    assert usage.service_tier == "standard"
    assert usage.output_tokens_details.thinking_tokens == 11


def test_minimal_older_usage(fake: FakeServer, client: anthropic.Anthropic) -> None:
    scenario = MessagesScenario(blocks=[TextBlock(pieces=["x"])], minimal_usage=True)
    assert only_events(messages_events(scenario))[0][1]["message"]["usage"] == {
        "input_tokens": 21,
        "output_tokens": 1,
    }
    fake.enqueue(PATH, messages_stream(scenario))
    usage = final(client).usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (
        21,
        13,
        None,
    )


@pytest.mark.parametrize(
    ("stop_reason", "stop_sequence"),
    [
        ("end_turn", None),
        ("max_tokens", None),
        ("stop_sequence", "###"),
        ("pause_turn", None),
        ("refusal", None),
        ("model_context_window_exceeded", None),
    ],
)
def test_stop_reasons(
    fake: FakeServer, client: anthropic.Anthropic, stop_reason: str, stop_sequence: str | None
) -> None:
    scenario = MessagesScenario(
        blocks=[TextBlock(pieces=["x"])],
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        stop_details=True,
    )
    fake.enqueue(PATH, messages_stream(scenario))
    message = final(client)
    assert (message.stop_reason, message.stop_sequence) == (stop_reason, stop_sequence)
    fake.enqueue(PATH, messages_json(scenario))
    body = client.messages.with_raw_response.create(
        model="claude", max_tokens=5, messages=MESSAGES
    ).http_response.json()
    assert "stop_sequence" in body and body["stop_sequence"] == stop_sequence


def test_pings_after_first_block_and_anywhere(
    fake: FakeServer, client: anthropic.Anthropic
) -> None:
    scenario = MessagesScenario(
        blocks=[TextBlock(pieces=["a", "b"])],
        framing=Framing(insert={3: [PING, Comment()], 6: [PING]}),
    )
    names = [name for name, _ in only_events(messages_events(scenario))]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    fake.enqueue(PATH, messages_stream(scenario))
    with client.messages.stream(model="claude", max_tokens=5, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
    assert text == "ab"
    body = fake.requests(PATH)[-1]
    assert body.json["stream"] is True


@pytest.mark.parametrize(
    "framing",
    [
        Framing(split_every=1, pad_json=4),
        Framing(split_every=3, eol="\r\n"),
        Framing(split="whole", eol="\r"),
    ],
)
def test_byte_level_framing_keeps_text_exact(
    fake: FakeServer, client: anthropic.Anthropic, framing: Framing
) -> None:
    pieces = ["é😀", "\u2028中", "\u2029"]
    scenario = MessagesScenario(blocks=[TextBlock(pieces=pieces)], framing=framing)
    fake.enqueue(PATH, messages_stream(scenario))
    assert final(client).content[0].text == "".join(pieces)


def test_mid_stream_overloaded_error_raises(fake: FakeServer, client: anthropic.Anthropic) -> None:
    scenario = MessagesScenario(blocks=[TextBlock(pieces=["a", "b"])], error_after=4)
    names = [name for name, _ in only_events(messages_events(scenario))]
    assert names[-1] == "error"
    assert "message_stop" not in names
    fake.enqueue(PATH, messages_stream(scenario))
    with pytest.raises(anthropic.APIStatusError) as caught:
        final(client)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_abrupt_close_raises(fake: FakeServer, client: anthropic.Anthropic) -> None:
    scenario = MessagesScenario(blocks=[TextBlock(pieces=["a", "b"])], framing=Framing(cut_after=4))
    fake.enqueue(PATH, messages_stream(scenario))
    # This SDK lets the transport error through unwrapped; either is a loud failure.
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        final(client)


@pytest.mark.parametrize(
    ("status", "kind", "exception"),
    [
        (400, "invalid_request_error", anthropic.BadRequestError),
        (401, "authentication_error", anthropic.AuthenticationError),
        (403, "permission_error", anthropic.PermissionDeniedError),
        (404, "not_found_error", anthropic.NotFoundError),
        (413, "request_too_large", anthropic.APIStatusError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (529, "overloaded_error", anthropic.OverloadedError),
    ],
)
def test_pre_stream_errors(
    fake: FakeServer,
    client: anthropic.Anthropic,
    status: int,
    kind: str,
    exception: type[anthropic.APIStatusError],
) -> None:
    fake.enqueue(PATH, anthropic_error(status, kind, "nope", retry_after=12))
    with pytest.raises(exception) as caught:
        final(client)
    error = caught.value
    assert error.status_code == status
    assert error.body == {
        "type": "error",
        "error": {"type": kind, "message": "nope"},
        "request_id": "req_fake_error",
    }
    assert error.response.headers["retry-after"] == "12"
    assert error.request_id == "req_fake_error"


def test_retry_after_is_honoured_by_the_sdk(fake: FakeServer, client: anthropic.Anthropic) -> None:
    retrying = client.with_options(max_retries=1)
    fake.enqueue(PATH, anthropic_error(529, "overloaded_error", "busy", retry_after=0.01))
    fake.enqueue(PATH, messages_json(SCENARIOS["text"]))
    message = retrying.messages.create(model="claude", max_tokens=5, messages=MESSAGES)
    assert message.content[0].model_dump()["text"] == "Hello"
    assert len(fake.requests(PATH)) == 2


def test_count_tokens_and_recorded_headers(fake: FakeServer, client: anthropic.Anthropic) -> None:
    fake.enqueue(PATH + "/count_tokens", count_tokens_reply(1234))
    counted = client.messages.count_tokens(
        model="claude",
        messages=MESSAGES,
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
        extra_query={"beta": "true"},
    )
    assert counted.input_tokens == 1234
    received = fake.last(PATH + "/count_tokens")
    assert received.query == "beta=true"
    assert received.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert received.headers["anthropic-version"]
    credentials = received.headers.get("x-api-key", "") + received.headers.get("authorization", "")
    assert "sk-ant-test" in credentials  # this SDK version sends a bearer token
    assert received.json == {"model": "claude", "messages": MESSAGES}


def test_beta_messages_forward_the_beta_header(
    fake: FakeServer, client: anthropic.Anthropic
) -> None:
    fake.enqueue(PATH, messages_stream(SCENARIOS["text"]))
    with client.beta.messages.stream(
        model="claude", max_tokens=5, messages=MESSAGES, betas=["interleaved-thinking-2025-05-14"]
    ) as stream:
        assert stream.get_final_message().content[0].model_dump()["text"] == "Hello"
    assert fake.last(PATH).headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
