"""The fake Responses upstream, judged by the official openai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import Response

from tests.fakes.openai_chat import openai_error
from tests.fakes.openai_responses import (
    CustomToolCallItem,
    FunctionCallItem,
    MessageItem,
    ReasoningItem,
    ResponsesScenario,
    final_output,
    responses_events,
    responses_json,
    responses_stream,
)
from tests.fakes.sse_script import Comment, Framing, only_events
from tests.fakes.wire import FakeServer

PATH = "/v1/responses"
NASTY_ARGS = json.dumps({"patch": 'a "q" \\ b\n😀\u2028'}, ensure_ascii=False)


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
    with client.responses.stream(model="m", input="hi") as stream:
        return stream.get_final_response()


def raw_events(client: openai.OpenAI) -> list[Any]:
    return list(client.responses.create(model="m", input="hi", stream=True))


FULL = ResponsesScenario(
    items=[
        ReasoningItem(summaries=[["Plan", "ning"], ["More"]], encrypted_content="gAAAA=="),
        MessageItem(pieces=["Hel", "lo"]),
        FunctionCallItem(call_id="call_a", name="f", fragments=["", NASTY_ARGS]),
        FunctionCallItem(call_id="call_b", name="g", fragments=["{}"]),
        CustomToolCallItem(call_id="call_c", name="apply_patch", fragments=["*** Begin", " Patch"]),
    ],
    input_tokens=120,
    cached_tokens=100,
    cache_write_tokens=7,
    output_tokens=40,
    reasoning_tokens=25,
)


def test_full_lifecycle_through_the_stream_helper(fake: FakeServer, client: openai.OpenAI) -> None:
    fake.enqueue(PATH, responses_stream(FULL))
    response = final(client)
    assert (response.id, response.status, response.output_text) == (
        "resp_fake0001",
        "completed",
        "Hello",
    )
    reasoning, message, call_a, call_b, custom = response.output
    assert [s.text for s in reasoning.summary] == ["Planning", "More"]
    assert reasoning.encrypted_content == "gAAAA=="
    assert (message.id, message.status) == ("msg_fake0001_1", "completed")
    assert (call_a.id, call_a.call_id, call_a.arguments) == ("fc_fake0001_2", "call_a", NASTY_ARGS)
    assert (call_b.name, call_b.arguments) == ("g", "{}")
    assert (custom.type, custom.call_id, custom.input) == (
        "custom_tool_call",
        "call_c",
        "*** Begin Patch",
    )
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (120, 40, 160)
    assert usage.input_tokens_details.cached_tokens == 100
    assert usage.input_tokens_details.cache_write_tokens == 7
    assert usage.output_tokens_details.reasoning_tokens == 25
    assert fake.last_json(PATH) == {"model": "m", "input": "hi", "stream": True}


def test_every_event_has_type_and_increasing_sequence_number(
    fake: FakeServer, client: openai.OpenAI
) -> None:
    fake.enqueue(PATH, responses_stream(FULL))
    events = raw_events(client)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    types = [e.type for e in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert types[-1] == "response.completed"
    assert types.count("response.reasoning_summary_part.added") == 2
    assert "response.custom_tool_call_input.delta" in types
    assert events[0].response.status == "in_progress" and events[0].response.usage is None


def test_non_stream_body_validates(fake: FakeServer, client: openai.OpenAI) -> None:
    fake.enqueue(PATH, responses_json(FULL))
    response = client.responses.create(model="m", input="hi")
    assert response.output_text == "Hello"
    validated: Any = Response.model_validate(response.model_dump())
    assert validated.output[2].arguments == NASTY_ARGS
    assert [item.model_dump(exclude_none=True)["type"] for item in response.output] == [
        item["type"] for item in final_output(FULL)
    ]


def test_arguments_only_in_done(fake: FakeServer, client: openai.OpenAI) -> None:
    item = FunctionCallItem(
        call_id="call_x", name="f", fragments=['{"a":', "1}"], arguments_only_in_done=True
    )
    scenario = ResponsesScenario(items=[item])
    types = [name for name, _ in only_events(responses_events(scenario))]
    assert "response.function_call_arguments.delta" not in types
    fake.enqueue(PATH, responses_stream(scenario))
    events = raw_events(client)
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert done.arguments == '{"a":1}'
    fake.enqueue(PATH, responses_stream(scenario))
    assert final(client).output[0].arguments == '{"a":1}'


def test_reasoning_without_summary_and_raw_text(fake: FakeServer, client: openai.OpenAI) -> None:
    scenario = ResponsesScenario(
        items=[ReasoningItem(), ReasoningItem(text=["step ", "one"]), MessageItem(pieces=["ok"])]
    )
    types = [name for name, _ in only_events(responses_events(scenario))]
    assert types[2:4] == ["response.output_item.added", "response.output_item.done"]
    fake.enqueue(PATH, responses_stream(scenario))
    events = raw_events(client)
    deltas = [e for e in events if e.type == "response.reasoning_text.delta"]
    assert [(d.content_index, d.delta) for d in deltas] == [(0, "step "), (0, "one")]
    fake.enqueue(PATH, responses_stream(scenario))
    bare, raw, _ = final(client).output
    assert bare.summary == [] and bare.encrypted_content is None
    assert raw.content[0].text == "step one"


def test_incomplete_terminal(fake: FakeServer, client: openai.OpenAI) -> None:
    scenario = ResponsesScenario(items=[MessageItem(pieces=["trunc"])], terminal="incomplete")
    fake.enqueue(PATH, responses_stream(scenario))
    last = raw_events(client)[-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details.reason == "max_output_tokens"
    assert last.response.output[0].status == "incomplete"
    assert last.response.usage.output_tokens == 12


def test_failed_terminal_with_standalone_error(fake: FakeServer, client: openai.OpenAI) -> None:
    scenario = ResponsesScenario(
        items=[],
        terminal="failed",
        error_event=True,
        failure_code="rate_limit_exceeded",
        failure_message="Rate limit reached. Please try again in 20s.",
    )
    fake.enqueue(PATH, responses_stream(scenario))
    *_, error, failed = raw_events(client)
    assert (error.type, error.code, error.param) == ("error", "rate_limit_exceeded", None)
    assert failed.type == "response.failed"
    assert failed.response.error.code == "rate_limit_exceeded"
    assert "try again in 20s" in failed.response.error.message
    fake.enqueue(PATH, responses_stream(scenario))
    with pytest.raises(RuntimeError, match=r"response\.completed"):
        final(client)


def test_abrupt_close_before_completed(fake: FakeServer, client: openai.OpenAI) -> None:
    scenario = ResponsesScenario(items=[MessageItem(pieces=["a", "b"])], abrupt=True)
    assert only_events(responses_events(scenario))[-1][0] == "response.output_item.done"
    fake.enqueue(PATH, responses_stream(scenario))
    with pytest.raises(openai.APIConnectionError):
        final(client)


@pytest.mark.parametrize(
    "framing",
    [
        Framing(split_every=1),
        Framing(split_every=4, eol="\r\n", pad_json=1),
        Framing(insert={2: [Comment()], 5: [Comment(text="")]}),
    ],
)
def test_byte_level_framing_keeps_text_exact(
    fake: FakeServer, client: openai.OpenAI, framing: Framing
) -> None:
    pieces = ["é😀", "\u2028中", "\u2029"]
    scenario = ResponsesScenario(
        items=[MessageItem(pieces=pieces)], obfuscation=True, framing=framing
    )
    fake.enqueue(PATH, responses_stream(scenario))
    assert final(client).output_text == "".join(pieces)


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
def test_pre_stream_errors(
    fake: FakeServer, client: openai.OpenAI, status: int, exception: type[openai.APIStatusError]
) -> None:
    fake.enqueue(
        PATH, openai_error(status, "invalid_request_error", "bad", "some_code", retry_after=3)
    )
    with pytest.raises(exception) as caught:
        final(client)
    assert (caught.value.code, caught.value.response.headers["retry-after"]) == ("some_code", "3")
