"""The official openai SDK against the gateway's loopback model, over a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.gateway_thread import GatewayThread

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def client(gateway: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url() + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_chat_non_stream(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="loopback", messages=[{"role": "user", "content": "hello there"}]
    )
    assert completion.choices[0].message.content == "hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    assert completion.id.startswith("chatcmpl-")


def test_chat_stream_with_include_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="loopback",
            messages=[{"role": "user", "content": "stream me \u2028 please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "stream me \u2028 please"
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]


def test_chat_stream_helper_final_completion(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="loopback", messages=[{"role": "user", "content": "via the helper"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "via the helper"


def test_chat_scripted_tool_call_and_round_trip(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(
        model="loopback",
        messages=[{"role": "user", "content": '/tool get_weather {"city": "Paris \\"Lutetia\\""}'}],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": 'Paris "Lutetia"'}  # type: ignore[union-attr]
    second = client.chat.completions.create(
        model="loopback",
        messages=[
            {"role": "user", "content": "weather?"},
            message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert second.choices[0].message.content == "sunny, 21C"


def test_chat_scripted_parallel_tool_calls_streamed(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="loopback",
        messages=[
            {
                "role": "user",
                "content": '/tool get_weather {"city":"A"}\n/tool get_weather {"city":"B"}',
            }
        ],
        tools=TOOLS,  # type: ignore[arg-type]
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["A", "B"]  # type: ignore[union-attr]
    assert final.choices[0].finish_reason == "tool_calls"


def test_responses_non_stream(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="loopback", input="hello responses", instructions="be brief"
    )
    assert response.output_text == "hello responses"
    assert response.status == "completed"
    assert response.usage is not None and response.usage.output_tokens > 0


def test_responses_stream(client: openai.OpenAI) -> None:
    with client.responses.stream(model="loopback", input="streamed responses") as stream:
        events = [e.type for e in stream]
        final = stream.get_final_response()
    assert final.output_text == "streamed responses"
    assert events[0] == "response.created" and events[-1] == "response.completed"


def test_responses_scripted_tool_round_trip(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}]
    with client.responses.stream(
        model="loopback",
        input='/tool exec_command {"cmd": ["ls", "-la"]}',
        tools=tools,  # type: ignore[arg-type]
    ) as stream:
        first = stream.get_final_response()
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and json.loads(calls[0].arguments) == {"cmd": ["ls", "-la"]}
    second = client.responses.create(
        model="loopback",
        input=[
            {"role": "user", "content": "run it"},
            {
                "type": "function_call",
                "call_id": calls[0].call_id,
                "name": "exec_command",
                "arguments": calls[0].arguments,
            },
            {
                "type": "function_call_output",
                "call_id": calls[0].call_id,
                "output": "file-a file-b",
            },
        ],
        tools=tools,  # type: ignore[arg-type]
    )
    assert second.output_text == "file-a file-b"


def test_embeddings_float_and_base64(client: openai.OpenAI) -> None:
    # The SDK asks for base64 by default and decodes it.
    default = client.embeddings.create(model="loopback", input=["alpha", "beta"])
    floats = client.embeddings.create(
        model="loopback", input=["alpha", "beta"], encoding_format="float"
    )
    assert len(default.data) == 2 and len(default.data[0].embedding) == 256
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert default.data[0].embedding != default.data[1].embedding


def test_models_lists_loopback(client: openai.OpenAI) -> None:
    assert "loopback" in [m.id for m in client.models.list()]


def test_a_model_is_retrieved_by_its_id(client: openai.OpenAI) -> None:
    model = client.models.retrieve("loopback")
    assert (model.id, model.object, model.owned_by) == ("loopback", "model", "loopback")
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("vendor/unrouted-model")
    assert "vendor/unrouted-model" in caught.value.message


def test_unknown_model_is_a_not_found_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert "no provider for model 'no-such-model'" in str(caught.value)


def test_invalid_request_is_a_bad_request_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="loopback", messages=[], n=2)
    assert caught.value.status_code == 400


def test_responses_unknown_model_error_in_openai_envelope(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="nope", input="x")
    body = caught.value.body
    assert isinstance(body, dict) and "no provider" in body["message"]
