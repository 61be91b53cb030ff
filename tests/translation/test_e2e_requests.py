"""What the upstream RECEIVED: parameter maps, history, headers and bytes.

Translation must carry every parameter across (FM11) and rebuild the
conversation in the upstream's terms (tool results, images, empty content,
thinking history); passthrough must forward the client's body byte for byte,
the Anthropic headers verbatim (FM13), the query string, and the upstream's
key, never the client's.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import openai
import pytest

from tests.fakes.anthropic import (
    MessagesScenario,
    TextBlock,
    ToolUseBlock,
    count_tokens_reply,
    messages_json,
    messages_stream,
)
from tests.fakes.openai_chat import ChatScenario, ChatToolCall, chat_json, chat_stream
from tests.fakes.openai_responses import (
    MessageItem,
    ResponsesScenario,
    responses_json,
    responses_stream,
)

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, Rig
from .rigs import (
    CHAT_PATH,
    CLAUDE,
    CLIENT_KEY,
    MESSAGES_PATH,
    RESPONSES_PATH,
    WEATHER_SCHEMA,
    Turn,
    chat_client,
    messages_client,
    post_raw,
    tools_for,
    upstream_reply,
)

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
    "WjR9awAAAABJRU5ErkJggg=="
)


def _text_of(content: Any) -> str:
    """Text of a message content that may be a string or a list of text blocks."""
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") in ("text", "input_text"))


def _no_client_key(headers: Any) -> None:
    for name, value in headers.items():
        assert CLIENT_KEY not in value, name


# ------------------------------------------------------------------ (a) Chat -> Anthropic


@STREAM
def test_fm11_chat_to_anthropic_parameter_map(fresh: Rig, stream: bool) -> None:
    fresh.anthropic.enqueue(
        MESSAGES_PATH, upstream_reply("anthropic", Turn(text=("ok",)), stream=stream)
    )
    with chat_client(fresh) as client:
        kwargs: dict[str, Any] = {
            "model": CLAUDE,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
            ],
            "tools": tools_for("chat"),
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "stop": ["END", "  "],
            "max_tokens": 321,
            "temperature": 0.5,
            "user": "user-42",
        }
        if stream:
            list(client.chat.completions.create(stream=True, **kwargs))
        else:
            client.chat.completions.create(**kwargs)
    sent = fresh.anthropic.last(MESSAGES_PATH)
    body = sent.json
    assert body["model"] == CLAUDE
    assert body["max_tokens"] == 321
    assert body["stop_sequences"] == ["END"]  # whitespace-only dropped: Anthropic refuses it
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["tools"] == [
        {"name": "get_weather", "description": "get_weather tool", "input_schema": WEATHER_SCHEMA}
    ]
    assert _text_of(body["system"]) == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert _text_of(body["messages"][0]["content"]) == "Weather in Paris?"
    assert body["temperature"] == 0.5
    assert body["metadata"] == {"user_id": "user-42"}
    assert body["stream"] is stream
    for foreign in (
        "stop",
        "parallel_tool_calls",
        "stream_options",
        "user",
        "max_completion_tokens",
    ):
        assert foreign not in body, foreign
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert "anthropic-version" in sent.headers
    assert "authorization" not in sent.headers
    _no_client_key(sent.headers)


def test_fm11_chat_to_anthropic_max_tokens_default_and_max_completion_tokens(fresh: Rig) -> None:
    reply = upstream_reply("anthropic", Turn(text=("ok",)), stream=False)
    fresh.anthropic.enqueue(MESSAGES_PATH, reply, reply)
    with chat_client(fresh) as client:
        messages: Any = [{"role": "user", "content": "hi"}]
        client.chat.completions.create(model=CLAUDE, messages=messages)
        client.chat.completions.create(model=CLAUDE, messages=messages, max_completion_tokens=222)
    first, second = fresh.anthropic.requests(MESSAGES_PATH)
    assert first.json["max_tokens"] == fresh.gateway.config.anthropic_max_tokens
    assert second.json["max_tokens"] == 222


def test_fm15_chat_history_to_anthropic_has_no_empty_text_and_clean_tool_ids(fresh: Rig) -> None:
    fresh.anthropic.enqueue(
        MESSAGES_PATH, upstream_reply("anthropic", Turn(text=("ok",)), stream=False)
    )
    bad_id = "call:abc.1"  # Gemini-style ids break Anthropic's ^[a-zA-Z0-9_-]+$
    with chat_client(fresh) as client:
        client.chat.completions.create(
            model=CLAUDE,
            messages=[
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": bad_id,
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": bad_id, "content": "sunny"},
            ],
            tools=tools_for("chat"),
        )
    messages = fresh.anthropic.last_json(MESSAGES_PATH)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assistant = messages[1]["content"]
    assert all(not (b["type"] == "text" and not b["text"].strip()) for b in assistant)
    (use,) = [b for b in assistant if b["type"] == "tool_use"]
    (result,) = [b for b in messages[2]["content"] if b["type"] == "tool_result"]
    assert use["input"] == {"city": "Paris"}
    assert use["id"] == result["tool_use_id"]
    assert all(c.isalnum() or c in "_-" for c in use["id"])


# ------------------------------------------------------------------ (b) Messages -> OpenAI


def _messages_history() -> list[Any]:
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Need the tool (secret).", "signature": ""},
                {
                    "type": "tool_use",
                    "id": "toolu_01X",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01X", "content": "sunny"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


@STREAM
def test_fm11_messages_to_openai_parameter_map(fresh: Rig, stream: bool) -> None:
    fresh.openai.enqueue(CHAT_PATH, upstream_reply("chat", Turn(text=("ok",)), stream=stream))
    kwargs: dict[str, Any] = {
        "model": "gpt-4o",
        "max_tokens": 100,
        "system": "Be brief.",
        "messages": _messages_history(),
        "tools": tools_for("messages"),
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
        "extra_body": {"temperature": 0.2},
    }
    with messages_client(fresh) as client:
        if stream:
            with client.messages.stream(**kwargs) as s:
                s.get_final_message()
        else:
            client.messages.create(**kwargs)
    sent = fresh.openai.last(CHAT_PATH)
    body = sent.json
    messages = body["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "user"]
    assistant = messages[2]
    assert assistant["content"] is None  # never "" (FM15)
    assert [c["id"] for c in assistant["tool_calls"]] == ["toolu_01X"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert messages[3]["tool_call_id"] == "toolu_01X"
    assert _text_of(messages[3]["content"]) == "sunny"
    assert _text_of(messages[4]["content"]) == "And tomorrow?"
    # Thinking history is another vendor's: never sent to OpenAI (FM4).
    assert b"secret" not in sent.body
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert body["stop"] == ["END"]
    assert body["max_tokens"] == 100
    assert body["temperature"] == 0.2
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "get_weather tool",
                "parameters": WEATHER_SCHEMA,
            },
        }
    ]
    assert body["stream"] is stream
    if stream:
        assert body["stream_options"] == {"include_usage": True}  # FM5
    for foreign in ("system", "stop_sequences", "metadata", "max_completion_tokens", "thinking"):
        assert foreign not in body, foreign
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert "x-api-key" not in sent.headers
    _no_client_key(sent.headers)


def test_fm14_images_in_tool_results_reach_openai_as_a_user_image(fresh: Rig) -> None:
    fresh.openai.enqueue(CHAT_PATH, upstream_reply("chat", Turn(text=("a cat",)), stream=False))
    with messages_client(fresh) as client:
        client.messages.create(
            model="gpt-4o",
            max_tokens=100,
            tools=tools_for("messages", ["screenshot"]),  # type: ignore[arg-type]
            messages=[
                {"role": "user", "content": "Take a screenshot"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_01S", "name": "screenshot", "input": {}}
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_01S",
                            "content": [
                                {"type": "text", "text": "captured"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": PNG,
                                    },
                                },
                            ],
                        }
                    ],
                },
            ],
        )
    messages = fresh.openai.last_json(CHAT_PATH)["messages"]
    roles = [m["role"] for m in messages]
    tool_at = roles.index("tool")
    assert messages[tool_at]["tool_call_id"] == "toolu_01S"
    after = messages[tool_at + 1 :]
    images = [
        part["image_url"]["url"]
        for m in after
        if m["role"] == "user" and isinstance(m["content"], list)
        for part in m["content"]
        if part.get("type") == "image_url"
    ]
    assert images == [f"data:image/png;base64,{PNG}"]


# ------------------------------------------------------------------ (c) / (d) Responses


def _responses_input() -> list[Any]:
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]


@STREAM
def test_fm11_responses_to_anthropic_parameter_map(fresh: Rig, stream: bool) -> None:
    fresh.anthropic.enqueue(
        MESSAGES_PATH, upstream_reply("anthropic", Turn(text=("ok",)), stream=stream)
    )
    kwargs: dict[str, Any] = {
        "model": CLAUDE,
        "instructions": "Be brief.",
        "input": _responses_input(),
        "tools": tools_for("responses"),
        "tool_choice": "required",
        "max_output_tokens": 200,
    }
    with chat_client(fresh) as client:
        if stream:
            with client.responses.stream(**kwargs) as s:
                s.get_final_response()
        else:
            client.responses.create(**kwargs)
    body = fresh.anthropic.last_json(MESSAGES_PATH)
    assert _text_of(body["system"]) == "Be brief."
    assert body["max_tokens"] == 200
    assert body["tool_choice"] == {"type": "any"}
    assert body["tools"][0]["name"] == "get_weather"
    assert body["tools"][0]["input_schema"] == WEATHER_SCHEMA
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    (use,) = [b for b in messages[1]["content"] if b["type"] == "tool_use"]
    (result,) = [b for b in messages[2]["content"] if b["type"] == "tool_result"]
    assert use["input"] == {"city": "Paris"} and use["name"] == "get_weather"
    assert result["tool_use_id"] == use["id"]
    assert _text_of(result["content"]) == "sunny"
    for foreign in ("instructions", "input", "max_output_tokens", "store"):
        assert foreign not in body, foreign


@STREAM
def test_fm11_responses_to_compat_chat_parameter_map(fresh: Rig, stream: bool) -> None:
    fresh.openai.enqueue(CHAT_PATH, upstream_reply("chat", Turn(text=("ok",)), stream=stream))
    kwargs: dict[str, Any] = {
        "model": "compat-model",
        "instructions": "Be brief.",
        "input": _responses_input(),
        "tools": tools_for("responses"),
        "tool_choice": "required",
        "max_output_tokens": 200,
    }
    with chat_client(fresh) as client:
        if stream:
            with client.responses.stream(**kwargs) as s:
                s.get_final_response()
        else:
            client.responses.create(**kwargs)
    sent = fresh.openai.last(CHAT_PATH)
    body = sent.json
    assert body["model"] == "compat-model"
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert _text_of(messages[0]["content"]) == "Be brief."
    assert messages[2]["tool_calls"][0]["id"] == "call_1"
    assert messages[3]["tool_call_id"] == "call_1"
    assert _text_of(messages[3]["content"]) == "sunny"
    assert body["tool_choice"] == "required"
    assert body["max_tokens"] == 200
    assert body["tools"][0]["function"]["name"] == "get_weather"
    if stream:
        assert body["stream_options"] == {"include_usage": True}
    for foreign in ("instructions", "input", "max_output_tokens", "store", "text"):
        assert foreign not in body, foreign
    assert sent.headers["authorization"] == "Bearer compat-key"
    assert sent.path == CHAT_PATH
    assert fresh.openai.requests(RESPONSES_PATH) == []


def test_fm8_previous_response_id_is_refused_on_a_translated_path(fresh: Rig) -> None:
    # An id this gateway never stored: the real API's 400 for an unknown id.
    with chat_client(fresh) as client, pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=CLAUDE, input="next", previous_response_id="resp_abc")
    error = caught.value.response.json()["error"]
    assert error["code"] == "previous_response_not_found"
    assert error["param"] == "previous_response_id"
    assert fresh.anthropic.received == []


# ------------------------------------------------------------------ (e) Chat passthrough


def test_chat_passthrough_forwards_the_clients_bytes_with_the_upstream_key(fresh: Rig) -> None:
    fresh.openai.enqueue(CHAT_PATH, chat_json(ChatScenario(text=["ok"])))
    raw = (
        b'{"model":  "gpt-4o", "messages": [{"role": "user", "content": "hi \\u00e9"}],'
        b' "logit_bias": {"50256": -100}, "x_vendor_field": [1, 2.50, null]}'
    )
    reply = post_raw(fresh, CHAT_PATH, raw)
    assert reply.status == 200
    sent = fresh.openai.last(CHAT_PATH)
    assert sent.body == raw
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    _no_client_key(sent.headers)
    # One line each (the fake joins repeated lines with ", "): the client's
    # content-type replaces the gateway's default instead of joining it.
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"].startswith("tokligence-gateway/")
    assert sent.headers["content-length"] == str(len(raw))


def test_chat_passthrough_relays_repeated_response_headers_line_by_line(fresh: Rig) -> None:
    reply = chat_json(ChatScenario(text=["ok"]))
    traced = (*reply.headers, ("x-vendor-trace", "a"), ("x-vendor-trace", "b"))
    fresh.openai.enqueue(CHAT_PATH, dataclasses.replace(reply, headers=traced))
    got = post_raw(
        fresh, CHAT_PATH, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert got.status == 200
    assert got.headers.get_list("x-vendor-trace") == ["a", "b"]


@pytest.mark.parametrize("asked", [False, True], ids=["not_asked", "asked"])
def test_fm5_chat_passthrough_always_asks_for_usage_but_shows_it_only_when_asked(
    fresh: Rig, asked: bool
) -> None:
    fresh.openai.enqueue(CHAT_PATH, chat_stream(ChatScenario(text=["a", "b"])))
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if asked else {}
    with chat_client(fresh) as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True, **extra
            )
        )
    assert fresh.openai.last_json(CHAT_PATH)["stream_options"] == {"include_usage": True}
    usage_chunks = [c for c in chunks if not c.choices and c.usage is not None]
    assert len(usage_chunks) == (1 if asked else 0)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "ab"


def test_chat_passthrough_stream_that_asked_for_usage_is_forwarded_byte_for_byte(
    fresh: Rig,
) -> None:
    reply = chat_stream(ChatScenario(text=["a", "b"]))
    fresh.openai.enqueue(CHAT_PATH, reply)
    raw = (
        b'{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},'
        b'"messages":[{"role":"user","content":"hi"}]}'
    )
    got = post_raw(fresh, CHAT_PATH, raw)
    assert fresh.openai.last(CHAT_PATH).body == raw
    assert got.body == reply.body  # the upstream's SSE, untouched


# ------------------------------------------------------------------ (f) Messages passthrough


def test_fm13_messages_passthrough_forwards_bytes_headers_and_query(fresh: Rig) -> None:
    fresh.anthropic.enqueue(
        MESSAGES_PATH, messages_json(MessagesScenario(blocks=[TextBlock(pieces=["ok"])]))
    )
    raw = (
        b'{"model": "claude-sonnet-4-6", "max_tokens": 64,  "messages": [{"role": "user",'
        b' "content": "hi \\u00e9"}], "context_management": {"edits": [{"type":'
        b' "clear_tool_uses_20250919"}]}, "metadata": {"user_id": "u_1_session_abc"}}'
    )
    beta = "context-management-2025-06-27,context-1m-2025-08-07"
    reply = post_raw(
        fresh,
        MESSAGES_PATH,
        raw,
        headers={
            "x-api-key": CLIENT_KEY,
            "anthropic-version": "2023-01-01",
            "anthropic-beta": beta,
        },
        query="beta=true",
    )
    assert reply.status == 200
    sent = fresh.anthropic.last(MESSAGES_PATH)
    assert sent.body == raw
    assert sent.query == "beta=true"
    assert sent.headers["anthropic-version"] == "2023-01-01"
    assert sent.headers["anthropic-beta"] == beta
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert "authorization" not in sent.headers
    _no_client_key(sent.headers)


def test_messages_passthrough_agent_body_the_front_would_refuse_goes_on_unread(
    fresh: Rig,
) -> None:
    """Agent traffic (it has tools) is parsed on passthrough only for the
    repeated-tool-call guard; a value the front's rules do not know yet is
    the client's API's to judge, not the gateway's."""
    fresh.anthropic.enqueue(
        MESSAGES_PATH, messages_json(MessagesScenario(blocks=[TextBlock(pieces=["ok"])]))
    )
    raw = json.dumps(
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": [{"type": "hologram", "data": "x"}]}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "service_tier": "a_tier_from_the_future",
            "temperature": 1.5,
        }
    ).encode()
    reply = post_raw(
        fresh,
        MESSAGES_PATH,
        raw,
        headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
    )
    assert reply.status == 200
    assert fresh.anthropic.last(MESSAGES_PATH).body == raw


def test_fm13_messages_passthrough_through_the_sdk_keeps_betas_and_query(fresh: Rig) -> None:
    reply = messages_stream(MessagesScenario(blocks=[TextBlock(pieces=["o", "k"])]))
    fresh.anthropic.enqueue(MESSAGES_PATH, reply)
    with messages_client(fresh) as client:
        raw = client.messages.with_raw_response.create(
            model=CLAUDE,
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
            extra_query={"beta": "true"},
        )
        body = raw.http_response.read()
    sent = fresh.anthropic.last(MESSAGES_PATH)
    assert sent.query == "beta=true"
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert (
        sent.headers["anthropic-version"] == raw.http_response.request.headers["anthropic-version"]
    )
    assert sent.json["stream"] is True
    assert body == reply.body


def test_fm4_thinking_signature_and_tool_input_bytes_survive_passthrough(fresh: Rig) -> None:
    turn = Turn(reasoning=("Hmm, ", "let me see."), text=("ok",))
    reply = upstream_reply("anthropic", turn, stream=True)
    tool = ToolUseBlock(id="toolu_01Q", name="run", fragments=["", '{"cmd": ', '"ls  -la"}'])
    reply_tool = messages_stream(MessagesScenario(blocks=[tool]))
    fresh.anthropic.enqueue(MESSAGES_PATH, reply, reply_tool)
    body = {
        "model": CLAUDE,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    first = post_raw(fresh, MESSAGES_PATH, body, headers={"anthropic-version": "2023-06-01"})
    second = post_raw(fresh, MESSAGES_PATH, body, headers={"anthropic-version": "2023-06-01"})
    assert first.body == reply.body
    assert second.body == reply_tool.body


# ------------------------------------------------------------------ (g) Responses passthrough


def test_responses_passthrough_forwards_bytes_to_v1_responses(fresh: Rig) -> None:
    fresh.openai.enqueue(
        RESPONSES_PATH, responses_json(ResponsesScenario(items=[MessageItem(pieces=["ok"])]))
    )
    raw = (
        b'{"model": "gpt-5", "input": "hi", "previous_response_id": "resp_prev1",'
        b' "store": true, "include": ["reasoning.encrypted_content"], "x_new_field": {"a": 1}}'
    )
    reply = post_raw(fresh, RESPONSES_PATH, raw)
    assert reply.status == 200
    assert reply.json()["output"][0]["content"][0]["text"] == "ok"
    sent = fresh.openai.last(RESPONSES_PATH)
    assert sent.body == raw  # previous_response_id reaches the upstream that stored it (FM8)
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    _no_client_key(sent.headers)
    assert fresh.openai.requests(CHAT_PATH) == []


def test_responses_passthrough_stream_is_relayed_untouched(fresh: Rig) -> None:
    reply = responses_stream(ResponsesScenario(items=[MessageItem(pieces=["o", "k"])]))
    fresh.openai.enqueue(RESPONSES_PATH, reply)
    got = post_raw(fresh, RESPONSES_PATH, {"model": "gpt-5", "input": "hi", "stream": True})
    assert got.body == reply.body


# ------------------------------------------------------------------ custom tools (FM9)


@pytest.mark.parametrize("model", [CLAUDE, "compat-model"], ids=["anthropic", "compat"])
@STREAM
def test_fm9_custom_apply_patch_tool_round_trips_as_custom_tool_call(
    fresh: Rig, model: str, stream: bool
) -> None:
    patch = '*** Begin Patch\n*** Update File: a.py\n-print("x")\n+print("y \\\\ z")\n*** End Patch'
    arguments = json.dumps({"input": patch})
    if model == CLAUDE:
        block = ToolUseBlock(
            id="toolu_01P", name="apply_patch", fragments=[arguments[:17], arguments[17:]]
        )
        sc = MessagesScenario(blocks=[block])
        fresh.anthropic.enqueue(MESSAGES_PATH, messages_stream(sc) if stream else messages_json(sc))
    else:
        call = ChatToolCall(
            id="toolu_01P", name="apply_patch", fragments=["", arguments[:9], arguments[9:]]
        )
        chat = ChatScenario(tool_calls=[call])
        fresh.openai.enqueue(CHAT_PATH, chat_stream(chat) if stream else chat_json(chat))
    tool = {
        "type": "custom",
        "name": "apply_patch",
        "description": "Apply a patch",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: /(.|\\n)+/"},
    }
    with chat_client(fresh) as client:
        kwargs: dict[str, Any] = {"model": model, "input": "fix it", "tools": [tool]}
        if stream:
            events = list(client.responses.create(stream=True, **kwargs))
            (done,) = [e for e in events if e.type == "response.completed"]
            response = done.response
        else:
            response = client.responses.create(**kwargs)
    (item,) = response.output
    assert item.type == "custom_tool_call"
    assert item.name == "apply_patch" and item.call_id == "toolu_01P"
    assert item.input == patch
    if model == CLAUDE:
        (sent_tool,) = fresh.anthropic.last_json(MESSAGES_PATH)["tools"]
        assert sent_tool["input_schema"]["properties"]["input"]["type"] == "string"
    else:
        (sent_tool,) = fresh.openai.last_json(CHAT_PATH)["tools"]
        assert sent_tool["function"]["parameters"]["properties"]["input"]["type"] == "string"


# ------------------------------------------------------------------ count_tokens (FM12)


def test_fm12_count_tokens_prefers_the_anthropic_upstreams_counter(fresh: Rig) -> None:
    fresh.anthropic.enqueue("/v1/messages/count_tokens", count_tokens_reply(1234))
    with messages_client(fresh) as client:
        counted = client.messages.count_tokens(
            model=CLAUDE, messages=[{"role": "user", "content": "hello"}]
        )
    assert counted.input_tokens == 1234
    sent = fresh.anthropic.last("/v1/messages/count_tokens")
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY


def test_fm12_count_tokens_for_a_translated_model_is_a_flagged_estimate(fresh: Rig) -> None:
    text = "word " * 2000
    with messages_client(fresh) as client:
        raw = client.messages.with_raw_response.count_tokens(
            model="gpt-4o", messages=[{"role": "user", "content": text}]
        )
    assert raw.headers.get("x-tokligence-token-estimate") == "true"
    # Under-counting is the dangerous direction: 2000 words are >= 2000 tokens.
    assert raw.parse().input_tokens >= 2000
    assert fresh.openai.received == []


# ------------------------------------------------------------------ model identity (FM20)


def test_fm20_models_are_listed_in_both_shapes(fresh: Rig) -> None:
    with chat_client(fresh) as client:
        openai_ids = [m.id for m in client.models.list()]
    with messages_client(fresh) as client:
        anthropic_ids = [m.id for m in client.models.list()]
    assert openai_ids == anthropic_ids and openai_ids
