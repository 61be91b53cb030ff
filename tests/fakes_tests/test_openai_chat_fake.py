"""The fake Chat Completions upstream, judged by the official openai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from tests.fakes.openai_chat import (
    ChatScenario,
    ChatToolCall,
    UsageShape,
    chat_error,
    chat_events,
    chat_json,
    chat_stream,
)
from tests.fakes.sse_script import Comment, Framing, only_events
from tests.fakes.wire import FakeServer, html_error

PATH = "/v1/chat/completions"
MESSAGES: Any = [{"role": "user", "content": "hi"}]
# Quotes, backslashes, a newline, a non-BMP character and U+2028 inside a JSON string.
NASTY = 'echo "a \\"b\\"" \\\\ c\n😀\u2028'
NASTY_ARGS = json.dumps({"command": NASTY}, ensure_ascii=False)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeServer, openai.OpenAI]]:
    fake = FakeServer()
    with fake.running_in_thread() as url:
        yield fake, openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def fake(server: tuple[FakeServer, openai.OpenAI]) -> Iterator[FakeServer]:
    server[0].reset()
    yield server[0]
    assert server[0].pending() == 0


@pytest.fixture
def client(server: tuple[FakeServer, openai.OpenAI]) -> openai.OpenAI:
    return server[1]


def final(client: openai.OpenAI) -> Any:
    with client.chat.completions.stream(
        model="m", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        return stream.get_final_completion()


def raw_chunks(client: openai.OpenAI) -> list[ChatCompletionChunk]:
    return list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))


def test_text_stream_and_recorded_request(fake: FakeServer, client: openai.OpenAI) -> None:
    fake.enqueue(PATH, chat_stream(ChatScenario(text=["Hel", "lo"])))
    completion = final(client)
    choice = completion.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("Hello", "stop")
    assert (completion.id, completion.created) == ("chatcmpl-fake0001", 1_700_000_000)
    assert completion.system_fingerprint == "fp_fake0001"
    received = fake.last(PATH)
    assert received.headers["authorization"] == "Bearer sk-test"
    assert received.json["stream"] is True
    assert received.json["stream_options"] == {"include_usage": True}
    assert received.json["messages"] == MESSAGES


@pytest.mark.parametrize(
    ("shape", "null_elsewhere", "has_usage"),
    [
        ("final_chunk", False, True),
        ("final_chunk", True, True),
        ("on_finish_chunk", False, True),
        ("absent", False, False),
        ("null_every_chunk", False, False),
    ],
)
def test_usage_shapes(
    fake: FakeServer,
    client: openai.OpenAI,
    shape: UsageShape,
    null_elsewhere: bool,
    has_usage: bool,
) -> None:
    scenario = ChatScenario(
        text=["x"],
        usage=shape,
        usage_null_on_other_chunks=null_elsewhere,
        prompt_tokens=100,
        completion_tokens=20,
        cached_tokens=60,
        cache_write_tokens=30,
        reasoning_tokens=5,
    )
    fake.enqueue(PATH, chat_stream(scenario))
    usage = final(client).usage
    if not has_usage:
        assert usage is None
        return
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 20, 120)
    assert usage.prompt_tokens_details.cached_tokens == 60
    assert usage.prompt_tokens_details.cache_write_tokens == 30
    assert usage.completion_tokens_details.reasoning_tokens == 5


def test_usage_key_presence_per_shape() -> None:
    def keys(scenario: ChatScenario) -> list[str]:
        out = []
        for _, payload in only_events(chat_events(scenario)):
            if isinstance(payload, dict):
                usage = payload.get("usage", "absent")
                out.append("absent" if usage == "absent" else "null" if usage is None else "usage")
        return out

    assert keys(ChatScenario(text=["a"])) == ["absent", "absent", "absent", "usage"]
    assert keys(ChatScenario(text=["a"], usage="null_every_chunk")) == ["null"] * 3
    assert keys(ChatScenario(text=["a"], usage="absent")) == ["absent"] * 3
    assert keys(ChatScenario(text=["a"], usage="on_finish_chunk")) == ["absent"] * 2 + ["usage"]
    both = ChatScenario(text=["a"], usage_null_on_other_chunks=True)
    assert keys(both) == ["null", "null", "null", "usage"]


def test_usage_chunk_with_choices_null(fake: FakeServer, client: openai.OpenAI) -> None:
    fake.enqueue(PATH, chat_stream(ChatScenario(text=["x"], usage="choices_null")))
    chunks = raw_chunks(client)
    assert chunks[-1].choices is None
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 21
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_tool_call_with_empty_first_fragment_and_nasty_arguments(
    fake: FakeServer, client: openai.OpenAI
) -> None:
    half = len(NASTY_ARGS) // 2
    call = ChatToolCall(
        id="call_1", name="bash", fragments=["", NASTY_ARGS[:half], NASTY_ARGS[half:]]
    )
    fake.enqueue(PATH, chat_stream(ChatScenario(tool_calls=[call])))
    completion = final(client)
    message = completion.choices[0].message
    assert message.content is None
    assert completion.choices[0].finish_reason == "tool_calls"
    (tool,) = message.tool_calls
    assert (tool.id, tool.function.name) == ("call_1", "bash")
    assert tool.function.arguments == NASTY_ARGS
    assert json.loads(tool.function.arguments) == {"command": NASTY}


def test_tool_only_stream_combines_role_with_the_first_fragment(
    fake: FakeServer, client: openai.OpenAI
) -> None:
    call = ChatToolCall(id="call_1", name="f", fragments=["", "{}"])
    for combined in (True, False):
        fake.enqueue(
            PATH, chat_stream(ChatScenario(tool_calls=[call], role_with_first_tool=combined))
        )
        first = raw_chunks(client)[0].choices[0].delta
        assert first.role == "assistant"
        assert (first.tool_calls is not None) is combined


@pytest.mark.parametrize(
    "scenario",
    [
        ChatScenario(
            tool_calls=[
                ChatToolCall(id="call_a", name="f", fragments=["", '{"a":', "1}"]),
                ChatToolCall(id="call_b", name="g", fragments=['{"b":', '"x"}']),
            ]
        ),
        ChatScenario(
            tool_calls=[
                ChatToolCall(id="call_a", name="f", fragments=["", '{"a":', "1}"]),
                ChatToolCall(id="call_b", name="g", fragments=['{"b":', '"x"}']),
            ],
            interleave=[0, 1, 0, 1, 0],
        ),
        ChatScenario(
            tool_calls=[
                ChatToolCall(id="call_a", name="f", fragments=['{"a":', "1}"], late_id=True),
                ChatToolCall(id="call_b", name="g", fragments=['{"b":"x"}'], late_id=True),
            ],
        ),
        ChatScenario(
            tool_calls=[
                ChatToolCall(id="call_a", name="f", fragments=['{"a":', "1}"]),
                ChatToolCall(id="call_b", name="g", fragments=['{"b":', '"x"}']),
            ],
            arguments_at_end=True,
        ),
    ],
    ids=["sequential", "interleaved", "late_id", "arguments_at_end"],
)
def test_parallel_tool_calls(
    fake: FakeServer, client: openai.OpenAI, scenario: ChatScenario
) -> None:
    fake.enqueue(PATH, chat_stream(scenario))
    calls = final(client).choices[0].message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_a", "f", '{"a":1}'),
        ("call_b", "g", '{"b":"x"}'),
    ]


def test_arguments_at_end_sends_all_arguments_in_one_last_chunk(
    fake: FakeServer, client: openai.OpenAI
) -> None:
    calls = [
        ChatToolCall(id="call_a", name="f", fragments=['{"a":', "1}"]),
        ChatToolCall(id="call_b", name="g", fragments=["{}"]),
    ]
    fake.enqueue(PATH, chat_stream(ChatScenario(tool_calls=calls, arguments_at_end=True)))
    deltas: list[Any] = [c.choices[0].delta for c in raw_chunks(client) if c.choices]
    with_args = [
        d for d in deltas if d.tool_calls and any(t.function.arguments for t in d.tool_calls)
    ]
    assert len(with_args) == 1
    assert [t.function.arguments for t in with_args[0].tool_calls] == ['{"a":1}', "{}"]


def test_same_index_reused_reaches_the_client_as_a_bad_upstream_would(
    fake: FakeServer, client: openai.OpenAI
) -> None:
    calls = [
        ChatToolCall(id="call_a", name="f", fragments=['{"a":1}']),
        ChatToolCall(id="call_b", name="g", fragments=['{"b":2}']),
    ]
    fake.enqueue(PATH, chat_stream(ChatScenario(tool_calls=calls, same_index_reused=True)))
    entries = [
        t for c in raw_chunks(client) if c.choices for t in c.choices[0].delta.tool_calls or []
    ]
    assert [(t.index, t.id) for t in entries] == [(0, "call_a"), (0, "call_b")]
    fake.enqueue(PATH, chat_stream(ChatScenario(tool_calls=calls, same_index_reused=True)))
    merged = final(client).choices[0].message.tool_calls
    assert [c.function.arguments for c in merged] == ['{"a":1}{"b":2}']  # the known failure


@pytest.mark.parametrize(
    ("finish", "expected"),
    [(None, "tool_calls"), ("stop", "stop"), ("length", "length")],
)
def test_finish_reason_with_tool_calls(
    fake: FakeServer, client: openai.OpenAI, finish: str | None, expected: str
) -> None:
    partial = ["", '{"path": "/tm'] if finish == "length" else ["{}"]
    call = ChatToolCall(id="call_1", name="f", fragments=partial)
    fake.enqueue(PATH, chat_stream(ChatScenario(tool_calls=[call], finish_reason=finish)))
    if finish == "length":  # the SDK's stream helper refuses a truncated completion
        with pytest.raises(openai.LengthFinishReasonError) as caught:
            final(client)
        choice: Any = caught.value.completion.choices[0]
    else:
        choice = final(client).choices[0]
    assert choice.finish_reason == expected
    assert choice.message.tool_calls[0].function.arguments == "".join(partial)


@pytest.mark.parametrize("dialect", ["reasoning_content", "reasoning", "reasoning_details"])
def test_reasoning_dialects_stream_and_json(
    fake: FakeServer, client: openai.OpenAI, dialect: Any
) -> None:
    scenario = ChatScenario(reasoning=["Let me ", "think."], reasoning_dialect=dialect, text=["42"])
    fake.enqueue(PATH, chat_stream(scenario))
    chunks = raw_chunks(client)
    extras = [c.choices[0].delta.model_extra or {} for c in chunks if c.choices]
    found = [e[dialect] for e in extras if dialect in e]
    if dialect == "reasoning_details":
        assert "".join(d[0]["text"] for d in found) == "Let me think."
    else:
        assert "".join(found) == "Let me think."
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "42"
    fake.enqueue(PATH, chat_json(scenario))
    message = client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message
    assert message.content == "42"
    assert (message.model_extra or {})[dialect] is not None


def test_non_stream_body_validates(fake: FakeServer, client: openai.OpenAI) -> None:
    call = ChatToolCall(id="call_1", name="f", fragments=["", NASTY_ARGS])
    scenario = ChatScenario(text=["hi"], tool_calls=[call], service_tier="default")
    fake.enqueue(PATH, chat_json(scenario))
    completion = client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.service_tier == "default"
    message: Any = completion.choices[0].message
    assert message.content == "hi"
    assert message.tool_calls[0].function.arguments == NASTY_ARGS
    assert completion.usage is not None and completion.usage.total_tokens == 21


def test_obfuscation_field(fake: FakeServer, client: openai.OpenAI) -> None:
    fake.enqueue(PATH, chat_stream(ChatScenario(text=["a"], obfuscation=True)))
    assert all(chunk.obfuscation for chunk in raw_chunks(client))


@pytest.mark.parametrize(
    "framing",
    [
        Framing(split_every=1),
        Framing(split_every=5, eol="\r\n"),
        Framing(offsets=[7, 8, 9, 40, 41], pad_json=2),
        Framing(insert={0: [Comment(text="OPENROUTER PROCESSING")], 2: [Comment()]}),
    ],
)
def test_byte_level_framing_keeps_text_exact(
    fake: FakeServer, client: openai.OpenAI, framing: Framing
) -> None:
    text = ["é😀", "\u2028中文", "\u2029end"]
    fake.enqueue(PATH, chat_stream(ChatScenario(text=text, framing=framing)))
    assert final(client).choices[0].message.content == "".join(text)


def test_abrupt_close_raises_in_the_sdk(fake: FakeServer, client: openai.OpenAI) -> None:
    fake.enqueue(PATH, chat_stream(ChatScenario(text=["par", "tial"], abrupt=True)))
    with pytest.raises(openai.APIConnectionError):
        final(client)
    events = chat_events(ChatScenario(text=["par", "tial"], abrupt=True))
    assert all("usage" not in payload for _, payload in only_events(events))


def test_mid_stream_error_line_raises(fake: FakeServer, client: openai.OpenAI) -> None:
    scenario = ChatScenario(text=["a", "b"], error_after=2)
    fake.enqueue(PATH, chat_stream(scenario))
    with pytest.raises(openai.APIError, match="server had an error") as caught:
        final(client)
    assert not isinstance(caught.value, openai.APIStatusError)
    assert chat_events(scenario)[-1] == (None, {"error": dict(scenario.error)})


@pytest.mark.parametrize(
    ("status", "kind", "code", "exception"),
    [
        (400, "invalid_request_error", "context_length_exceeded", openai.BadRequestError),
        (401, "invalid_request_error", "invalid_api_key", openai.AuthenticationError),
        (404, "invalid_request_error", "model_not_found", openai.NotFoundError),
        (429, "rate_limit_exceeded", "rate_limit_exceeded", openai.RateLimitError),
        (500, "server_error", None, openai.InternalServerError),
    ],
)
def test_pre_stream_errors(
    fake: FakeServer,
    client: openai.OpenAI,
    status: int,
    kind: str,
    code: str | None,
    exception: type[openai.APIStatusError],
) -> None:
    fake.enqueue(PATH, chat_error(status, kind, "nope", code, retry_after=7))
    with pytest.raises(exception) as caught:
        final(client)
    error = caught.value
    assert (error.status_code, error.type, error.code) == (status, kind, code)
    assert error.message.endswith("nope")  # the SDK prefixes "Error code: …"
    assert error.response.headers["retry-after"] == "7"


def test_retry_after_ms_is_honoured_by_the_sdk(fake: FakeServer, client: openai.OpenAI) -> None:
    retrying = client.with_options(max_retries=1)
    fake.enqueue(PATH, chat_error(429, "rate_limit_exceeded", "slow down", retry_after_ms=5))
    fake.enqueue(PATH, chat_json(ChatScenario(text=["ok"])))
    completion = retrying.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "ok"
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests(PATH)] == ["0", "1"]


def test_should_retry_false_stops_the_sdk(fake: FakeServer, client: openai.OpenAI) -> None:
    retrying = client.with_options(max_retries=2)
    fake.enqueue(PATH, chat_error(503, "server_error", "down", retry_after=0, should_retry=False))
    with pytest.raises(openai.InternalServerError):
        retrying.chat.completions.create(model="m", messages=MESSAGES)
    assert len(fake.requests(PATH)) == 1


def test_html_error_body(fake: FakeServer, client: openai.OpenAI) -> None:
    fake.enqueue(PATH, html_error(502))
    with pytest.raises(openai.InternalServerError) as caught:
        final(client)
    assert caught.value.status_code == 502
    assert "502 Bad Gateway" in caught.value.response.text
