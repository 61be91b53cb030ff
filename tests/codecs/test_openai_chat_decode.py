"""Non-stream Chat Completions bodies, usage and error envelopes -> canonical.

Bodies have the recorded shapes of OpenAI and of common compatible servers;
the standard ones are first validated with the openai SDK's own
``ChatCompletion`` model so the fixtures cannot drift from the real API.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from tokligence.canonical import ReasoningPart, Request, TextPart, ToolCallPart, Usage
from tokligence.codecs.base import Encoded
from tokligence.codecs.openai_chat import OpenAIChatCodec
from tokligence.errors import GatewayError
from tokligence.fronts.anthropic_messages import AnthropicMessagesFront
from tokligence.fronts.openai_chat import OpenAIChatFront

CODEC = OpenAIChatCodec()
PLAIN = Encoded(path="/chat/completions", body=b"{}")
CUSTOM = Encoded(path="/chat/completions", body=b"{}", custom_tools=frozenset({"apply_patch"}))


def completion(
    message: dict[str, Any],
    finish: str | None = "stop",
    usage: dict[str, Any] | None = None,
    *,
    validate: bool = True,
) -> bytes:
    body = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "refusal": None, **message},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035",
    }
    if validate:
        ChatCompletion.model_validate(body)
    return json.dumps(body).encode()


def usage(
    prompt: int, completion_: int, cached: int = 0, reasoning: int = 0, **more: Any
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_,
        "total_tokens": prompt + completion_,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0, **more},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def test_text_response() -> None:
    response = CODEC.decode_response(completion({"content": "Hello!"}, usage=usage(19, 10)), PLAIN)
    assert response.id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert response.model == "gpt-4o-2024-08-06"
    assert response.created == 1741569952
    assert response.content == (TextPart(text="Hello!"),)
    assert response.stop_reason == "end_turn" and response.stop_sequence is None
    assert response.usage == Usage(input_tokens=19, output_tokens=10)


def test_tool_call_response_keeps_raw_arguments() -> None:
    raw = '{"command": "echo \\"hi\\" \\\\ x",  "n":1}'
    calls = [{"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": raw}}]
    response = CODEC.decode_response(
        completion({"content": None, "tool_calls": calls}, "tool_calls"), PLAIN
    )
    assert response.content == (ToolCallPart(id="call_1", name="Bash", arguments=raw),)
    assert response.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "content_filter"),
        ("tool_calls", "end_turn"),  # claims tools but sent none
        (None, "end_turn"),
        ("something_new", "end_turn"),
    ],
)
def test_finish_reasons_without_tool_calls(finish: str | None, expected: str) -> None:
    body = completion({"content": "x"}, finish, validate=False)
    assert CODEC.decode_response(body, PLAIN).stop_reason == expected


def test_fm3_lying_stop_with_tool_calls_is_tool_use() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]
    for finish in ("stop", None):
        body = completion({"content": "Let me look.", "tool_calls": calls}, finish, validate=False)
        assert CODEC.decode_response(body, PLAIN).stop_reason == "tool_use"


def test_fm3_length_with_partial_tool_json_is_max_tokens() -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "write", "arguments": '{"text": "abc'},
        }
    ]
    response = CODEC.decode_response(
        completion({"content": None, "tool_calls": calls}, "length"), PLAIN
    )
    assert response.stop_reason == "max_tokens"
    assert response.tool_calls()[0].arguments == '{"text": "abc'


def test_refusal_is_visible_text_with_stop_reason_refusal() -> None:
    body = completion({"content": None, "refusal": "I can't help with that."})
    response = CODEC.decode_response(body, PLAIN)
    assert response.content == (TextPart(text="I can't help with that.", extra={"refusal": True}),)
    assert response.stop_reason == "refusal"


@pytest.mark.parametrize(
    ("fields", "reasoning"),
    [
        ({"reasoning_content": "think A"}, ReasoningPart(text="think A")),
        ({"reasoning": "think B"}, ReasoningPart(text="think B")),
        (
            # OpenRouter sends both; the text must not be doubled.
            {
                "reasoning": "think C",
                "reasoning_details": [{"type": "reasoning.text", "text": "think C"}],
            },
            ReasoningPart(text="think C"),
        ),
        (
            {
                "reasoning_details": [
                    {"type": "reasoning.summary", "summary": "short"},
                    {"type": "reasoning.text", "text": "long"},
                    {"type": "reasoning.encrypted", "data": "opaque"},
                ]
            },
            ReasoningPart(text="long", summary=("short",)),
        ),
    ],
)
def test_fm19_reasoning_dialects_never_become_text(
    fields: dict[str, Any], reasoning: ReasoningPart
) -> None:
    response = CODEC.decode_response(completion({"content": "Answer.", **fields}), PLAIN)
    assert response.content == (reasoning, TextPart(text="Answer."))
    assert response.text() == "Answer."


def test_fm9_custom_tool_call_rewrapped_non_stream() -> None:
    patch = '*** Begin Patch\n+print("hi")\n*** End Patch'
    calls = [
        {
            "id": "call_p",
            "type": "function",
            "function": {"name": "apply_patch", "arguments": json.dumps({"input": patch})},
        },
        {
            "id": "call_q",
            "type": "function",
            "function": {"name": "apply_patch", "arguments": "not json"},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "Bash", "arguments": '{"input":"x"}'},
        },
        {"id": "call_n", "type": "custom", "custom": {"name": "native", "input": "raw text"}},
    ]
    response = CODEC.decode_response(
        completion({"content": None, "tool_calls": calls}, "tool_calls"), CUSTOM
    )
    assert response.tool_calls() == (
        ToolCallPart(id="call_p", name="apply_patch", arguments=patch, kind="custom"),
        ToolCallPart(id="call_q", name="apply_patch", arguments="not json", kind="custom"),
        ToolCallPart(id="call_b", name="Bash", arguments='{"input":"x"}'),
        ToolCallPart(id="call_n", name="native", arguments="raw text", kind="custom"),
    )


def test_tolerated_odd_shapes() -> None:
    body = {
        "id": "x",
        "model": "llama3",
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                    "tool_calls": [{"function": {"name": "f", "arguments": {"k": 1}}}],
                    "function_call": {"name": "g", "arguments": "{}"},
                },
                "finish_reason": "stop",
            }
        ],
    }
    response = CODEC.decode_response(json.dumps(body).encode(), PLAIN)
    assert response.created == 0  # unknown: the pipeline stamps the time
    assert response.content == (
        TextPart(text="ab"),
        ToolCallPart(id="call_0", name="f", arguments='{"k":1}'),
        ToolCallPart(id="call_legacy_0", name="g", arguments="{}"),
    )
    assert response.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (b"<html>oops</html>", "api_error", "not JSON"),
        (b"[]", "api_error", "not a JSON object"),
        (b'{"id":"x","choices":[]}', "api_error", "no choices"),
        (
            b'{"error":{"message":"Rate limit reached","type":"requests",'
            b'"code":"rate_limit_exceeded"}}',
            "rate_limit",
            "Rate limit reached",
        ),
        (b'{"error":"model is loading"}', "api_error", "model is loading"),
    ],
)
def test_invalid_or_error_bodies_raise(body: bytes, kind: str, message: str) -> None:
    with pytest.raises(GatewayError) as info:
        CODEC.decode_response(body, PLAIN)
    assert info.value.kind == kind
    assert message in info.value.message


# ---------------------------------------------------------------- usage


def test_fm5_usage_cached_tokens_are_excluded_from_input() -> None:
    assert CODEC.usage_from({"usage": usage(2006, 300, cached=1920, reasoning=192)}) == Usage(
        input_tokens=86, output_tokens=300, cache_read_tokens=1920, reasoning_tokens=192
    )
    assert CODEC.usage_from({"usage": None}) is None
    assert CODEC.usage_from({"choices": []}) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            usage(1000, 50, cached=800, cache_write_tokens=150),
            Usage(input_tokens=50, output_tokens=50, cache_read_tokens=800, cache_write_tokens=150),
        ),
        (  # DeepSeek
            {
                "prompt_tokens": 120,
                "completion_tokens": 5,
                "prompt_cache_hit_tokens": 100,
                "prompt_cache_miss_tokens": 20,
            },
            Usage(input_tokens=20, output_tokens=5, cache_read_tokens=100),
        ),
        (  # Moonshot puts it flat
            {"prompt_tokens": 50, "completion_tokens": 5, "cached_tokens": 40},
            Usage(input_tokens=10, output_tokens=5, cache_read_tokens=40),
        ),
        (
            {"prompt_tokens": 7, "completion_tokens": None, "prompt_tokens_details": None},
            Usage(input_tokens=7),
        ),
    ],
)
def test_fm6_cache_accounting_from_chat_usage(raw: dict[str, Any], expected: Usage) -> None:
    assert CODEC.usage_from({"usage": raw}) == expected


def test_fm6_cache_accounting_round_trips_to_both_client_dialects() -> None:
    raw = usage(2006, 300, cached=1920, reasoning=192, cache_write_tokens=6)
    response = CODEC.decode_response(completion({"content": "ok"}, usage=raw), PLAIN)
    request = Request(model="m", dialect="openai_chat", messages=())
    chat = json.loads(OpenAIChatFront().render_response(response, request))
    assert chat["usage"]["prompt_tokens"] == 2006  # includes cache again
    assert chat["usage"]["prompt_tokens_details"]["cached_tokens"] == 1920
    assert chat["usage"]["prompt_tokens_details"]["cache_write_tokens"] == 6
    assert chat["usage"]["completion_tokens_details"]["reasoning_tokens"] == 192
    claude = json.loads(AnthropicMessagesFront().render_response(response, request))
    assert claude["usage"]["input_tokens"] == 80  # excludes cache: 2006 - 1920 - 6
    assert claude["usage"]["cache_read_input_tokens"] == 1920
    assert claude["usage"]["cache_creation_input_tokens"] == 6
    assert claude["usage"]["output_tokens"] == 300


# ---------------------------------------------------------------- errors


def openai_error(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "message", "code", "param", "retry_after"),
    [
        (
            400,
            openai_error(
                "This model's maximum context length is 128000 tokens.",
                "invalid_request_error",
                "context_length_exceeded",
                "messages",
            ),
            {},
            "invalid_request",
            "This model's maximum context length is 128000 tokens.",
            "context_length_exceeded",
            "messages",
            None,
        ),
        (
            401,
            openai_error(
                "Incorrect API key provided: sk-proj-********************abcd. "
                "You can find your API key at x.",
                "invalid_request_error",
                "invalid_api_key",
            ),
            {},
            "authentication",
            "Incorrect API key provided: sk-***. You can find your API key at x.",
            "invalid_api_key",
            None,
            None,
        ),
        (
            404,
            openai_error(
                "The model `gpt-9` does not exist", "invalid_request_error", "model_not_found"
            ),
            {},
            "not_found",
            "The model `gpt-9` does not exist",
            "model_not_found",
            None,
            None,
        ),
        (
            429,
            openai_error(
                "Rate limit reached. Please try again in 20s.", "requests", "rate_limit_exceeded"
            ),
            {"Retry-After": "20"},
            "rate_limit",
            "Rate limit reached. Please try again in 20s.",
            "rate_limit_exceeded",
            None,
            20.0,
        ),
        (
            429,
            openai_error(
                "You exceeded your current quota.", "insufficient_quota", "insufficient_quota"
            ),
            {"retry-after-ms": "1500", "retry-after": "9"},
            "rate_limit",
            "You exceeded your current quota.",
            "insufficient_quota",
            None,
            1.5,
        ),
        (
            500,
            openai_error("The server had an error.", "server_error"),
            {},
            "api_error",
            "The server had an error.",
            None,
            None,
            None,
        ),
        (
            529,
            b'{"error":{"message":"Overloaded","type":"overloaded_error"}}',
            {},
            "overloaded",
            "Overloaded",
            None,
            None,
            None,
        ),
        (
            502,
            b"<html><head><title>502 Bad Gateway</title></head><body>"
            b"<center><h1>502 Bad Gateway</h1></center>"
            + b"<hr><center>nginx</center></body></html>"
            * 20,
            {},
            "api_error",
            "upstream returned HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx",
            None,
            None,
            None,
        ),
        (503, b"", {}, "unavailable", "upstream returned HTTP 503", None, None, None),
        (
            400,
            b'{"error":"unknown field foo"}',
            {},
            "invalid_request",
            "unknown field foo",
            None,
            None,
            None,
        ),
        (
            404,
            b'{"message":"model not found"}',
            {},
            "not_found",
            "model not found",
            None,
            None,
            None,
        ),
        (422, b'{"detail":"bad stuff"}', {}, "invalid_request", "bad stuff", None, None, None),
        (
            422,
            b'{"detail":[{"loc":["body","messages"],"msg":"field required"}]}',
            {},
            "invalid_request",
            '[{"loc": ["body", "messages"], "msg": "field required"}]',
            None,
            None,
            None,
        ),
    ],
)
def test_fm18_error_envelopes(
    status: int,
    body: bytes,
    headers: dict[str, str],
    kind: str,
    message: str,
    code: str | None,
    param: str | None,
    retry_after: float | None,
) -> None:
    error = CODEC.decode_error(status, body, headers)
    assert error.kind == kind
    assert error.status == status
    assert error.message.startswith(message)
    assert len(error.message) <= len("upstream returned HTTP 502: ") + 200
    assert error.code == code
    assert error.param == param
    assert error.retry_after == retry_after
