"""Anthropic upstream codec: non-stream bodies, error envelopes and usage sniffing.

Response bodies are written in the API's recorded shape and checked against
the official SDK's ``Message`` model before decoding.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message as SdkMessage

from tokligence.canonical import (
    ReasoningPart,
    RedactedReasoningPart,
    Response,
    TextPart,
    ToolCallPart,
    Usage,
)
from tokligence.codecs.anthropic import AnthropicCodec
from tokligence.codecs.base import Encoded
from tokligence.errors import GatewayError

CODEC = AnthropicCodec()
MODEL = "claude-sonnet-4-5-20250929"
ENCODED = Encoded(path="/v1/messages", body=json.dumps({"model": MODEL}).encode())
CUSTOM = Encoded(path="/v1/messages", body=b"{}", custom_tools=frozenset({"apply_patch"}))
USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 6,
}


def message(content: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": "msg_01ABC",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": USAGE,
        **fields,
    }


def decode(body: dict[str, Any], encoded: Encoded = ENCODED) -> Response:
    SdkMessage.model_validate(body)  # the fixture is a real message shape
    return CODEC.decode_response(json.dumps(body).encode(), encoded)


# ---------------------------------------------------------------- responses


def test_text_message() -> None:
    assert decode(message([{"type": "text", "text": "Hi \u2028 there"}])) == Response(
        id="msg_01ABC",
        model=MODEL,
        created=0,
        content=(TextPart(text="Hi \u2028 there"),),
        stop_reason="end_turn",
        usage=Usage(input_tokens=12, output_tokens=6),
    )


def test_fm4_thinking_signature_and_redacted_blocks_survive_byte_for_byte() -> None:
    signature = 'EqQBCkYIBRgCIkB+/=\\"\u00e9'
    response = decode(
        message(
            [
                {"type": "thinking", "thinking": "step \u2029 1", "signature": signature},
                {"type": "thinking", "thinking": "", "signature": "sig-only"},
                {"type": "redacted_thinking", "data": "EmwKAhgB=="},
                {"type": "text", "text": ""},
                {"type": "text", "text": "answer"},
            ]
        )
    )
    assert response.content == (
        ReasoningPart(text="step \u2029 1", signature=signature, vendor="anthropic"),
        ReasoningPart(signature="sig-only", vendor="anthropic"),
        RedactedReasoningPart(data="EmwKAhgB==", vendor="anthropic"),
        TextPart(text="answer"),
    )


def test_fm1_tool_use_input_becomes_compact_json_text() -> None:
    command = 'echo "a \\"b\\"" \u00e9'
    response = decode(
        message(
            [
                {"type": "text", "text": "Running."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "Bash",
                    "input": {"command": command},
                },
                {"type": "tool_use", "id": "toolu_02", "name": "Now", "input": {}},
            ],
            stop_reason="tool_use",
        )
    )
    assert response.tool_calls() == (
        ToolCallPart(
            id="toolu_01",
            name="Bash",
            arguments=json.dumps({"command": command}, ensure_ascii=False, separators=(",", ":")),
        ),
        ToolCallPart(id="toolu_02", name="Now", arguments="{}"),
    )
    assert json.loads(response.tool_calls()[0].arguments)["command"] == command
    assert response.stop_reason == "tool_use"


def test_fm9_custom_tool_calls_are_rewrapped() -> None:
    patch = "*** Begin Patch\n*** End Patch\n"
    response = decode(
        message(
            [
                {
                    "type": "tool_use",
                    "id": "toolu_p",
                    "name": "apply_patch",
                    "input": {"input": patch},
                }
            ],
            stop_reason="tool_use",
        ),
        CUSTOM,
    )
    assert response.tool_calls() == (
        ToolCallPart(id="toolu_p", name="apply_patch", arguments=patch, kind="custom"),
    )


def test_server_tool_blocks_and_citations_are_kept_aside() -> None:
    citation = {
        "type": "char_location",
        "cited_text": "x",
        "document_index": 0,
        "document_title": None,
        "start_char_index": 0,
        "end_char_index": 1,
    }
    search = {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"query": "q"},
    }
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
    response = decode(
        message([search, result, {"type": "text", "text": "found", "citations": [citation]}])
    )
    assert response.content == (TextPart(text="found", extra={"citations": [citation]}),)
    assert response.extra == {
        "anthropic_blocks": [{"at": 0, "block": search}, {"at": 0, "block": result}]
    }
    assert response.tool_calls() == () and response.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("reason", "sequence", "tool", "expected"),
    [
        ("end_turn", None, False, ("end_turn", None)),
        ("max_tokens", None, False, ("max_tokens", None)),
        ("stop_sequence", "###", False, ("stop_sequence", "###")),
        ("stop_sequence", "", False, ("stop_sequence", None)),
        ("end_turn", None, True, ("tool_use", None)),
        ("tool_use", None, True, ("tool_use", None)),
        ("tool_use", None, False, ("end_turn", None)),
        ("pause_turn", None, False, ("pause_turn", None)),
        ("refusal", None, False, ("refusal", None)),
        ("model_context_window_exceeded", None, False, ("context_window_exceeded", None)),
    ],
)
def test_fm3_stop_reasons(
    reason: str, sequence: str | None, tool: bool, expected: tuple[str, str | None]
) -> None:
    content: list[dict[str, Any]] = [{"type": "text", "text": "x"}]
    if tool:
        content.append({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})
    response = decode(message(content, stop_reason=reason, stop_sequence=sequence))
    assert (response.stop_reason, response.stop_sequence) == expected


def test_fm6_cache_and_thinking_usage() -> None:
    usage = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 30000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 400,
        "output_tokens_details": {"thinking_tokens": 300},
        "service_tier": "standard",
    }
    response = decode(message([{"type": "text", "text": "x"}], usage=usage))
    assert response.usage == Usage(
        input_tokens=50,
        output_tokens=400,
        cache_write_tokens=1000,
        cache_read_tokens=30000,
        reasoning_tokens=300,
    )
    assert response.usage.prompt_tokens == 31050


def test_null_cache_fields_are_zero() -> None:
    usage = {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": None}
    response = decode(message([{"type": "text", "text": "x"}], usage=usage))
    assert response.usage == Usage(input_tokens=3, output_tokens=4)


def test_a_body_without_id_or_model_gets_stable_ones() -> None:
    body = json.dumps({"content": [{"type": "text", "text": "x"}], "stop_reason": "end_turn"})
    first = CODEC.decode_response(body.encode(), ENCODED)
    again = CODEC.decode_response(body.encode(), ENCODED)
    assert first.id == again.id and first.id.startswith("msg_")
    assert first.model == MODEL


@pytest.mark.parametrize(
    ("body", "kind", "status", "message"),
    [
        (b"<html>bad gateway</html>", "api_error", 502, "upstream response is not JSON"),
        (b"[1, 2]", "api_error", 502, "upstream response is not a JSON object"),
        (b'{"id": "msg_1", "type": "message"}', "api_error", 502, "no content array"),
        (
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
            "overloaded",
            529,
            "Overloaded",
        ),
    ],
)
def test_bodies_that_are_not_a_message_raise(
    body: bytes, kind: str, status: int, message: str
) -> None:
    with pytest.raises(GatewayError) as caught:
        CODEC.decode_response(body, ENCODED)
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert message in caught.value.message


# ------------------------------------------------------------ error envelopes


def envelope(error_type: str, message: str) -> bytes:
    return json.dumps(
        {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_1"}
    ).encode()


@pytest.mark.parametrize(
    ("status", "error_type", "kind", "code"),
    [
        (400, "invalid_request_error", "invalid_request", None),
        (401, "authentication_error", "authentication", None),
        (402, "billing_error", "permission", "insufficient_quota"),
        (403, "permission_error", "permission", None),
        (404, "not_found_error", "not_found", None),
        (413, "request_too_large", "request_too_large", None),
        (429, "rate_limit_error", "rate_limit", None),
        (500, "api_error", "api_error", None),
        (504, "timeout_error", "timeout", None),
        (529, "overloaded_error", "overloaded", None),
        (503, "overloaded_error", "overloaded", None),  # a proxy's status, Anthropic's type
        (418, "brand_new_error", "invalid_request", None),
    ],
)
def test_fm18_error_envelopes(status: int, error_type: str, kind: str, code: str | None) -> None:
    error = CODEC.decode_error(status, envelope(error_type, "Something happened."), {})
    assert (error.kind, error.status, error.message, error.code) == (
        kind,
        status,
        "Something happened.",
        code,
    )
    assert error.retry_after is None


def test_fm18_prompt_too_long_carries_the_openai_code() -> None:
    message = "prompt is too long: 210000 tokens > 200000 maximum"
    error = CODEC.decode_error(400, envelope("invalid_request_error", message), {})
    assert (error.kind, error.code, error.message) == (
        "invalid_request",
        "context_length_exceeded",
        message,
    )


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "12"}, 12.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_fm18_rate_limit_with_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    error = CODEC.decode_error(429, envelope("rate_limit_error", "slow down"), headers)
    assert (error.kind, error.status, error.retry_after) == ("rate_limit", 429, seconds)


def test_fm18_529_overloaded() -> None:
    error = CODEC.decode_error(529, envelope("overloaded_error", "Overloaded"), {})
    assert (error.kind, error.status, error.message) == ("overloaded", 529, "Overloaded")


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (529, b"", "overloaded", "upstream returned HTTP 529"),
        (
            502,
            b"<html>\r\n<head><title>502 Bad Gateway</title></head>\n</html>",
            "api_error",
            "upstream returned HTTP 502: <html> <head><title>502 Bad Gateway</title></head> </html>",  # noqa: E501
        ),
        (
            503,
            b'{"error": {"message": "no healthy upstream"}}',
            "unavailable",
            "no healthy upstream",
        ),
        (404, b'{"message": "route not found"}', "not_found", "route not found"),
        (500, b'{"detail": "boom"}', "api_error", "boom"),
        (
            500,
            b"\xff\xfe not utf-8",
            "api_error",
            "upstream returned HTTP 500: \ufffd\ufffd not utf-8",
        ),
    ],
)
def test_fm18_bodies_that_are_not_anthropic_envelopes(
    status: int, body: bytes, kind: str, message: str
) -> None:
    error = CODEC.decode_error(status, body, {})
    assert (error.kind, error.status, error.message) == (kind, status, message)


def test_fm18_long_non_json_bodies_are_cut_to_a_short_excerpt() -> None:
    error = CODEC.decode_error(502, b"<html>" + b"x" * 5000, {})
    prefix = "upstream returned HTTP 502: "
    assert error.message.startswith(prefix) and error.message.endswith("...")
    assert len(error.message) == len(prefix) + 200 + 3


# -------------------------------------------------------------- usage sniffing


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            message([], usage={**USAGE, "cache_read_input_tokens": 7}),
            Usage(input_tokens=12, output_tokens=6, cache_read_tokens=7),
        ),
        (
            {
                "type": "message_start",
                "message": message(
                    [],
                    usage={"input_tokens": 9, "output_tokens": 1, "cache_creation_input_tokens": 4},
                ),
            },
            Usage(input_tokens=9, cache_write_tokens=4),
        ),
        (
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 33, "output_tokens_details": {"thinking_tokens": 3}},
            },
            Usage(output_tokens=33, reasoning_tokens=3),
        ),
        ({"type": "ping"}, None),
        ({"type": "content_block_delta", "index": 0, "delta": {}}, None),
        ({"type": "message_start"}, None),
        ({"type": "message_delta", "delta": {}}, None),
    ],
)
def test_usage_from_payloads(payload: dict[str, Any], expected: Usage | None) -> None:
    assert CODEC.usage_from(payload) == expected


def test_the_codec_names_its_dialect() -> None:
    assert CODEC.dialect == "anthropic_messages"
