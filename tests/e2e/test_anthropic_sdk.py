"""The official anthropic SDK against the gateway's loopback model, over a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.gateway_thread import GatewayThread

TOOLS = [{"name": "Bash", "description": "Run a command", "input_schema": {"type": "object"}}]


@pytest.fixture(params=["", "/anthropic"], ids=["root", "anthropic-prefix"])
def client(gateway: GatewayThread, request: pytest.FixtureRequest) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=gateway.url() + request.param, api_key="unused", max_retries=0
    ) as c:
        yield c


def test_messages_non_stream(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="loopback", max_tokens=100, messages=[{"role": "user", "content": "hi claude"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "hi claude"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0


def test_messages_stream_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="loopback",
        max_tokens=100,
        system=[{"type": "text", "text": "system", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "streamed \u2028 text"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "streamed \u2028 text"
    assert final.content[0].text == "streamed \u2028 text"  # type: ignore[union-attr]
    assert final.usage.output_tokens > 0


def test_messages_stream_scripted_tool_use_round_trip(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="loopback",
        max_tokens=100,
        tools=TOOLS,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": '/tool Bash {"command": "echo \\"hi\\""}'}],
    ) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.input == {"command": 'echo "hi"'}
    with client.messages.stream(
        model="loopback",
        max_tokens=100,
        tools=TOOLS,  # type: ignore[arg-type]
        messages=[
            {"role": "user", "content": "run it"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},  # type: ignore[misc]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "hi"}],
            },
        ],
    ) as stream:
        second = stream.get_final_message()
    assert second.content[0].text == "hi"  # type: ignore[union-attr]


def test_thinking_block_when_asked(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="loopback",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think first"}],
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]


def test_stop_sequence_is_reported(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="loopback",
        max_tokens=100,
        stop_sequences=["END"],
        messages=[{"role": "user", "content": "before END after"}],
    )
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "END")
    assert message.content[0].text == "before "  # type: ignore[union-attr]


def test_count_tokens_is_an_estimate(client: anthropic.Anthropic) -> None:
    response = client.messages.with_raw_response.count_tokens(
        model="loopback", messages=[{"role": "user", "content": "count these words please"}]
    )
    assert response.headers["x-tokligence-token-estimate"] == "true"
    assert response.parse().input_tokens > 0


def test_unknown_model_is_not_found_in_anthropic_envelope(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(
            model="mystery", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"


def test_missing_max_tokens_is_a_bad_request(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.post("/v1/messages", body={"model": "loopback", "messages": []}, cast_to=object)
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_a_model_is_retrieved_in_anthropics_shape(gateway: GatewayThread) -> None:
    client = anthropic.Anthropic(base_url=gateway.url(), api_key="unused", max_retries=0)
    model = client.models.retrieve("loopback")
    assert (model.id, model.type, model.display_name) == ("loopback", "model", "loopback")
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("nobody-routes-this")
