"""Non-stream responses and error envelopes of the OpenAI Chat front, judged by
the official openai SDK's own models and client."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion

from tokligence.canonical import (
    ReasoningPart,
    RedactedReasoningPart,
    Request,
    Response,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from tokligence.errors import GatewayError, invalid
from tokligence.fronts.openai_chat import OpenAIChatFront

FRONT = OpenAIChatFront()
REQUEST = Request(model="gpt-4o", dialect="openai_chat", messages=())


def render(response: Response) -> dict[str, Any]:
    body = FRONT.render_response(response, REQUEST)
    ChatCompletion.model_validate_json(body)  # the SDK accepts it
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def response(
    *content: Any, stop: StopReason = "end_turn", usage: Usage | None = None, **kw: Any
) -> Response:
    return Response(
        id="abc123",
        model="gpt-4o-2024-08-06",
        created=1_700_000_000,
        content=content,
        stop_reason=stop,
        usage=usage or Usage(input_tokens=10, output_tokens=5),
        **kw,
    )


def test_text_response_exact_body() -> None:
    assert render(response(TextPart(text="Hello"), TextPart(text=" there"))) == {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello there",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "system_fingerprint": None,
    }


def test_id_prefix_not_doubled() -> None:
    body = render(
        Response(id="chatcmpl-xyz", model="m", created=1, content=(), stop_reason="end_turn")
    )
    assert body["id"] == "chatcmpl-xyz"


def test_tool_calls_with_null_content_and_sdk_types() -> None:
    args = '{"cmd": "echo \\"hi\\" \\\\ done"}'
    body = FRONT.render_response(
        response(
            ToolCallPart(id="call_1", name="bash", arguments=args),
            ToolCallPart(
                id="call_2", name="apply_patch", arguments="*** Begin Patch\n", kind="custom"
            ),
            stop="tool_use",
        ),
        REQUEST,
    )
    completion = ChatCompletion.model_validate_json(body)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [c.type for c in calls] == ["function", "custom"]
    assert calls[0].type == "function" and calls[0].function.arguments == args
    assert json.loads(calls[0].function.arguments) == {"cmd": 'echo "hi" \\ done'}
    assert calls[1].type == "custom" and calls[1].custom.input == "*** Begin Patch\n"
    assert calls[1].custom.name == "apply_patch"


def test_upstream_lying_stop_with_tool_calls_reports_tool_calls() -> None:
    body = render(response(TextPart(text="x"), ToolCallPart(id="c", name="f", arguments="{}")))
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_max_tokens_with_partial_tool_call_stays_length() -> None:
    body = render(response(ToolCallPart(id="c", name="f", arguments='{"a":'), stop="max_tokens"))
    assert body["choices"][0]["finish_reason"] == "length"


FINISH = [
    ("end_turn", "stop"),
    ("stop_sequence", "stop"),
    ("max_tokens", "length"),
    ("tool_use", "tool_calls"),
    ("content_filter", "content_filter"),
    ("refusal", "content_filter"),
    ("pause_turn", "stop"),
    ("context_window_exceeded", "length"),
]


@pytest.mark.parametrize(("stop", "expected"), FINISH)
def test_finish_reason_mapping(stop: StopReason, expected: str) -> None:
    assert (
        render(response(TextPart(text="x"), stop=stop))["choices"][0]["finish_reason"] == expected
    )


def test_reasoning_goes_to_reasoning_content_never_content() -> None:
    body = render(
        response(
            ReasoningPart(text="Let me think.", signature="sig", vendor="anthropic"),
            RedactedReasoningPart(data="opaque"),
            TextPart(text="42"),
        )
    )
    message = body["choices"][0]["message"]
    assert message["content"] == "42"
    assert message["reasoning_content"] == "Let me think."
    assert "opaque" not in json.dumps(body) and "sig" not in json.dumps(message)


def test_signature_only_reasoning_adds_no_reasoning_field() -> None:
    message = render(response(ReasoningPart(signature="s"), TextPart(text="a")))["choices"][0][
        "message"
    ]
    assert "reasoning_content" not in message


def test_empty_response_has_null_content() -> None:
    message = render(response())["choices"][0]["message"]
    assert message["content"] is None
    assert "tool_calls" not in message


def test_refusal_text_goes_to_refusal() -> None:
    body = render(
        response(TextPart(text="I can't help with that.", extra={"refusal": True}), stop="refusal")
    )
    choice = body["choices"][0]
    assert choice["message"]["refusal"] == "I can't help with that."
    assert choice["message"]["content"] is None
    assert choice["finish_reason"] == "content_filter"


def test_usage_conversion_includes_cache_in_prompt_tokens() -> None:
    usage = Usage(
        input_tokens=100,
        output_tokens=40,
        cache_read_tokens=900,
        cache_write_tokens=50,
        reasoning_tokens=30,
    )
    completion = ChatCompletion.model_validate_json(
        FRONT.render_response(response(TextPart(text="a"), usage=usage), REQUEST)
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 1050
    assert completion.usage.completion_tokens == 40
    assert completion.usage.total_tokens == 1090
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 900
    assert completion.usage.prompt_tokens_details.cache_write_tokens == 50
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 30


def test_service_tier_from_response_extra() -> None:
    body = render(response(TextPart(text="a"), extra={"service_tier": "default"}))
    assert body["service_tier"] == "default"


def test_unicode_is_written_raw_and_separators_survive() -> None:
    text = "a\u2028b\u2029c — ünïcode 🚀"
    raw = FRONT.render_response(response(TextPart(text=text)), REQUEST)
    assert "\u2028".encode() in raw
    assert json.loads(raw)["choices"][0]["message"]["content"] == text


# ------------------------------------------------------------------ errors

# kind, expected status, SDK exception class, expected type, expected code
ERRORS: list[tuple[str, int, type[openai.APIStatusError], str, str | None]] = [
    ("invalid_request", 400, openai.BadRequestError, "invalid_request_error", None),
    ("authentication", 401, openai.AuthenticationError, "invalid_request_error", "invalid_api_key"),
    ("permission", 403, openai.PermissionDeniedError, "invalid_request_error", None),
    ("not_found", 404, openai.NotFoundError, "invalid_request_error", None),
    ("method_not_allowed", 405, openai.APIStatusError, "invalid_request_error", None),
    ("request_too_large", 413, openai.APIStatusError, "invalid_request_error", None),
    ("rate_limit", 429, openai.RateLimitError, "requests", "rate_limit_exceeded"),
    ("api_error", 500, openai.InternalServerError, "server_error", None),
    ("overloaded", 529, openai.InternalServerError, "server_error", "overloaded"),
    ("timeout", 504, openai.InternalServerError, "timeout", None),
    ("unavailable", 503, openai.InternalServerError, "server_error", None),
]


def _sdk_error(status: int, body: bytes) -> openai.APIStatusError:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": "application/json"})

    client = openai.OpenAI(
        api_key="test-key",
        base_url="http://gateway.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    return info.value


@pytest.mark.parametrize(("kind", "status", "cls", "type_", "code"), ERRORS)
def test_error_envelope_and_sdk_exception(
    kind: Any, status: int, cls: type[openai.APIStatusError], type_: str, code: str | None
) -> None:
    error = GatewayError(kind, f"something about {kind}")
    assert error.status == status
    body = FRONT.render_error(error)
    assert json.loads(body) == {
        "error": {"message": f"something about {kind}", "type": type_, "param": None, "code": code}
    }
    raised = _sdk_error(error.status, body)
    assert type(raised) is cls
    assert raised.status_code == status
    assert raised.type == type_
    assert raised.code == code


def test_error_param_and_explicit_code_win() -> None:
    body = FRONT.render_error(
        invalid("'messages[0].role' is bad", param="messages[0].role", code="invalid_value")
    )
    assert json.loads(body)["error"] == {
        "message": "'messages[0].role' is bad",
        "type": "invalid_request_error",
        "param": "messages[0].role",
        "code": "invalid_value",
    }
    raised = _sdk_error(400, body)
    assert raised.param == "messages[0].role"
    assert raised.code == "invalid_value"


def test_model_not_found_code() -> None:
    body = FRONT.render_error(
        GatewayError("not_found", "no provider for model 'x'", code="model_not_found")
    )
    raised = _sdk_error(404, body)
    assert isinstance(raised, openai.NotFoundError)
    assert raised.code == "model_not_found"
