"""Anthropic Messages request parsing: valid bodies -> canonical fields,
invalid bodies -> 400 naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tokligence.canonical import (
    DocumentPart,
    FunctionTool,
    HostedTool,
    ImagePart,
    Message,
    ReasoningConfig,
    ReasoningPart,
    RedactedReasoningPart,
    Request,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from tokligence.errors import GatewayError
from tokligence.fronts.anthropic_messages import AnthropicMessagesFront

FRONT = AnthropicMessagesFront()
BASE: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "hi"}],
}
EPHEMERAL = {"type": "ephemeral"}
TEXT_HI = {"type": "text", "text": "hi"}
BLOCK0 = "messages[0].content[0]"
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def parse(fields: dict[str, Any]) -> Request:
    return FRONT.parse_request(json.dumps({**BASE, **fields}).encode())


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(blocks)}]}


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": list(blocks)},
        ]
    }


GO = Message(role="user", parts=(TextPart(text="go"),))

# (id, request fields over BASE, Request attribute, expected value)
VALID: list[tuple[str, dict[str, Any], str, Any]] = [
    ("dialect", {}, "dialect", "anthropic_messages"),
    ("string content", {}, "messages", (Message(role="user", parts=(TextPart(text="hi"),)),)),
    ("max_tokens", {}, "max_tokens", 1024),
    ("system string", {"system": "Be brief."}, "system", (TextPart(text="Be brief."),)),
    ("empty system string is no system", {"system": ""}, "system", ()),
    (
        "system blocks keep cache_control",
        {
            "system": [
                {"type": "text", "text": "A"},
                {"type": "text", "text": "B", "cache_control": EPHEMERAL},
            ]
        },
        "system",
        (TextPart(text="A"), TextPart(text="B", extra={"cache_control": EPHEMERAL})),
    ),
    (
        "system role inside messages",
        {
            "messages": [
                {"role": "system", "content": "late rule"},
                {"role": "user", "content": "x"},
            ]
        },
        "messages",
        (
            Message(role="system", parts=(TextPart(text="late rule"),)),
            Message(role="user", parts=(TextPart(text="x"),)),
        ),
    ),
    (
        "text block extras and empty text kept",
        user({"type": "text", "text": "", "citations": [{"k": 1}]}, {"type": "text", "text": "b"}),
        "messages",
        (
            Message(
                role="user",
                parts=(TextPart(text="", extra={"citations": [{"k": 1}]}), TextPart(text="b")),
            ),
        ),
    ),
    (
        "image base64, url and file",
        user(
            {"type": "image", "source": PNG, "cache_control": EPHEMERAL},
            {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
            {"type": "image", "source": {"type": "file", "file_id": "file_01"}},
        ),
        "messages",
        (
            Message(
                role="user",
                parts=(
                    ImagePart(
                        data=PNG["data"], media_type="image/png", extra={"cache_control": EPHEMERAL}
                    ),
                    ImagePart(url="https://x/a.png"),
                    DocumentPart(source_type="file", data="file_01", extra={"type": "image"}),
                ),
            ),
        ),
    ),
    (
        "documents of every source",
        user(
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
                "title": "Spec",
                "context": "ctx",
                "citations": {"enabled": True},
            },
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "plain"},
            },
            {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}},
            {"type": "document", "source": {"type": "file", "file_id": "file_02"}},
            {
                "type": "document",
                "source": {"type": "content", "content": [{"type": "text", "text": "c1"}]},
            },
        ),
        "messages",
        (
            Message(
                role="user",
                parts=(
                    DocumentPart(
                        source_type="base64",
                        data="JVBERi0=",
                        media_type="application/pdf",
                        title="Spec",
                        extra={"context": "ctx", "citations": {"enabled": True}},
                    ),
                    DocumentPart(source_type="text", data="plain", media_type="text/plain"),
                    DocumentPart(source_type="url", data="https://x/a.pdf"),
                    DocumentPart(source_type="file", data="file_02"),
                    DocumentPart(
                        source_type="text",
                        data="c1",
                        media_type="text/plain",
                        extra={
                            "source": {
                                "type": "content",
                                "content": [{"type": "text", "text": "c1"}],
                            }
                        },
                    ),
                ),
            ),
        ),
    ),
    (
        "assistant thinking, redacted, tool_use with caller",
        assistant(
            {"type": "thinking", "thinking": "plan", "signature": "c2ln"},
            {"type": "thinking", "thinking": "", "signature": "b25seQ=="},
            {"type": "redacted_thinking", "data": "EmwKAhgB"},
            {"type": "text", "text": "Calling."},
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {"city": "Zürich", "q": 'say "hi"'},
                "caller": {"type": "direct"},
            },
        ),
        "messages",
        (
            GO,
            Message(
                role="assistant",
                parts=(
                    ReasoningPart(text="plan", signature="c2ln", vendor="anthropic"),
                    ReasoningPart(text="", signature="b25seQ==", vendor="anthropic"),
                    RedactedReasoningPart(data="EmwKAhgB"),
                    TextPart(text="Calling."),
                    ToolCallPart(
                        id="toolu_01",
                        name="get_weather",
                        arguments='{"city":"Zürich","q":"say \\"hi\\""}',
                        extra={"caller": {"type": "direct"}},
                    ),
                ),
            ),
        ),
    ),
    (
        "thinking without a signature is not Anthropic's",
        assistant({"type": "thinking", "thinking": "gpt thoughts", "signature": ""}),
        "messages",
        (
            GO,
            Message(role="assistant", parts=(ReasoningPart(text="gpt thoughts", vendor="other"),)),
        ),
    ),
    (
        "tool_result then text splits into tool + user",
        user(
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_02", "content": "", "is_error": True},
            {"type": "text", "text": "thanks"},
        ),
        "messages",
        (
            Message(
                role="tool",
                parts=(
                    ToolResultPart(call_id="toolu_01", content=(TextPart(text="18C"),)),
                    ToolResultPart(call_id="toolu_02", content=(), is_error=True),
                ),
            ),
            Message(role="user", parts=(TextPart(text="thanks"),)),
        ),
    ),
    (
        "tool_result alone gives no empty user message",
        user(
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01",
                "cache_control": EPHEMERAL,
                "content": [
                    {"type": "text", "text": "screenshot:"},
                    {"type": "image", "source": PNG},
                    {"type": "search_result", "source": "s", "title": "t", "content": []},
                ],
            }
        ),
        "messages",
        (
            Message(
                role="tool",
                parts=(
                    ToolResultPart(
                        call_id="toolu_01",
                        content=(
                            TextPart(text="screenshot:"),
                            ImagePart(data=PNG["data"], media_type="image/png"),
                        ),
                        extra={
                            "cache_control": EPHEMERAL,
                            "anthropic_blocks": [
                                {
                                    "at": 2,
                                    "block": {
                                        "type": "search_result",
                                        "source": "s",
                                        "title": "t",
                                        "content": [],
                                    },
                                }
                            ],
                        },
                    ),
                ),
            ),
        ),
    ),
    (
        "server tool blocks carried with positions",
        assistant(
            {"type": "text", "text": "Searching."},
            {
                "type": "server_tool_use",
                "id": "srvtoolu_1",
                "name": "web_search",
                "input": {"query": "q"},
            },
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "text", "text": "Found."},
        ),
        "messages",
        (
            GO,
            Message(
                role="assistant",
                parts=(TextPart(text="Searching."), TextPart(text="Found.")),
                extra={
                    "anthropic_blocks": [
                        {
                            "at": 1,
                            "block": {
                                "type": "server_tool_use",
                                "id": "srvtoolu_1",
                                "name": "web_search",
                                "input": {"query": "q"},
                            },
                        },
                        {
                            "at": 1,
                            "block": {
                                "type": "web_search_tool_result",
                                "tool_use_id": "srvtoolu_1",
                                "content": [],
                            },
                        },
                    ]
                },
            ),
        ),
    ),
    (
        "custom tool keeps cache_control, defer_loading, type",
        {
            "tools": [
                {
                    "name": "Bash",
                    "description": "Run a command",
                    "input_schema": {"type": "object", "properties": {"cmd": {"type": "string"}}},
                    "cache_control": EPHEMERAL,
                    "defer_loading": True,
                    "strict": True,
                    "input_examples": [{"cmd": "ls"}],
                    "type": "custom",
                },
                {"name": "noop", "input_schema": {"type": "object"}},
            ]
        },
        "tools",
        (
            FunctionTool(
                name="Bash",
                description="Run a command",
                parameters={"type": "object", "properties": {"cmd": {"type": "string"}}},
                strict=True,
                extra={
                    "cache_control": EPHEMERAL,
                    "defer_loading": True,
                    "input_examples": [{"cmd": "ls"}],
                    "type": "custom",
                },
            ),
            FunctionTool(name="noop", parameters={"type": "object"}),
        ),
    ),
    (
        "hosted tools verbatim",
        {
            "tools": [
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
                {"type": "bash_20250124", "name": "bash"},
            ]
        },
        "tools",
        (
            HostedTool(
                type="web_search_20250305",
                spec={"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
                dialect="anthropic_messages",
            ),
            HostedTool(
                type="bash_20250124",
                spec={"type": "bash_20250124", "name": "bash"},
                dialect="anthropic_messages",
            ),
        ),
    ),
    ("tool_choice auto", {"tool_choice": {"type": "auto"}}, "tool_choice", ToolChoice(mode="auto")),
    (
        "tool_choice any",
        {"tool_choice": {"type": "any"}},
        "tool_choice",
        ToolChoice(mode="required"),
    ),
    ("tool_choice none", {"tool_choice": {"type": "none"}}, "tool_choice", ToolChoice(mode="none")),
    (
        "tool_choice tool",
        {"tool_choice": {"type": "tool", "name": "Bash"}},
        "tool_choice",
        ToolChoice(mode="tool", name="Bash"),
    ),
    ("parallel unspecified", {"tool_choice": {"type": "any"}}, "parallel_tool_calls", None),
    (
        "disable_parallel_tool_use true",
        {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
        "parallel_tool_calls",
        False,
    ),
    (
        "disable_parallel_tool_use false",
        {"tool_choice": {"type": "any", "disable_parallel_tool_use": False}},
        "parallel_tool_calls",
        True,
    ),
    (
        "thinking enabled",
        {"thinking": {"type": "enabled", "budget_tokens": 2048}},
        "reasoning",
        ReasoningConfig(mode="enabled", budget_tokens=2048),
    ),
    (
        "thinking disabled",
        {"thinking": {"type": "disabled"}},
        "reasoning",
        ReasoningConfig(mode="disabled"),
    ),
    (
        "thinking adaptive display omitted with effort",
        {
            "thinking": {"type": "adaptive", "display": "omitted"},
            "output_config": {"effort": "high"},
        },
        "reasoning",
        ReasoningConfig(mode="adaptive", display="omitted", effort="high"),
    ),
    (
        "between_tools thinking has no canonical mode: carried",
        {"thinking": {"type": "between_tools"}},
        "reasoning",
        ReasoningConfig(extra={"type": "between_tools"}),
    ),
    (
        "output_config effort alone",
        {"output_config": {"effort": "low"}},
        "reasoning",
        ReasoningConfig(effort="low"),
    ),
    (
        "output_config format",
        {"output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
        "response_format",
        ResponseFormat(kind="json_schema", schema={"type": "object"}),
    ),
    (
        "output_config kept whole in extra",
        {"output_config": {"effort": "max", "format": None, "future": 1}},
        "extra",
        {"output_config": {"effort": "max", "format": None, "future": 1}},
    ),
    ("stop_sequences", {"stop_sequences": ["\n\nHuman:", "END"]}, "stop", ("\n\nHuman:", "END")),
    ("temperature", {"temperature": 1}, "temperature", 1.0),
    ("top_p", {"top_p": 0.9}, "top_p", 0.9),
    ("top_k", {"top_k": 40}, "top_k", 40),
    ("stream", {"stream": True}, "stream", True),
    ("stream wants usage", {"stream": True}, "include_usage", True),
    (
        "metadata user_id JSON string",
        {"metadata": {"user_id": '{"device_id":"d","session_id":"s"}'}},
        "metadata",
        {"user_id": '{"device_id":"d","session_id":"s"}'},
    ),
    (
        "unknown top-level fields carried",
        {
            "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
            "service_tier": "auto",
            "container": "c_1",
            "mcp_servers": [{"type": "url", "url": "https://m", "name": "m"}],
        },
        "extra",
        {
            "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
            "service_tier": "auto",
            "container": "c_1",
            "mcp_servers": [{"type": "url", "url": "https://m", "name": "m"}],
        },
    ),
    (
        "every field the rules check, at a legal value, carried verbatim",
        {
            "service_tier": "standard_only",
            "container": {"id": "c_1", "skills": []},
            "speed": "fast",
            "inference_geo": "us",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
        "extra",
        {
            "service_tier": "standard_only",
            "container": {"id": "c_1", "skills": []},
            "speed": "fast",
            "inference_geo": "us",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
    ),
    (
        "a newer dated server tool, the beta mcp_toolset and tool search pass",
        {
            "tools": [
                {"type": "web_search_20991231", "name": "web_search"},
                {"type": "mcp_toolset", "mcp_server_name": "m"},
                {"type": "tool_search_tool_regex", "name": "tool_search"},
            ]
        },
        "tools",
        (
            HostedTool(
                type="web_search_20991231",
                spec={"type": "web_search_20991231", "name": "web_search"},
                dialect="anthropic_messages",
            ),
            HostedTool(
                type="mcp_toolset",
                spec={"type": "mcp_toolset", "mcp_server_name": "m"},
                dialect="anthropic_messages",
            ),
            HostedTool(
                type="tool_search_tool_regex",
                spec={"type": "tool_search_tool_regex", "name": "tool_search"},
                dialect="anthropic_messages",
            ),
        ),
    ),
    (
        # The interleaved-thinking beta lets the budget exceed max_tokens (see
        # anthropic_rules): not refused.
        "a thinking budget above max_tokens",
        {"max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 4096}},
        "reasoning",
        ReasoningConfig(mode="enabled", budget_tokens=4096),
    ),
    (
        "tool_choice with unknown keys carried whole",
        {"tool_choice": {"type": "auto", "future": True}},
        "extra",
        {"tool_choice": {"type": "auto", "future": True}},
    ),
]


@pytest.mark.parametrize(
    ("fields", "attr", "expected"), [v[1:] for v in VALID], ids=[v[0] for v in VALID]
)
def test_parse_valid(fields: dict[str, Any], attr: str, expected: Any) -> None:
    assert getattr(parse(fields), attr) == expected


def test_known_fields_do_not_leak_into_extra() -> None:
    request = parse(
        {
            "system": "s",
            "tools": [{"name": "t", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "auto"},
            "thinking": {"type": "disabled"},
            "stop_sequences": ["x"],
            "temperature": 0.5,
            "top_p": 0.5,
            "top_k": 5,
            "stream": False,
            "metadata": {"user_id": "u"},
        }
    )
    assert request.extra == {}


def test_count_tokens_ignores_max_tokens_and_stream() -> None:
    body = {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    request = FRONT.parse_count_tokens(body)
    assert (request.max_tokens, request.stream, request.extra) == (None, False, {})
    body["max_tokens"] = "ignored"
    request = FRONT.parse_count_tokens(body)
    assert (request.max_tokens, request.extra) == (None, {})
    assert request.messages == (Message(role="user", parts=(TextPart(text="hi"),)),)


def test_count_tokens_still_validates_messages() -> None:
    with pytest.raises(GatewayError) as info:
        FRONT.parse_count_tokens({"model": "claude-x", "messages": []})
    assert info.value.param == "messages"


# (id, request body (bytes) or fields over BASE (dict), expected param, message fragment)
INVALID: list[tuple[str, bytes | dict[str, Any], str | None, str]] = [
    ("not json", b"{", None, "not valid JSON"),
    ("not an object", b"[1]", None, "JSON object"),
    ("missing model", {"model": None}, "model", "required"),
    ("empty model", {"model": ""}, "model", "empty"),
    ("missing max_tokens", {"max_tokens": None}, "max_tokens", "required"),
    ("zero max_tokens", {"max_tokens": 0}, "max_tokens", "at least 1"),
    ("boolean max_tokens", {"max_tokens": True}, "max_tokens", "integer"),
    ("missing messages", {"messages": None}, "messages", "required"),
    ("empty messages", {"messages": []}, "messages", "at least one"),
    ("message not object", {"messages": ["hi"]}, "messages[0]", "object"),
    (
        "unknown role",
        {"messages": [{"role": "tool", "content": "x"}]},
        "messages[0].role",
        "one of",
    ),
    ("missing content", {"messages": [{"role": "user"}]}, "messages[0].content", "required"),
    (
        "content number",
        {"messages": [{"role": "user", "content": 5}]},
        "messages[0].content",
        "array",
    ),
    ("block not object", user("text"), "messages[0].content[0]", "object"),  # type: ignore[arg-type]
    ("block without type", user({"text": "x"}), "messages[0].content[0].type", "required"),
    ("block type not string", user({"type": 7}), "messages[0].content[0].type", "string"),
    ("text without text", user({"type": "text"}), "messages[0].content[0].text", "required"),
    (
        "image bad source type",
        user({"type": "image", "source": {"type": "ftp", "url": "x"}}),
        "messages[0].content[0].source.type",
        "base64, url, file",
    ),
    (
        "image base64 without data",
        user({"type": "image", "source": {"type": "base64", "media_type": "image/png"}}),
        "messages[0].content[0].source.data",
        "required",
    ),
    (
        "tool_use input not object",
        assistant({"type": "tool_use", "id": "t", "name": "n", "input": "[]"}),
        "messages[1].content[0].input",
        "object",
    ),
    (
        "tool_use in user message",
        user({"type": "tool_use", "id": "t", "name": "n", "input": {}}),
        "messages[0].content[0]",
        "assistant",
    ),
    (
        "tool_result in assistant message",
        assistant({"type": "tool_result", "tool_use_id": "t"}),
        "messages[1].content[0]",
        "user",
    ),
    (
        "tool_result without id",
        user({"type": "tool_result", "content": "x"}),
        "messages[0].content[0].tool_use_id",
        "required",
    ),
    (
        "tool_result inner block without type",
        user({"type": "tool_result", "tool_use_id": "t", "content": [{"text": "x"}]}),
        "messages[0].content[0].content[0].type",
        "required",
    ),
    (
        "non-text block in system message",
        {"messages": [{"role": "system", "content": [{"type": "image", "source": PNG}]}]},
        "messages[0].content[0].type",
        "only text",
    ),
    ("system number", {"system": 3}, "system", "array"),
    (
        "system block not text",
        {"system": [{"type": "image", "source": PNG}]},
        "system[0].type",
        "'text'",
    ),
    ("tools not array", {"tools": {}}, "tools", "array"),
    ("tool without name", {"tools": [{"input_schema": {}}]}, "tools[0].name", "required"),
    ("tool without schema", {"tools": [{"name": "x"}]}, "tools[0].input_schema", "required"),
    ("tool type not string", {"tools": [{"type": 1, "name": "x"}]}, "tools[0].type", "string"),
    (
        "tool_choice bad type",
        {"tool_choice": {"type": "required"}},
        "tool_choice.type",
        "auto, any",
    ),
    (
        "tool_choice tool without name",
        {"tool_choice": {"type": "tool"}},
        "tool_choice.name",
        "required",
    ),
    (
        "disable_parallel not bool",
        {"tool_choice": {"type": "auto", "disable_parallel_tool_use": "yes"}},
        "tool_choice.disable_parallel_tool_use",
        "boolean",
    ),
    (
        "thinking enabled without budget",
        {"thinking": {"type": "enabled"}},
        "thinking.budget_tokens",
        "required",
    ),
    ("thinking not object", {"thinking": True}, "thinking", "object"),
    ("temperature above 1", {"temperature": 1.5}, "temperature", "between 0 and 1"),
    ("top_p string", {"top_p": "0.5"}, "top_p", "number"),
    ("top_k negative", {"top_k": -1}, "top_k", "at least 0"),
    ("stop_sequences string", {"stop_sequences": "END"}, "stop_sequences", "array"),
    ("stop_sequences item", {"stop_sequences": ["a", 1]}, "stop_sequences[1]", "string"),
    ("stream not bool", {"stream": "yes"}, "stream", "boolean"),
    ("metadata not object", {"metadata": "u"}, "metadata", "object"),
    ("metadata user_id number", {"metadata": {"user_id": 7}}, "metadata.user_id", "string"),
    (
        "cache_control a string",
        user({**TEXT_HI, "cache_control": "x"}),
        f"{BLOCK0}.cache_control",
        "object",
    ),
    (
        "cache_control of an unknown type",
        user({**TEXT_HI, "cache_control": {"type": "persistent"}}),
        f"{BLOCK0}.cache_control.type",
        "ephemeral",
    ),
    (
        "cache_control without type",
        user({**TEXT_HI, "cache_control": {"ttl": "5m"}}),
        f"{BLOCK0}.cache_control.type",
        "required",
    ),
    (
        "cache_control ttl unknown",
        user({**TEXT_HI, "cache_control": {"type": "ephemeral", "ttl": "2h"}}),
        f"{BLOCK0}.cache_control.ttl",
        "5m, 1h",
    ),
    (
        "cache_control on a system block",
        {"system": [{**TEXT_HI, "cache_control": {"type": "x"}}]},
        "system[0].cache_control.type",
        "ephemeral",
    ),
    (
        "cache_control on a tool",
        {"tools": [{"name": "f", "input_schema": {}, "cache_control": []}]},
        "tools[0].cache_control",
        "object",
    ),
    (
        "cache_control inside a tool_result",
        user(
            {
                "type": "tool_result",
                "tool_use_id": "t",
                "content": [{**TEXT_HI, "cache_control": {"type": "x"}}],
            }
        ),
        f"{BLOCK0}.content[0].cache_control.type",
        "ephemeral",
    ),
    ("cache_control on top", {"cache_control": {"type": "x"}}, "cache_control.type", "ephemeral"),
    (
        "unknown block type",
        user({"type": "hologram"}),
        f"{BLOCK0}.type",
        "'hologram' is not a known content block type",
    ),
    (
        "unknown tool_result block type",
        user({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "hologram"}]}),
        f"{BLOCK0}.content[0].type",
        "tool_result content block type",
    ),
    (
        "image media type",
        user({"type": "image", "source": {**PNG, "media_type": "image/bmp"}}),
        f"{BLOCK0}.source.media_type",
        "image/webp",
    ),
    (
        "document base64 media type",
        user({"type": "document", "source": {**PNG, "media_type": "image/png"}}),
        f"{BLOCK0}.source.media_type",
        "application/pdf",
    ),
    ("unknown tool type", {"tools": [{"type": "teleport", "name": "t"}]}, "tools[0].type", "tool"),
    ("thinking type", {"thinking": {"type": "deep"}}, "thinking.type", "between_tools"),
    ("thinking without type", {"thinking": {"display": "omitted"}}, "thinking.type", "required"),
    (
        "thinking budget below 1024",
        {"thinking": {"type": "enabled", "budget_tokens": 1023}},
        "thinking.budget_tokens",
        "at least 1024",
    ),
    (
        "thinking display",
        {"thinking": {"type": "adaptive", "display": "full"}},
        "thinking.display",
        "summarized, omitted",
    ),
    (
        "metadata key the API does not take",
        {"metadata": {"user_id": "u", "session": "s"}},
        "metadata.session",
        "takes only user_id",
    ),
    ("service_tier", {"service_tier": "priority"}, "service_tier", "auto, standard_only"),
    ("speed", {"speed": "ludicrous"}, "speed", "standard, fast"),
    ("container a number", {"container": 5}, "container", "a string or an object"),
    ("inference_geo a number", {"inference_geo": 5}, "inference_geo", "string"),
    (
        "output_config effort",
        {"output_config": {"effort": "extreme"}},
        "output_config.effort",
        "xhigh",
    ),
    (
        "output_config format type",
        {"output_config": {"format": {"type": "xml", "schema": {}}}},
        "output_config.format.type",
        "json_schema",
    ),
    (
        "output_config format without schema",
        {"output_config": {"format": {"type": "json_schema"}}},
        "output_config.format.schema",
        "required",
    ),
]


@pytest.mark.parametrize(
    ("body", "param", "fragment"), [v[1:] for v in INVALID], ids=[v[0] for v in INVALID]
)
def test_parse_invalid(body: bytes | dict[str, Any], param: str | None, fragment: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps({**BASE, **body}).encode()
    with pytest.raises(GatewayError) as info:
        FRONT.parse_request(raw)
    error = info.value
    assert (error.status, error.kind, error.param) == (400, "invalid_request", param)
    assert fragment in error.message


def test_error_messages_do_not_echo_long_values() -> None:
    secret = "sk-ant-" + "x" * 200
    with pytest.raises(GatewayError) as info:
        parse({"messages": [{"role": secret, "content": "x"}]})
    assert secret not in info.value.message
