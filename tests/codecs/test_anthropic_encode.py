"""Anthropic upstream codec, request side: canonical Request -> exact Messages body.

Requests are built the way they really arrive: client bodies parsed by the
fronts (OpenAI Chat, Responses, Anthropic) or canonical values by hand. Every
encoded body is also validated against the official SDK's request types.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from typing import Any

import pydantic
import pytest
from anthropic.types.message_create_params import MessageCreateParamsBase

from tokligence.canonical import (
    DocumentPart,
    HostedTool,
    ImagePart,
    Message,
    Part,
    ReasoningConfig,
    ReasoningPart,
    RedactedReasoningPart,
    Request,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from tokligence.codecs.anthropic import AnthropicCodec
from tokligence.codecs.anthropic_messages import FIRST_TURN, MISSING_RESULT, NO_CONTENT
from tokligence.codecs.base import EncodeOptions
from tokligence.errors import ClientError
from tokligence.fronts.anthropic_messages_parse import parse_messages as parse_anthropic
from tokligence.fronts.openai_chat_parse import parse_request as parse_chat
from tokligence.fronts.openai_responses_parse import parse_request as parse_responses

CODEC = AnthropicCodec()
OPTIONS = EncodeOptions(model="claude-sonnet-4-5", stream=False, max_output_tokens=64_000)
SDK_PARAMS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(MessageCreateParamsBase)
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n0000").decode()


def _force(value: Any) -> Any:
    # pydantic validates Iterable fields lazily; walking them validates them.
    if isinstance(value, dict):
        return {k: _force(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ValidatorIterator":
        return [_force(v) for v in value]
    return value


def encode(request: Request, **options: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    encoded = CODEC.encode(request, replace(OPTIONS, **options))
    assert encoded.path == "/v1/messages"
    body = json.loads(encoded.body)
    _force(SDK_PARAMS.validate_python(body))
    for message in body["messages"]:
        for block in message["content"]:
            if block["type"] == "tool_use":
                assert TOOL_ID.match(block["id"])
            if block["type"] == "tool_result":
                assert TOOL_ID.match(block["tool_use_id"])
            if block["type"] == "text":
                assert block["text"].strip(), "empty text blocks are a 400"
    return body, encoded.notes


def chat(messages: list[dict[str, Any]], **fields: Any) -> Request:
    return parse_chat(json.dumps({"model": "gpt-x", "messages": messages, **fields}).encode())


def responses(items: list[dict[str, Any]] | str, **fields: Any) -> Request:
    return parse_responses(json.dumps({"model": "gpt-x", "input": items, **fields}).encode())


def anthropic(body: dict[str, Any]) -> Request:
    return parse_anthropic(json.dumps(body).encode())


def canonical(*messages: Message, dialect: Any = "openai_chat", **fields: Any) -> Request:
    return Request(model="x", dialect=dialect, messages=messages, **fields)


def msg(role: Any, *parts: Part) -> Message:
    return Message(role=role, parts=parts)


def text(value: str) -> TextPart:
    return TextPart(text=value)


def call(call_id: str, name: str = "f", arguments: str = "{}", **kw: Any) -> ToolCallPart:
    return ToolCallPart(id=call_id, name=name, arguments=arguments, **kw)


def result(call_id: str, *content: Any, **kw: Any) -> ToolResultPart:
    return ToolResultPart(call_id=call_id, content=content or (text("ok"),), **kw)


def user_text(value: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": value}]}


HELLO = [{"role": "user", "content": "hello"}]


# ------------------------------------------------------------- whole bodies


def test_chat_request_exact_body() -> None:
    request = chat(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "calc", "arguments": '{"expr":"2+2"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "4"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "calc",
                    "description": "Evaluate",
                    "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}},
                },
            }
        ],
        max_tokens=300,
        stream=True,
    )
    body, notes = encode(request, stream=True)
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            user_text("What is 2+2?"),
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_1", "name": "calc", "input": {"expr": "2+2"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_1",
                        "content": [{"type": "text", "text": "4"}],
                    }
                ],
            },
        ],
        "tools": [
            {
                "name": "calc",
                "description": "Evaluate",
                "input_schema": {"type": "object", "properties": {"expr": {"type": "string"}}},
            }
        ],
        "stream": True,
    }
    assert notes == ()


def test_responses_request_exact_body() -> None:
    request = responses(
        [
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "input_text", "text": "list files"}]},
            {"type": "function_call", "call_id": "call_a", "name": "ls", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "a.txt"},
        ],
        instructions="You are Codex.",
        max_output_tokens=1000,
        prompt_cache_key="k",
        store=False,
        include=["reasoning.encrypted_content"],
    )
    body, notes = encode(request)
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1000,
        "system": [
            {"type": "text", "text": "You are Codex."},
            {"type": "text", "text": "Use tools."},
        ],
        "messages": [
            user_text("list files"),
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "call_a", "name": "ls", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_a",
                        "content": [{"type": "text", "text": "a.txt"}],
                    }
                ],
            },
        ],
        "stream": False,
    }
    assert notes == ("not forwarded to anthropic: include, prompt_cache_key",)


# Anthropic client bodies must come back exactly as sent (passthrough-like
# fidelity): cache_control, citations, betas' fields, opaque blocks, thinking.
ROUND_TRIPS: dict[str, dict[str, Any]] = {
    "text": {"messages": [user_text("hi")]},
    "claude_code_like": {
        "system": [
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "ctx", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "fix it", "cache_control": {"type": "ephemeral"}}
                ],
            }
        ],
        "tools": [
            {
                "name": "Bash",
                "description": "Run",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
                "cache_control": {"type": "ephemeral"},
            },
            {
                "name": "Later",
                "input_schema": {"type": "object", "properties": {}},
                "defer_loading": True,
            },
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "metadata": {"user_id": '{"session_id":"abc"}'},
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "container": "container_1",
        "service_tier": "auto",
        "output_config": {"effort": "high"},
        "temperature": 1.0,
        "stop_sequences": ["</done>"],
    },
    "thinking_history": {
        "messages": [
            user_text("weather?"),
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Let me \u2028 check.", "signature": "Eq+/=="},
                    {"type": "thinking", "thinking": "", "signature": "sigonly"},
                    {"type": "redacted_thinking", "data": "opaque=="},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_01", "name": "w", "input": {"q": 'x"y'}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01",
                        "content": [
                            {"type": "text", "text": "sunny"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": PNG,
                                },
                            },
                        ],
                    },
                    {"type": "text", "text": "and tomorrow?"},
                ],
            },
        ],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    },
    "server_tools_and_documents": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "doc"},
                        "title": "T",
                        "citations": {"enabled": True},
                    },
                    {
                        "type": "document",
                        "source": {"type": "url", "url": "https://x/a.pdf"},
                    },
                    {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
                    {"type": "text", "text": "search"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"query": "q"},
                    },
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": [],
                    },
                    {"type": "text", "text": "found"},
                ],
            },
            {"role": "system", "content": [{"type": "text", "text": "mid-conversation"}]},
            user_text("thanks"),
        ],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "mcp_servers": [{"type": "url", "url": "https://mcp", "name": "m"}],
    },
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_fm13_anthropic_client_body_round_trips_verbatim(name: str) -> None:
    sent = {"model": "claude-sonnet-4-5", "max_tokens": 4096, **ROUND_TRIPS[name], "stream": True}
    body, notes = encode(anthropic(sent), stream=True)
    assert body == sent
    assert list(body) == [k for k in body if k in sent]  # nothing added
    assert notes == ()


# ------------------------------------------------------------ parameter map


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"stop": ["END", "###"]}, {"stop_sequences": ["END", "###"]}),
        ({"stop": "END"}, {"stop_sequences": ["END"]}),
        ({"temperature": 0.3, "top_p": 0.9}, {"temperature": 0.3, "top_p": 0.9}),
        ({"user": "u-1"}, {"metadata": {"user_id": "u-1"}}),
        ({"metadata": {"user_id": "m-1", "team": "x"}}, {"metadata": {"user_id": "m-1"}}),
        ({"metadata": {"team": "x"}}, {}),
        ({"seed": 7}, {}),
        ({"logprobs": False, "frequency_penalty": 0.5, "service_tier": "flex"}, {}),
        ({"reasoning_effort": "minimal"}, {}),
        ({"reasoning_effort": "none"}, {}),
    ],
)
def test_fm11_chat_parameters(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    body, _ = encode(chat(HELLO, **fields))
    known = {"model", "max_tokens", "messages", "stream"}
    assert {k: v for k, v in body.items() if k not in known} == expected
    assert "stop" not in body and "logprobs" not in body and "service_tier" not in body


@pytest.mark.parametrize("fields", [{"logprobs": True}, {"top_logprobs": 3}])
def test_logprobs_are_refused_not_answered_with_null(fields: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as refused:
        encode(chat(HELLO, **fields))
    assert refused.value.status == 400 and refused.value.param == next(iter(fields))


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, None),
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "f"}},
            False,
            {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        ),
        ("none", False, {"type": "none"}),
        (None, True, None),
    ],
)
def test_fm11_tool_choice(choice: Any, parallel: bool | None, expected: Any) -> None:
    fields: dict[str, Any] = {"tools": [{"type": "function", "function": {"name": "f"}}]}
    if choice is not None:
        fields["tool_choice"] = choice
    if parallel is not None:
        fields["parallel_tool_calls"] = parallel
    body, _ = encode(chat(HELLO, **fields))
    assert body.get("tool_choice") == expected
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


def test_fm11_tool_choice_is_omitted_without_tools() -> None:
    body, _ = encode(chat(HELLO, tool_choice="required", parallel_tool_calls=False))
    assert "tool_choice" not in body and "tools" not in body


@pytest.mark.parametrize(
    ("requested", "limit", "expected", "note"),
    [
        (None, 64_000, 8192, None),  # Anthropic requires max_tokens: the default
        (None, 4096, 4096, "max_tokens clamped to 4096"),
        (1000, 64_000, 1000, None),
        (64_000, 64_000, 64_000, None),  # exactly the limit: untouched
        (100_000, 64_000, 64_000, "max_tokens clamped to 64000"),
        (200_000, None, 200_000, None),  # unknown limit: never clamped
    ],
)
def test_fm11_max_tokens_default_and_clamp_only_at_the_real_limit(
    requested: int | None, limit: int | None, expected: int, note: str | None
) -> None:
    fields = {} if requested is None else {"max_completion_tokens": requested}
    body, notes = encode(chat(HELLO, **fields), max_output_tokens=limit)
    assert body["max_tokens"] == expected
    assert notes == (() if note is None else (note,))


def test_fm11_default_max_tokens_comes_from_options() -> None:
    body, _ = encode(chat(HELLO), default_max_tokens=2048)
    assert body["max_tokens"] == 2048


def test_fm11_temperature_is_clamped_to_anthropics_range() -> None:
    body, notes = encode(chat(HELLO, temperature=1.7))
    assert body["temperature"] == 1
    assert notes == ("temperature 1.7 clamped to 1",)


def test_fm11_whitespace_stop_sequences_are_dropped() -> None:
    body, notes = encode(chat(HELLO, stop=["\n", "  ", "END"]))
    assert body["stop_sequences"] == ["END"]
    assert notes == ("dropped whitespace-only stop sequences: Anthropic refuses them",)


def test_fm11_no_openai_or_responses_extras_are_forwarded() -> None:
    body, notes = encode(
        responses(
            "hi",
            previous_response_id="resp_1",
            truncation="auto",
            text={"verbosity": "low"},
            service_tier="priority",
            reasoning={"effort": "minimal", "summary": "auto"},
        )
    )
    assert set(body) == {"model", "max_tokens", "messages", "stream"}
    assert notes == (
        "not forwarded to anthropic: previous_response_id, service_tier, text, truncation",
    )


# ---------------------------------------------------------------- thinking


@pytest.mark.parametrize(
    ("effort", "max_tokens", "budget", "expected_max"),
    [
        ("low", None, 1024, 8192),
        ("medium", None, 4096, 8192),
        ("high", None, 16384, 16384 + 8192),  # the gateway's default makes room
        ("high", 4096, 3072, 4096),  # the client's limit stands: the budget shrinks
        ("medium", 2000, 1024, 2000),
    ],
)
def test_fm11_thinking_from_reasoning_effort(
    effort: str, max_tokens: int | None, budget: int, expected_max: int
) -> None:
    fields: dict[str, Any] = {"reasoning_effort": effort}
    if max_tokens is not None:
        fields["max_completion_tokens"] = max_tokens
    body, _ = encode(chat(HELLO, **fields))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == expected_max
    assert body["thinking"]["budget_tokens"] < body["max_tokens"]


def test_fm11_raised_max_tokens_stays_within_the_model_limit() -> None:
    body, notes = encode(chat(HELLO, reasoning_effort="high"), max_output_tokens=20_000)
    assert (body["max_tokens"], body["thinking"]["budget_tokens"]) == (20_000, 16384)
    assert notes == ("max_tokens raised to 20000 to fit the thinking budget",)


def test_fm11_no_thinking_when_max_tokens_leaves_no_room() -> None:
    body, notes = encode(chat(HELLO, reasoning_effort="low", max_tokens=1024))
    assert "thinking" not in body
    assert notes == ("thinking disabled: max_tokens 1024 leaves no room for a budget",)


def test_fm11_reasoning_effort_on_an_adaptive_model() -> None:
    body, _ = encode(chat(HELLO, reasoning_effort="high"), model="claude-opus-4-6")
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "high"}
    assert body["max_tokens"] == 8192


def test_fm11_reasoning_effort_without_thinking_support() -> None:
    body, notes = encode(chat(HELLO, reasoning_effort="high"), thinking=False)
    assert "thinking" not in body
    assert notes == ("reasoning effort 'high' dropped: the model has no extended thinking",)


def test_fm11_forced_tool_use_wins_over_translated_thinking() -> None:
    request = chat(
        HELLO,
        reasoning_effort="high",
        tool_choice="required",
        tools=[{"type": "function", "function": {"name": "f"}}],
    )
    body, notes = encode(request)
    assert "thinking" not in body and body["tool_choice"] == {"type": "any"}
    assert notes == ("thinking not enabled: Anthropic refuses it with forced tool use",)


def test_fm11_translated_thinking_drops_sampling_anthropic_refuses_with_it() -> None:
    body, notes = encode(chat(HELLO, reasoning_effort="low", temperature=0.2, top_p=0.5))
    assert body["thinking"]["type"] == "enabled"
    assert "temperature" not in body and "top_p" not in body
    assert notes == (
        "temperature dropped: Anthropic refuses it with thinking",
        "top_p dropped: Anthropic accepts only 0.95..1 with thinking",
    )


def test_fm11_unknown_effort_is_treated_as_medium() -> None:
    # The fronts refuse an effort their API does not know; the codec still
    # copes with one (a newer value in the canonical request).
    body, notes = encode(
        canonical(msg("user", text("hi")), reasoning=ReasoningConfig(effort="extreme"))
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert notes == ("unknown reasoning effort 'extreme' treated as medium",)


def test_native_budget_not_below_max_tokens_is_fixed() -> None:
    sent = {
        "model": "m",
        "max_tokens": 3000,
        "messages": [user_text("hi")],
        "thinking": {"type": "enabled", "budget_tokens": 5000},
    }
    body, notes = encode(anthropic(sent))
    assert (body["max_tokens"], body["thinking"]["budget_tokens"]) == (3000, 1976)
    assert notes == ("thinking budget reduced to 1976 to stay below max_tokens",)


# ------------------------------------------------------ reasoning fidelity


def test_fm4_anthropic_thinking_goes_back_byte_for_byte_whatever_the_client() -> None:
    signature = 'EqQBCkYIBRgCIkB+/=\u00e9\\"x'
    request = canonical(
        msg("user", text("q")),
        msg(
            "assistant",
            ReasoningPart(text="step \u2028 one", signature=signature, vendor="anthropic"),
            ReasoningPart(text="", signature="only-sig", vendor="anthropic"),
            RedactedReasoningPart(data="redacted==", vendor="anthropic"),
            text("answer"),
        ),
        msg("user", text("more")),
        dialect="openai_responses",
    )
    body, notes = encode(request)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "step \u2028 one", "signature": signature},
        {"type": "thinking", "thinking": "", "signature": "only-sig"},
        {"type": "redacted_thinking", "data": "redacted=="},
        {"type": "text", "text": "answer"},
    ]
    assert notes == ()
    raw = CODEC.encode(request, OPTIONS).body
    assert json.dumps(signature, ensure_ascii=False)[1:-1].encode() in raw


@pytest.mark.parametrize(
    "part",
    [
        ReasoningPart(text="openai thoughts", encrypted_content="gAAA", vendor="openai"),
        ReasoningPart(text="deepseek thoughts", vendor="other"),
        ReasoningPart(text="no signature", vendor="anthropic"),
        ReasoningPart(summary=("s",), vendor="openai"),
        RedactedReasoningPart(data="x", vendor="openai"),
    ],
)
def test_fm4_other_vendors_reasoning_is_dropped_never_forged(part: Part) -> None:
    request = canonical(msg("user", text("q")), msg("assistant", part, text("a")))
    body, notes = encode(request)
    assert body["messages"][1]["content"] == [{"type": "text", "text": "a"}]
    assert len(notes) == 1 and "dropped" in notes[0]
    assert "signature" not in json.dumps(body)


def test_fm4_reasoning_content_from_a_chat_client_is_not_sent_as_thinking() -> None:
    request = chat(
        [*HELLO, {"role": "assistant", "content": "hi", "reasoning_content": "hmm"}, *HELLO]
    )
    body, _ = encode(request)
    assert body["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "hi"}]}


def test_fm4_unsigned_thinking_from_an_anthropic_client_is_dropped() -> None:
    # The Anthropic front parses an empty signature as another vendor's block.
    sent = {
        "model": "m",
        "max_tokens": 100,
        "messages": [
            user_text("q"),
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "from gpt", "signature": ""},
                    {"type": "text", "text": "a"},
                ],
            },
        ],
    }
    body, _ = encode(anthropic(sent))
    assert body["messages"][1]["content"] == [{"type": "text", "text": "a"}]


def _tool_loop(first: Part | None) -> Request:
    assistant_parts: tuple[Part, ...] = (call("toolu_1"),)
    if first is not None:
        assistant_parts = (first, *assistant_parts)
    return canonical(
        msg("user", text("q")),
        msg("assistant", *assistant_parts),
        msg("tool", result("toolu_1")),
        dialect="anthropic_messages",
        reasoning=ReasoningConfig(mode="enabled", budget_tokens=2048),
    )


def test_fm4_thinking_is_disabled_when_the_continued_tool_turn_has_no_thinking() -> None:
    body, notes = encode(_tool_loop(None))
    assert "thinking" not in body
    assert notes == ("thinking disabled: the tool-use turn being continued has no thinking block",)


@pytest.mark.parametrize(
    "first",
    [
        ReasoningPart(text="t", signature="s", vendor="anthropic"),
        ReasoningPart(text="", signature="s", vendor="anthropic"),
        RedactedReasoningPart(data="d"),
    ],
)
def test_fm4_thinking_stays_when_the_continued_tool_turn_starts_with_thinking(
    first: Part,
) -> None:
    body, notes = encode(_tool_loop(first))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert notes == ()


# ------------------------------------------------- content normalisation


def test_fm15_empty_text_is_never_sent() -> None:
    request = chat(
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": ""}, {"type": "text", "text": "q"}],
            },
            {
                "role": "assistant",
                "content": "   ",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": ""},
            {"role": "user", "content": "\n"},
        ]
    )
    body, _ = encode(request)
    assert body["messages"] == [
        user_text("q"),
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "c1", "name": "f", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1"}]},
    ]


def test_fm15_a_turn_left_empty_disappears_and_neighbours_merge() -> None:
    request = chat(
        [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "b"},
        ]
    )
    body, _ = encode(request)
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


def test_fm15_tool_ids_are_sanitised_the_same_way_on_both_sides() -> None:
    request = canonical(
        msg("user", text("q")),
        msg("assistant", call("functions.read:0"), call("call/\u00e9")),
        msg("tool", result("call/\u00e9"), result("functions.read:0")),
    )
    body, notes = encode(request)
    uses = [b["id"] for b in body["messages"][1]["content"]]
    results = [b["tool_use_id"] for b in body["messages"][2]["content"]]
    assert uses == ["functions_read_0", "call__"]
    assert results == ["call__", "functions_read_0"]
    assert notes == ("sanitised a tool call id to [a-zA-Z0-9_-] (x2)",)


def test_fm15_ids_that_collide_after_sanitising_stay_distinct() -> None:
    request = canonical(
        msg("user", text("q")),
        msg("assistant", call("a.b"), call("a_b")),
        msg("tool", result("a_b", text("second")), result("a.b", text("first"))),
    )
    body, _ = encode(request)
    first, second = (b["id"] for b in body["messages"][1]["content"])
    assert first == "a_b" and second.startswith("a_b_") and len(second) == len("a_b_") + 8
    by_id = {b["tool_use_id"]: b["content"][0]["text"] for b in body["messages"][2]["content"]}
    assert by_id == {first: "first", second: "second"}


def test_fm15_duplicate_ids_across_turns_are_renamed_and_results_follow() -> None:
    request = canonical(
        msg("user", text("q")),
        msg("assistant", call("dup", "a")),
        msg("tool", result("dup", text("ra"))),
        msg("assistant", call("dup", "b")),
        msg("tool", result("dup", text("rb"))),
    )
    body, notes = encode(request)
    ids = [body["messages"][i]["content"][0]["id"] for i in (1, 3)]
    answers = [body["messages"][i]["content"][0]["tool_use_id"] for i in (2, 4)]
    assert ids == answers and len(set(ids)) == 2
    assert notes == ("renamed a tool call id used more than once",)


def test_fm15_duplicate_ids_in_one_turn_pair_in_order() -> None:
    request = canonical(
        msg("user", text("q")),
        msg("assistant", call("x", "a"), call("x", "b")),
        msg("tool", result("x", text("ra")), result("x", text("rb"))),
    )
    body, _ = encode(request)
    uses = body["messages"][1]["content"]
    results = body["messages"][2]["content"]
    assert [r["tool_use_id"] for r in results] == [u["id"] for u in uses]
    assert [r["content"][0]["text"] for r in results] == ["ra", "rb"]


def test_fm15_every_tool_use_gets_exactly_one_result() -> None:
    request = canonical(
        msg("user", text("q")),
        msg("assistant", call("t1"), call("t2"), call("t3")),
        msg("tool", result("t1", text("one")), result("t1", text("again")), result("zz")),
        msg("user", text("next")),
        msg("tool", result("t3", text("three"))),
        msg("assistant", text("done")),
    )
    body, notes = encode(request)
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": [{"type": "text", "text": "one"}],
            },
            {
                "type": "tool_result",
                "tool_use_id": "t3",
                "content": [{"type": "text", "text": "three"}],
            },
            {
                "type": "tool_result",
                "tool_use_id": "t2",
                "content": MISSING_RESULT,
                "is_error": True,
            },
            {"type": "text", "text": "next"},
        ],
    }
    assert body["messages"][3] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "done"}],
    }
    assert notes == (
        "dropped a second result for the same tool call",
        "dropped a tool result with no matching tool call",
        "added an error result for a tool call that had none",
    )


def test_fm15_calls_left_unanswered_at_the_end_get_results() -> None:
    request = canonical(msg("user", text("q")), msg("assistant", call("t1")))
    body, _ = encode(request)
    assert body["messages"][-1] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": MISSING_RESULT,
                "is_error": True,
            }
        ],
    }


def test_fm15_orphan_results_at_the_start_are_dropped() -> None:
    request = canonical(msg("tool", result("gone")), msg("user", text("hi")))
    body, notes = encode(request)
    assert body["messages"] == [user_text("hi")]
    assert notes == ("dropped a tool result with no matching tool call",)


@pytest.mark.parametrize(
    ("arguments", "kind", "expected", "noted"),
    [
        ('{"a": [1, "\\u00e9"]}', "function", {"a": [1, "\u00e9"]}, False),
        ("", "function", {}, False),
        ("  ", "function", {}, False),
        ('{"a": 1', "function", {"_raw": '{"a": 1'}, True),
        ("[1, 2]", "function", {"_raw": "[1, 2]"}, True),
        ("*** Begin Patch\n", "custom", {"input": "*** Begin Patch\n"}, False),
    ],
)
def test_tool_arguments_become_an_input_object(
    arguments: str, kind: Any, expected: dict[str, Any], noted: bool
) -> None:
    request = canonical(
        msg("user", text("q")),
        msg("assistant", call("c", arguments=arguments, kind=kind)),
        msg("tool", result("c")),
    )
    body, notes = encode(request)
    assert body["messages"][1]["content"][0]["input"] == expected
    assert bool(notes) is noted


# ------------------------------------------------------------ images, files


def test_fm14_images_inside_tool_results_are_kept_as_image_blocks() -> None:
    request = responses(
        [
            {"role": "user", "content": "screenshot please"},
            {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c1",
                "output": [
                    {"type": "input_text", "text": "here"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                    {"type": "input_image", "image_url": "https://x/y.jpg"},
                ],
            },
        ]
    )
    body, _ = encode(request)
    assert body["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "c1",
            "content": [
                {"type": "text", "text": "here"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
                {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PNG, "image/png"),
        ("/9j/4AAQ", "image/jpeg"),
        ("R0lGODlh", "image/gif"),
        ("UklGRiQA", "image/webp"),
    ],
)
def test_images_without_a_media_type_get_one_from_their_bytes(data: str, media_type: str) -> None:
    request = canonical(msg("user", ImagePart(data=data), text("what is it?")))
    body, _ = encode(request)
    assert body["messages"][0]["content"][0]["source"]["media_type"] == media_type


def test_chat_image_and_file_parts() -> None:
    pdf = base64.b64encode(b"%PDF-1.4").decode()
    plain = base64.b64encode("caf\u00e9".encode()).decode()
    request = chat(
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x/i.png", "detail": "high"},
                    },
                    {
                        "type": "file",
                        "file": {
                            "file_data": f"data:application/pdf;base64,{pdf}",
                            "filename": "a.pdf",
                        },
                    },
                    {"type": "file", "file": {"file_data": f"data:text/plain;base64,{plain}"}},
                    {"type": "file", "file": {"file_id": "file-abc", "filename": "b.pdf"}},
                    {"type": "file", "file": {"file_data": "data:application/zip;base64,UEsD"}},
                ],
            }
        ]
    )
    body, notes = encode(request)
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
            "title": "a.pdf",
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "caf\u00e9"},
        },
        {
            "type": "text",
            "text": "[attachment 'b.pdf' not forwarded: it is stored with another provider]",
        },
        {
            "type": "text",
            "text": "[attachment 'document' not forwarded: "
            "application/zip files are not supported by this model]",
        },
    ]
    assert len(notes) == 2


def test_document_parts_from_canonical() -> None:
    request = canonical(
        msg(
            "user",
            DocumentPart(source_type="url", data="https://x/d.pdf", title="D"),
            DocumentPart(source_type="text", data="plain", media_type="text/plain"),
            text("read"),
        )
    )
    body, _ = encode(request)
    assert body["messages"][0]["content"][:2] == [
        {"type": "document", "source": {"type": "url", "url": "https://x/d.pdf"}, "title": "D"},
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "plain"},
        },
    ]


def test_cache_control_survives_from_any_dialect_other_extras_do_not() -> None:
    cache = {"type": "ephemeral"}
    request = canonical(
        msg(
            "user",
            TextPart(text="a", extra={"cache_control": cache, "annotations": []}),
            ImagePart(url="https://i", detail="low", extra={"cache_control": cache, "x": 1}),
        )
    )
    body, _ = encode(request)
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "a", "cache_control": cache},
        {"type": "image", "source": {"type": "url", "url": "https://i"}, "cache_control": cache},
    ]


# ------------------------------------------------------------ custom tools


def test_fm9_custom_tools_are_downgraded_to_one_string_parameter() -> None:
    grammar = 'start: "*** Begin Patch" LF'
    request = responses(
        [
            {"role": "user", "content": "patch it"},
            {
                "type": "custom_tool_call",
                "call_id": "call_p",
                "name": "apply_patch",
                "input": "*** Begin Patch\n",
            },
            {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Done!"},
        ],
        tools=[
            {
                "type": "custom",
                "name": "apply_patch",
                "description": "Apply a patch.",
                "format": {"type": "grammar", "syntax": "lark", "definition": grammar},
            },
            {"type": "function", "name": "shell", "parameters": {"type": "object"}},
        ],
    )
    encoded = CODEC.encode(request, OPTIONS)
    body = json.loads(encoded.body)
    assert encoded.custom_tools == frozenset({"apply_patch"})
    patch_tool = body["tools"][0]
    assert patch_tool["name"] == "apply_patch"
    assert patch_tool["input_schema"] == {
        "type": "object",
        "properties": {"input": {"type": "string", "description": "The raw tool input."}},
        "required": ["input"],
    }
    assert patch_tool["description"].startswith("Apply a patch.")
    assert "freeform" in patch_tool["description"] and grammar in patch_tool["description"]
    assert body["tools"][1] == {"name": "shell", "input_schema": {"type": "object"}}
    assert body["messages"][1]["content"] == [
        {
            "type": "tool_use",
            "id": "call_p",
            "name": "apply_patch",
            "input": {"input": "*** Begin Patch\n"},
        }
    ]
    assert body["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "call_p",
            "content": [{"type": "text", "text": "Done!"}],
        }
    ]


def test_hosted_tools_from_another_dialect_are_dropped_own_ones_kept() -> None:
    request = canonical(
        msg("user", text("q")),
        tools=(
            HostedTool(type="web_search", spec={"type": "web_search"}, dialect="openai_responses"),
            HostedTool(
                type="bash_20250124",
                spec={"type": "bash_20250124", "name": "bash"},
                dialect="anthropic_messages",
            ),
        ),
    )
    body, notes = encode(request)
    assert body["tools"] == [{"type": "bash_20250124", "name": "bash"}]
    assert notes == ("dropped hosted tool web_search: anthropic upstream cannot run it",)


def test_strict_tools_from_openai_clients_are_not_forwarded() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "f", "strict": True, "parameters": {"type": "object"}},
        }
    ]
    body, notes = encode(chat(HELLO, tools=tools))
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    assert notes == ("strict tool schemas are not forwarded to anthropic",)


# ------------------------------------------------------- system, placeholders


def test_system_and_developer_messages_from_openai_clients() -> None:
    request = chat(
        [
            {"role": "system", "content": "one"},
            {"role": "developer", "content": [{"type": "text", "text": "two"}]},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
            {"role": "developer", "content": "be terse now"},
            {"role": "user", "content": "q2"},
        ]
    )
    body, notes = encode(request)
    assert body["system"] == [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "[system] be terse now"},
            {"type": "text", "text": "q2"},
        ],
    }
    assert notes == ("folded a system message inside the conversation into a user turn",)


def test_native_system_message_between_a_tool_call_and_its_result_waits() -> None:
    sent = {
        "model": "m",
        "max_tokens": 100,
        "messages": [
            user_text("q"),
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
            },
            {"role": "system", "content": "note"},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t", "content": "r"}],
            },
        ],
    }
    body, _ = encode(anthropic(sent))
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "system"]


def test_a_conversation_opening_with_the_assistant_gets_a_first_user_turn() -> None:
    request = chat(
        [{"role": "system", "content": "s"}, {"role": "assistant", "content": "Hi!"}, *HELLO]
    )
    body, notes = encode(request)
    assert body["messages"][0] == user_text(FIRST_TURN)
    assert body["messages"][1]["role"] == "assistant"
    assert notes == ("opened the conversation with a placeholder user turn",)


def test_nothing_sendable_left_gets_a_placeholder_turn() -> None:
    body, notes = encode(chat([{"role": "user", "content": " "}]))
    assert body["messages"] == [user_text(NO_CONTENT)]
    assert notes == ("sent a placeholder user turn: nothing sendable was left",)


def test_a_final_assistant_prefill_loses_trailing_whitespace() -> None:
    request = chat([*HELLO, {"role": "assistant", "content": "The answer is "}])
    body, _ = encode(request)
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The answer is"}],
    }


# ------------------------------------------------------------ output format


def test_json_schema_response_format_becomes_output_config_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    request = chat(
        HELLO,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    )
    body, _ = encode(request)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_json_object_response_format_becomes_an_instruction() -> None:
    body, notes = encode(chat(HELLO, response_format={"type": "json_object"}))
    assert body["system"] == [
        {"type": "text", "text": "Respond with a single valid JSON object and nothing else."}
    ]
    assert notes == ("JSON output requested by a system instruction",)


def test_line_separators_survive_encoding() -> None:
    body, _ = encode(chat([{"role": "user", "content": "a\u2028b\u2029c"}]))
    assert body["messages"][0]["content"][0]["text"] == "a\u2028b\u2029c"
