"""Anthropic Messages non-stream bodies, error envelopes and count_tokens,
each checked against the official SDK's models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message as SdkMessage
from anthropic.types import MessageTokensCount
from anthropic.types.shared import ErrorResponse

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
from tokligence.errors import ErrorKind, GatewayError
from tokligence.fronts.anthropic_messages import AnthropicMessagesFront

FRONT = AnthropicMessagesFront()
REQUEST = Request(model="claude-x", dialect="anthropic_messages", messages=())


def response(*content: ContentPart, stop: StopReason = "end_turn", **fields: Any) -> Response:
    fields.setdefault("usage", Usage(input_tokens=10, output_tokens=5))
    return Response(
        id="01Abc", model="claude-x", created=0, content=content, stop_reason=stop, **fields
    )


def render(resp: Response) -> dict[str, Any]:
    body = FRONT.render_response(resp, REQUEST)
    SdkMessage.model_validate_json(body)  # the SDK must accept every body we send
    result: dict[str, Any] = json.loads(body)
    return result


def test_full_body() -> None:
    body = render(
        response(
            ReasoningPart(text="plan", signature="c2ln", vendor="anthropic"),
            TextPart(text="Calling."),
            ToolCallPart(id="toolu_01", name="Read", arguments='{"path": "a \\"b\\".py"}'),
            stop="tool_use",
            usage=Usage(
                input_tokens=3,
                output_tokens=40,
                cache_read_tokens=900,
                cache_write_tokens=100,
                reasoning_tokens=12,
            ),
        )
    )
    assert body == {
        "id": "msg_01Abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "plan", "signature": "c2ln"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"path": 'a "b".py'}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 3,
            "output_tokens": 40,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 900,
            "output_tokens_details": {"thinking_tokens": 12},
        },
    }


def test_stop_sequence_key_always_present_and_null() -> None:
    body = render(response(TextPart(text="hi")))
    assert "stop_sequence" in body and body["stop_sequence"] is None


def test_id_prefix_not_doubled() -> None:
    resp = Response(id="msg_x", model="m", created=0, content=(), stop_reason="end_turn")
    assert render(resp)["id"] == "msg_x"


# (id, content, canonical stop, stop_sequence, expected stop_reason, expected stop_sequence)
CALL = ToolCallPart(id="toolu_1", name="f", arguments="{}")
STOPS: list[tuple[str, tuple[ContentPart, ...], StopReason, str | None, str, str | None]] = [
    ("end_turn", (), "end_turn", None, "end_turn", None),
    ("max_tokens", (), "max_tokens", None, "max_tokens", None),
    ("stop_sequence", (), "stop_sequence", "###", "stop_sequence", "###"),
    ("empty stop_sequence is null", (), "stop_sequence", "", "stop_sequence", None),
    ("content_filter is refusal", (), "content_filter", None, "refusal", None),
    ("refusal", (), "refusal", None, "refusal", None),
    ("pause_turn", (), "pause_turn", None, "pause_turn", None),
    ("window", (), "context_window_exceeded", None, "model_context_window_exceeded", None),
    ("tool_use", (CALL,), "tool_use", None, "tool_use", None),
    ("upstream says stop with a tool", (CALL,), "end_turn", None, "tool_use", None),
    ("stop_sequence with a tool", (CALL,), "stop_sequence", "x", "tool_use", None),
    ("tool_use without a tool", (), "tool_use", None, "end_turn", None),
    ("truncated tool call stays max_tokens", (CALL,), "max_tokens", None, "max_tokens", None),
]


@pytest.mark.parametrize(
    ("content", "stop", "sequence", "reason", "expected_sequence"),
    [s[1:] for s in STOPS],
    ids=[s[0] for s in STOPS],
)
def test_stop_reasons(
    content: tuple[ContentPart, ...],
    stop: StopReason,
    sequence: str | None,
    reason: str,
    expected_sequence: str | None,
) -> None:
    body = render(response(*content, stop=stop, stop_sequence=sequence))
    assert (body["stop_reason"], body["stop_sequence"]) == (reason, expected_sequence)


# (id, part, expected block or None when nothing is rendered)
BLOCKS: list[tuple[str, ContentPart, dict[str, Any] | None]] = [
    ("empty text dropped", TextPart(text=""), None),
    (
        "citations kept, foreign extras not",
        TextPart(text="t", extra={"citations": [], "annotations": [1]}),
        {"type": "text", "text": "t", "citations": []},
    ),
    (
        "signature-only thinking kept",
        ReasoningPart(signature="sig", vendor="anthropic"),
        {"type": "thinking", "thinking": "", "signature": "sig"},
    ),
    (
        "foreign reasoning never gets a signature",
        ReasoningPart(text="r", signature="not-claude", encrypted_content="e", vendor="openai"),
        {"type": "thinking", "thinking": "r", "signature": ""},
    ),
    (
        "foreign summary shown as thinking",
        ReasoningPart(summary=("a", "b"), vendor="openai"),
        {"type": "thinking", "thinking": "a\n\nb", "signature": ""},
    ),
    (
        "foreign opaque blob alone renders nothing",
        ReasoningPart(encrypted_content="e", vendor="openai"),
        None,
    ),
    (
        "redacted thinking",
        RedactedReasoningPart(data="opaque"),
        {"type": "redacted_thinking", "data": "opaque"},
    ),
    (
        "bad tool id characters replaced",
        ToolCallPart(id="call:1.a/b", name="f", arguments="{}"),
        {"type": "tool_use", "id": "call_1_a_b", "name": "f", "input": {}},
    ),
    (
        "empty tool id derived",
        ToolCallPart(id="", name="f", arguments=""),
        {"type": "tool_use", "id": "toolu_01Abc_0", "name": "f", "input": {}},
    ),
    (
        "invalid JSON arguments kept raw",
        ToolCallPart(id="t", name="f", arguments='{"a": 1'),
        {"type": "tool_use", "id": "t", "name": "f", "input": {"_raw": '{"a": 1'}},
    ),
    (
        "non-object arguments kept raw",
        ToolCallPart(id="t", name="f", arguments="[1, 2]"),
        {"type": "tool_use", "id": "t", "name": "f", "input": {"_raw": "[1, 2]"}},
    ),
    (
        "custom tool call wrapped",
        ToolCallPart(id="t", name="apply_patch", arguments="*** Begin Patch", kind="custom"),
        {
            "type": "tool_use",
            "id": "t",
            "name": "apply_patch",
            "input": {"input": "*** Begin Patch"},
        },
    ),
]


@pytest.mark.parametrize(("part", "expected"), [b[1:] for b in BLOCKS], ids=[b[0] for b in BLOCKS])
def test_blocks(part: ContentPart, expected: dict[str, Any] | None) -> None:
    content = render(response(part, stop="max_tokens"))["content"]
    assert content == ([] if expected is None else [expected])


# (kind, HTTP status the error carries, Anthropic error type)
ERRORS: list[tuple[ErrorKind, int, str]] = [
    ("invalid_request", 400, "invalid_request_error"),
    ("authentication", 401, "authentication_error"),
    ("permission", 403, "permission_error"),
    ("not_found", 404, "not_found_error"),
    ("method_not_allowed", 405, "invalid_request_error"),
    ("request_too_large", 413, "request_too_large"),
    ("rate_limit", 429, "rate_limit_error"),
    ("api_error", 500, "api_error"),
    ("overloaded", 529, "overloaded_error"),
    ("timeout", 504, "timeout_error"),
    ("unavailable", 503, "api_error"),
]


@pytest.mark.parametrize(("kind", "status", "error_type"), ERRORS)
def test_errors(kind: ErrorKind, status: int, error_type: str) -> None:
    error = GatewayError(kind, "something went wrong")
    body = json.loads(FRONT.render_error(error))
    assert body == {
        "type": "error",
        "error": {"type": error_type, "message": "something went wrong"},
    }
    assert error.status == status
    # request_too_large is in Anthropic's documented list but not in the SDK's
    # error-object union (the SDK only maps it by HTTP status).
    if error_type != "request_too_large":
        parsed = ErrorResponse.model_validate(body)
        assert parsed.error.type == error_type


def test_count_tokens() -> None:
    body = FRONT.render_count_tokens(1234)
    assert json.loads(body) == {"input_tokens": 1234}
    assert MessageTokensCount.model_validate_json(body).input_tokens == 1234


def test_dialect() -> None:
    assert FRONT.dialect == "anthropic_messages"
