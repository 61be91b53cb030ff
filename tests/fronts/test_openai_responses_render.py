"""Non-stream bodies and error envelopes of the OpenAI Responses front,
judged by the openai SDK's own models and client."""

from __future__ import annotations

import json
from typing import Any, get_args

import httpx2
import openai
import pytest
from openai.types.responses import Response as SdkResponse
from openai.types.responses.response_error import ResponseError

from tests.fronts.test_openai_responses_parse import CODEX_BODY
from tokligence.canonical import (
    ContentPart,
    ReasoningPart,
    RedactedReasoningPart,
    Request,
    Response,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from tokligence.errors import STATUS_BY_KIND, ErrorKind, GatewayError, invalid
from tokligence.fronts.openai_responses import OpenAIResponsesFront
from tokligence.fronts.openai_responses_render import _FORWARDED_CODES, failure_code

FRONT = OpenAIResponsesFront()
CODEX = FRONT.parse_request(json.dumps(CODEX_BODY).encode())
PLAIN = FRONT.parse_request(b'{"model":"gpt-5","input":"hi"}')
USAGE = Usage(
    input_tokens=10,
    cache_read_tokens=90,
    cache_write_tokens=5,
    output_tokens=40,
    reasoning_tokens=25,
)


def body(
    content: tuple[ContentPart, ...],
    stop: StopReason = "end_turn",
    request: Request = CODEX,
    rid: str = "abc",
) -> tuple[dict[str, Any], SdkResponse]:
    response = Response(
        id=rid,
        model="gpt-5-codex",
        created=1_700_000_000,
        content=content,
        stop_reason=stop,
        usage=USAGE,
    )
    raw = json.loads(FRONT.render_response(response, request))
    return raw, SdkResponse.model_validate(raw)


def test_text_and_envelope() -> None:
    raw, sdk = body((TextPart(text="Hello "), TextPart(text="world")))
    assert (sdk.id, sdk.object, sdk.status, sdk.output_text) == (
        "resp_abc",
        "response",
        "completed",
        "Hello world",
    )
    assert raw["output"] == [
        {
            "id": "msg_abc_0",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "annotations": [], "logprobs": [], "text": "Hello world"}
            ],
        }
    ]
    assert "output_text" not in raw  # an SDK property, not a wire field
    assert raw["error"] is None and raw["incomplete_details"] is None
    assert raw["usage"] == {
        "input_tokens": 105,  # Responses counts the cache in input_tokens
        "input_tokens_details": {"cached_tokens": 90, "cache_write_tokens": 5},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 25},
        "total_tokens": 145,
    }


def test_request_settings_are_echoed() -> None:
    raw, sdk = body((TextPart(text="x"),))
    assert sdk.instructions == "You are Codex, a coding agent."
    assert [t.type for t in sdk.tools] == ["function", "custom", "namespace", "web_search"]
    assert raw["tools"][0] == {**CODEX_BODY["tools"][0]}
    assert raw["tools"][1] == CODEX_BODY["tools"][1]
    assert (sdk.tool_choice, sdk.parallel_tool_calls, raw["store"]) == ("auto", False, False)
    assert sdk.reasoning is not None and (sdk.reasoning.effort, sdk.reasoning.summary) == (
        "medium",
        "auto",
    )
    assert sdk.text is not None and sdk.text.verbosity == "low"
    assert sdk.prompt_cache_key == "0199a7c3-session"
    assert (sdk.truncation, sdk.metadata, sdk.previous_response_id) == ("disabled", {}, None)


def test_plain_request_defaults() -> None:
    raw, sdk = body((TextPart(text="x"),), request=PLAIN)
    assert (sdk.instructions, sdk.tools, sdk.tool_choice, raw["store"]) == (None, [], "auto", True)
    assert raw["text"] == {"format": {"type": "text"}}
    assert raw["reasoning"] == {"effort": None, "summary": None}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"tool_choice": {"type": "custom", "name": "apply_patch"}},
            {"type": "custom", "name": "apply_patch"},
        ),
        (
            {"tool_choice": {"type": "function", "name": "shell"}},
            {"type": "function", "name": "shell"},
        ),
        ({"tool_choice": "required"}, "required"),
        ({"tool_choice": {"type": "web_search_preview"}}, {"type": "web_search_preview"}),
    ],
)
def test_tool_choice_echo(extra: dict[str, Any], expected: Any) -> None:
    request = FRONT.parse_request(json.dumps({**CODEX_BODY, **extra}).encode())
    raw, _ = body((TextPart(text="x"),), request=request)
    assert raw["tool_choice"] == expected


def test_json_schema_format_echo_validates() -> None:
    fmt = {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}
    request = FRONT.parse_request(
        json.dumps({"model": "m", "input": "x", "text": {"format": fmt}}).encode()
    )
    _, sdk = body((TextPart(text="{}"),), request=request)
    assert (
        sdk.text is not None
        and sdk.text.format is not None
        and sdk.text.format.type == "json_schema"
    )


def test_text_then_calls() -> None:
    raw, sdk = body(
        (
            TextPart(text="Checking."),
            ToolCallPart(id="call_A", name="shell", arguments='{"command":["ls"]}'),
            ToolCallPart(
                id="call_B", name="apply_patch", arguments="*** Begin Patch", kind="custom"
            ),
            ToolCallPart(id="call_C", name="noop", arguments=""),
        ),
        stop="tool_use",
    )
    assert sdk.status == "completed" and sdk.output_text == "Checking."
    assert raw["output"][1:] == [
        {
            "id": "fc_abc_1",
            "type": "function_call",
            "status": "completed",
            "arguments": '{"command":["ls"]}',
            "call_id": "call_A",
            "name": "shell",
        },
        {
            "id": "ctc_abc_2",
            "type": "custom_tool_call",
            "call_id": "call_B",
            "name": "apply_patch",
            "input": "*** Begin Patch",
        },
        # A call without arguments is "{}" on this wire: clients JSON-parse it.
        {
            "id": "fc_abc_3",
            "type": "function_call",
            "status": "completed",
            "arguments": "{}",
            "call_id": "call_C",
            "name": "noop",
        },
    ]


def test_upstream_item_ids_are_kept() -> None:
    raw, _ = body(
        (
            ReasoningPart(summary=("s",), encrypted_content="enc", id="rs_up", vendor="openai"),
            ToolCallPart(id="call_A", item_id="fc_up", name="shell", arguments="{}"),
        )
    )
    assert [i["id"] for i in raw["output"]] == ["rs_up", "fc_up"]


def test_openai_reasoning_keeps_encrypted_content() -> None:
    raw, sdk = body(
        (
            ReasoningPart(
                summary=("**Plan**", "**Act**"), encrypted_content="gAAA==", vendor="openai"
            ),
            TextPart(text="ok"),
        )
    )
    assert raw["output"][0] == {
        "id": "rs_abc_0",
        "type": "reasoning",
        "summary": [
            {"type": "summary_text", "text": "**Plan**"},
            {"type": "summary_text", "text": "**Act**"},
        ],
        "encrypted_content": "gAAA==",
    }
    assert sdk.output_text == "ok"


def test_other_vendor_reasoning_is_shown_and_only_claudes_signature_travels() -> None:
    raw, sdk = body(
        (
            ReasoningPart(text="secret thoughts", signature="anthropic-sig", vendor="anthropic"),
            RedactedReasoningPart(data="redacted-blob"),
            ReasoningPart(signature="only-a-signature", vendor="anthropic"),
            ReasoningPart(text="other", signature="not-claudes", vendor="other"),
            TextPart(text="answer"),
        )
    )
    text = json.dumps(raw)
    assert "redacted-blob" not in text and "not-claudes" not in text
    # Claude's signatures ride, marked, where the client replays them from
    # (openai_responses_proofs); the signature-only block is real too.
    assert [i.get("encrypted_content") for i in raw["output"][:2]] == [
        "tokligence:anthropic:anthropic-sig",
        "tokligence:anthropic:only-a-signature",
    ]
    assert raw["output"][0] == {
        "id": "rs_abc_0",
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "secret thoughts"}],
        "encrypted_content": "tokligence:anthropic:anthropic-sig",
    }
    assert len(raw["output"]) == 4  # the redacted block leaves nothing
    assert "encrypted_content" not in raw["output"][2]
    assert sdk.output_text == "answer"  # reasoning never leaks into the visible text


@pytest.mark.parametrize(
    ("stop", "status", "reason"),
    [
        ("end_turn", "completed", None),
        ("tool_use", "completed", None),
        ("max_tokens", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
        ("refusal", "incomplete", "content_filter"),
    ],
)
def test_status(stop: StopReason, status: str, reason: str | None) -> None:
    _, sdk = body((TextPart(text="x"),), stop=stop)
    assert sdk.status == status
    assert (sdk.incomplete_details.reason if sdk.incomplete_details else None) == reason


def test_id_prefix_not_doubled_and_empty_output() -> None:
    raw, sdk = body((), rid="resp_xyz")
    assert sdk.id == "resp_xyz" and raw["output"] == []


# ------------------------------------------------------------------- errors


def sdk_error(status: int, payload: bytes) -> openai.APIStatusError:
    def handler(req: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            status, content=payload, headers={"content-type": "application/json"}
        )

    client = openai.OpenAI(
        api_key="test-key",
        base_url="http://gateway.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with pytest.raises(openai.APIStatusError) as info:
        client.responses.create(model="gpt-5", input="hi")
    return info.value


@pytest.mark.parametrize(
    ("error", "sdk_class", "wire_type", "code"),
    [
        (
            invalid("'input[0].role' is bad", param="input[0].role"),
            openai.BadRequestError,
            "invalid_request_error",
            None,
        ),
        (
            GatewayError("authentication", "bad key"),
            openai.AuthenticationError,
            "invalid_request_error",
            "invalid_api_key",
        ),
        (
            GatewayError("not_found", "no model x", code="model_not_found"),
            openai.NotFoundError,
            "invalid_request_error",
            "model_not_found",
        ),
        (
            GatewayError("rate_limit", "slow down"),
            openai.RateLimitError,
            "requests",
            "rate_limit_exceeded",
        ),
        (GatewayError("api_error", "boom"), openai.InternalServerError, "server_error", None),
    ],
)
def test_error_envelope_through_the_sdk(
    error: GatewayError, sdk_class: type, wire_type: str, code: str | None
) -> None:
    payload = FRONT.render_error(error)
    assert set(json.loads(payload)["error"]) == {"message", "type", "param", "code"}
    exc = sdk_error(error.status, payload)
    assert isinstance(exc, sdk_class)
    assert error.message in exc.message
    assert (exc.type, exc.param, exc.code) == (wire_type, error.param, code)


SDK_FAILURE_CODES = set(get_args(ResponseError.model_fields["code"].annotation))
# Codes the real API sends and Codex keys on that the SDK's literal lacks
# (codex-api sse/responses.rs: context window, quota, plan; capacity retries).
CODEX_CODES = {
    "context_length_exceeded",
    "insufficient_quota",
    "usage_not_included",
    "server_is_overloaded",
    "slow_down",
}


@pytest.mark.parametrize("kind", list(STATUS_BY_KIND))
def test_failure_codes_are_ones_the_sdk_knows(kind: ErrorKind) -> None:
    assert failure_code(kind, None) in SDK_FAILURE_CODES


def test_forwarded_failure_codes() -> None:
    # Only codes Codex keys on may lie outside the SDK's literal.
    assert CODEX_CODES >= _FORWARDED_CODES - SDK_FAILURE_CODES
    # A transient overload stays retryable for Codex; the upstream's own
    # capacity code is forwarded as it is.
    assert failure_code("overloaded", None) == "server_error"
    assert failure_code("overloaded", "server_is_overloaded") == "server_is_overloaded"
    assert failure_code("api_error", "slow_down") == "slow_down"
    assert failure_code("api_error", "usage_not_included") == "usage_not_included"
    assert (
        failure_code("invalid_request", "model_context_window_exceeded")
        == "context_length_exceeded"
    )
    assert failure_code("api_error", "invalid_image") == "invalid_image"
    assert failure_code("api_error", "some_vendor_code") == "server_error"
    assert failure_code("rate_limit", None) == "rate_limit_exceeded"
