"""Table-driven tests of OpenAI Chat Completions request parsing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tokligence.canonical import (
    CustomTool,
    DocumentPart,
    FunctionTool,
    ImagePart,
    Message,
    ReasoningConfig,
    ReasoningPart,
    Request,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from tokligence.errors import GatewayError
from tokligence.fronts.openai_chat import OpenAIChatFront

USER = {"role": "user", "content": "hi"}
FRONT = OpenAIChatFront()
# Every field the gateway carries for an OpenAI upstream, at a legal value.
CARRIED: dict[str, Any] = {
    "logit_bias": {"50256": -100, "11": 100},
    "presence_penalty": -2,
    "frequency_penalty": 2.0,
    "logprobs": True,
    "top_logprobs": 20,
    "modalities": ["text", "audio"],
    "service_tier": "flex",
    "prediction": {"type": "content", "content": "x"},
    "audio": {"voice": "alloy", "format": "wav"},
    "verbosity": "low",
    "web_search_options": {"search_context_size": "low"},
    "safety_identifier": "u-1",
    "prompt_cache_key": "k",
    "prompt_cache_retention": "24h",  # unknown to the rules: carried unchecked
}


def parse(body: dict[str, Any]) -> Request:
    return FRONT.parse_request(json.dumps({"model": "gpt-4o", "messages": [USER], **body}).encode())


def first(body: dict[str, Any]) -> Message:
    """The first message of a request whose messages are ``body['messages']``."""
    return parse(body).messages[0]


def msgs(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"messages": list(messages)}


CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}

VALID: list[tuple[str, dict[str, Any], Callable[[Request], Any], Any]] = [
    # ---- roles
    (
        "system string",
        msgs({"role": "system", "content": "be brief"}, USER),
        lambda r: r.messages[0],
        Message(role="system", parts=(TextPart(text="be brief"),)),
    ),
    (
        "developer kept as developer, with name and text parts",
        msgs({"role": "developer", "name": "ops", "content": [{"type": "text", "text": "x"}]}),
        lambda r: r.messages[0],
        Message(role="developer", parts=(TextPart(text="x"),), name="ops"),
    ),
    (
        "user name kept",
        msgs({"role": "user", "name": "ann", "content": "hello"}),
        lambda r: r.messages[0],
        Message(role="user", parts=(TextPart(text="hello"),), name="ann"),
    ),
    (
        "system messages stay in messages, request.system empty",
        msgs({"role": "system", "content": "s"}, USER),
        lambda r: (r.system, len(r.messages)),
        ((), 2),
    ),
    (
        "unknown message field carried in message extra",
        msgs({"role": "user", "content": "x", "weird": {"k": 1}}),
        lambda r: r.messages[0].extra,
        {"weird": {"k": 1}},
    ),
    # ---- user parts
    (
        "image url with detail",
        msgs(
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}
                ],
            }
        ),
        lambda r: r.messages[0].parts,
        (ImagePart(url="https://x/y.png", detail="high"),),
    ),
    (
        "image data URL becomes base64 data with media type",
        msgs(
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    }
                ],
            }
        ),
        lambda r: r.messages[0].parts,
        (ImagePart(data="iVBORw0KGgo=", media_type="image/png"),),
    ),
    (
        "part-level unknown field carried in part extra",
        msgs(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "t", "prompt_cache_breakpoint": {"mode": "explicit"}}
                ],
            }
        ),
        lambda r: r.messages[0].parts[0],
        TextPart(text="t", extra={"prompt_cache_breakpoint": {"mode": "explicit"}}),
    ),
    (
        "file by id",
        msgs(
            {
                "role": "user",
                "content": [{"type": "file", "file": {"file_id": "file-abc", "filename": "a.pdf"}}],
            }
        ),
        lambda r: r.messages[0].parts,
        (DocumentPart(source_type="file", data="file-abc", filename="a.pdf"),),
    ),
    (
        "file data URL becomes base64 document",
        msgs(
            {
                "role": "user",
                "content": [
                    {
                        "type": "file",
                        "file": {
                            "file_data": "data:application/pdf;base64,JVBERi0=",
                            "filename": "a.pdf",
                        },
                    }
                ],
            }
        ),
        lambda r: r.messages[0].parts,
        (
            DocumentPart(
                source_type="base64",
                data="JVBERi0=",
                media_type="application/pdf",
                filename="a.pdf",
            ),
        ),
    ),
    # ---- assistant
    (
        "assistant empty content with tool calls: no empty text part",
        msgs(USER, {"role": "assistant", "content": "", "tool_calls": [CALL]}),
        lambda r: r.messages[1].parts,
        (ToolCallPart(id="call_1", name="f", arguments='{"a":1}'),),
    ),
    (
        "assistant null content with tool calls",
        msgs(USER, {"role": "assistant", "content": None, "tool_calls": [CALL]}),
        lambda r: r.messages[1].parts,
        (ToolCallPart(id="call_1", name="f", arguments='{"a":1}'),),
    ),
    (
        "assistant text then tool call, arguments kept byte for byte",
        msgs(
            USER,
            {
                "role": "assistant",
                "content": "ok",
                "tool_calls": [
                    {**CALL, "function": {"name": "f", "arguments": '{"q": "a\\"b\\\\c"}'}}
                ],
            },
        ),
        lambda r: r.messages[1].parts,
        (TextPart(text="ok"), ToolCallPart(id="call_1", name="f", arguments='{"q": "a\\"b\\\\c"}')),
    ),
    (
        "assistant custom tool call",
        msgs(
            USER,
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_2",
                        "type": "custom",
                        "custom": {"name": "apply_patch", "input": "*** Begin Patch"},
                    }
                ],
            },
        ),
        lambda r: r.messages[1].parts,
        (
            ToolCallPart(
                id="call_2", name="apply_patch", arguments="*** Begin Patch", kind="custom"
            ),
        ),
    ),
    (
        "assistant reasoning_content becomes first part",
        msgs(USER, {"role": "assistant", "content": "answer", "reasoning_content": "thinking"}),
        lambda r: r.messages[1].parts,
        (ReasoningPart(text="thinking"), TextPart(text="answer")),
    ),
    (
        "assistant reasoning (OpenRouter field) accepted too",
        msgs(USER, {"role": "assistant", "content": "answer", "reasoning": "thinking"}),
        lambda r: r.messages[1].parts,
        (ReasoningPart(text="thinking", extra={"source": "reasoning"}), TextPart(text="answer")),
    ),
    (
        "assistant refusal part and refusal field",
        msgs(
            USER,
            {
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "no"}],
                "refusal": "no",
            },
        ),
        lambda r: (r.messages[1].parts, r.messages[1].extra),
        ((TextPart(text="no", extra={"refusal": True}),), {"refusal": "no"}),
    ),
    (
        "assistant text parts with an empty one dropped",
        msgs(
            USER,
            {
                "role": "assistant",
                "content": [{"type": "text", "text": ""}, {"type": "text", "text": "a"}],
            },
        ),
        lambda r: r.messages[1].parts,
        (TextPart(text="a"),),
    ),
    # ---- tool results
    (
        "tool message string",
        msgs(USER, {"role": "tool", "tool_call_id": "call_1", "content": "42"}),
        lambda r: r.messages[1],
        Message(
            role="tool", parts=(ToolResultPart(call_id="call_1", content=(TextPart(text="42"),)),)
        ),
    ),
    (
        "tool message text parts",
        msgs(
            USER,
            {
                "role": "tool",
                "tool_call_id": "c",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
        ),
        lambda r: r.messages[1].parts,
        (ToolResultPart(call_id="c", content=(TextPart(text="a"), TextPart(text="b"))),),
    ),
    (
        "legacy function_call and function role pair with one synthetic id",
        msgs(
            USER,
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "f", "arguments": "{}"},
            },
            {"role": "function", "name": "f", "content": "done"},
        ),
        lambda r: (r.messages[1].parts, r.messages[2]),
        (
            (ToolCallPart(id="call_legacy_1", name="f", arguments="{}", extra={"legacy": True}),),
            Message(
                role="tool",
                name="f",
                parts=(
                    ToolResultPart(
                        call_id="call_legacy_1",
                        content=(TextPart(text="done"),),
                        extra={"legacy": True},
                    ),
                ),
            ),
        ),
    ),
    # ---- tools
    (
        "function tool",
        {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "description": "d",
                        "parameters": {"type": "object"},
                        "strict": True,
                    },
                }
            ]
        },
        lambda r: r.tools,
        (FunctionTool(name="f", description="d", parameters={"type": "object"}, strict=True),),
    ),
    (
        "custom tool",
        {
            "tools": [
                {
                    "type": "custom",
                    "custom": {
                        "name": "apply_patch",
                        "description": "d",
                        "format": {
                            "type": "grammar",
                            "grammar": {"syntax": "lark", "definition": "start: x"},
                        },
                    },
                }
            ]
        },
        lambda r: r.tools,
        (
            CustomTool(
                name="apply_patch",
                description="d",
                format={"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: x"}},
            ),
        ),
    ),
    (
        "carried fields within the API's rules pass verbatim",
        CARRIED,
        lambda r: {k: r.extra[k] for k in CARRIED},
        CARRIED,
    ),
    (
        "function names of 64 characters of letters, digits, _ and -",
        {"tools": [{"type": "function", "function": {"name": "A-z_0" + "9" * 59}}]},
        lambda r: r.tools[0].name,
        "A-z_0" + "9" * 59,
    ),
    (
        "legacy functions",
        {"functions": [{"name": "g", "parameters": {"type": "object"}}]},
        lambda r: r.tools,
        (FunctionTool(name="g", parameters={"type": "object"}),),
    ),
    # ---- tool choice
    ("tool_choice auto", {"tool_choice": "auto"}, lambda r: r.tool_choice, ToolChoice(mode="auto")),
    ("tool_choice none", {"tool_choice": "none"}, lambda r: r.tool_choice, ToolChoice(mode="none")),
    (
        "tool_choice required",
        {"tool_choice": "required"},
        lambda r: r.tool_choice,
        ToolChoice(mode="required"),
    ),
    (
        "tool_choice named function",
        {"tool_choice": {"type": "function", "function": {"name": "f"}}},
        lambda r: r.tool_choice,
        ToolChoice(mode="tool", name="f"),
    ),
    (
        "tool_choice named custom",
        {"tool_choice": {"type": "custom", "custom": {"name": "apply_patch"}}},
        lambda r: r.tool_choice,
        ToolChoice(mode="tool", name="apply_patch"),
    ),
    (
        "tool_choice allowed_tools: mode kept, whole object carried",
        {
            "tool_choice": {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "f"}}],
                },
            }
        },
        lambda r: (r.tool_choice, r.extra["tool_choice"]["allowed_tools"]["mode"]),
        (ToolChoice(mode="required"), "required"),
    ),
    (
        "legacy function_call as tool choice",
        {"function_call": {"name": "g"}},
        lambda r: r.tool_choice,
        ToolChoice(mode="tool", name="g"),
    ),
    ("parallel_tool_calls", {"parallel_tool_calls": False}, lambda r: r.parallel_tool_calls, False),
    # ---- response format
    (
        "response_format text",
        {"response_format": {"type": "text"}},
        lambda r: r.response_format,
        ResponseFormat(kind="text"),
    ),
    (
        "response_format json_object",
        {"response_format": {"type": "json_object"}},
        lambda r: r.response_format,
        ResponseFormat(kind="json_object"),
    ),
    (
        "response_format json_schema",
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "out",
                    "schema": {"type": "object"},
                    "strict": True,
                    "description": "d",
                },
            }
        },
        lambda r: r.response_format,
        ResponseFormat(
            kind="json_schema", name="out", schema={"type": "object"}, strict=True, description="d"
        ),
    ),
    # ---- sampling, limits, flags
    ("stop string", {"stop": "END"}, lambda r: r.stop, ("END",)),
    ("stop array of 4", {"stop": ["a", "b", "c", "d"]}, lambda r: r.stop, ("a", "b", "c", "d")),
    ("max_tokens", {"max_tokens": 100}, lambda r: r.max_tokens, 100),
    (
        "max_completion_tokens wins",
        {"max_tokens": 100, "max_completion_tokens": 50},
        lambda r: r.max_tokens,
        50,
    ),
    ("temperature int accepted as float", {"temperature": 1}, lambda r: r.temperature, 1.0),
    ("temperature 2 inclusive", {"temperature": 2}, lambda r: r.temperature, 2.0),
    ("top_p", {"top_p": 0.5}, lambda r: r.top_p, 0.5),
    ("seed", {"seed": 7}, lambda r: r.seed, 7),
    ("stream defaults false", {}, lambda r: (r.stream, r.include_usage), (False, False)),
    (
        "stream with include_usage; other stream_options carried",
        {"stream": True, "stream_options": {"include_usage": True, "include_obfuscation": False}},
        lambda r: (r.stream, r.include_usage, r.extra),
        (True, True, {"stream_options": {"include_obfuscation": False}}),
    ),
    (
        "reasoning_effort",
        {"reasoning_effort": "high"},
        lambda r: r.reasoning,
        ReasoningConfig(effort="high"),
    ),
    ("user", {"user": "u-1"}, lambda r: r.user, "u-1"),
    ("metadata", {"metadata": {"k": "v"}}, lambda r: r.metadata, {"k": "v"}),
    ("store", {"store": True}, lambda r: r.store, True),
    ("n = 1 accepted", {"n": 1}, lambda r: r.model, "gpt-4o"),
    ("n = null accepted", {"n": None}, lambda r: r.model, "gpt-4o"),
    ("dialect", {}, lambda r: r.dialect, "openai_chat"),
    (
        "unmodelled top-level fields carried verbatim",
        {
            "frequency_penalty": 0.1,
            "presence_penalty": -0.2,
            "logprobs": True,
            "top_logprobs": 3,
            "logit_bias": {"50256": -100},
            "service_tier": "flex",
            "prediction": {"type": "content", "content": "x"},
            "modalities": ["text"],
            "audio": None,
            "web_search_options": {},
            "verbosity": "low",
            "prompt_cache_key": "k",
            "safety_identifier": "s",
        },
        lambda r: r.extra,
        {
            "frequency_penalty": 0.1,
            "presence_penalty": -0.2,
            "logprobs": True,
            "top_logprobs": 3,
            "logit_bias": {"50256": -100},
            "service_tier": "flex",
            "prediction": {"type": "content", "content": "x"},
            "modalities": ["text"],
            "audio": None,
            "web_search_options": {},
            "verbosity": "low",
            "prompt_cache_key": "k",
            "safety_identifier": "s",
        },
    ),
]


@pytest.mark.parametrize(
    ("body", "pick", "expected"), [c[1:] for c in VALID], ids=[c[0] for c in VALID]
)
def test_valid(body: dict[str, Any], pick: Callable[[Request], Any], expected: Any) -> None:
    assert pick(parse(body)) == expected


def test_every_field_of_a_full_request() -> None:
    request = parse(
        {
            "messages": [
                {"role": "system", "content": "s"},
                USER,
                {"role": "assistant", "content": "", "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": "r"},
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_completion_tokens": 9,
        }
    )
    assert request == Request(
        model="gpt-4o",
        dialect="openai_chat",
        messages=(
            Message(role="system", parts=(TextPart(text="s"),)),
            Message(role="user", parts=(TextPart(text="hi"),)),
            Message(
                role="assistant", parts=(ToolCallPart(id="call_1", name="f", arguments='{"a":1}'),)
            ),
            Message(
                role="tool",
                parts=(ToolResultPart(call_id="call_1", content=(TextPart(text="r"),)),),
            ),
        ),
        tools=(FunctionTool(name="f"),),
        stream=True,
        include_usage=True,
        max_tokens=9,
        extra={},
    )


def _raw(body: dict[str, Any]) -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [USER], **body}).encode()


# (id, raw body, expected param, message fragment)
INVALID: list[tuple[str, bytes, str | None, str]] = [
    ("empty body", b"", None, "empty"),
    ("malformed JSON", b'{"model": "x",', None, "not valid JSON"),
    ("invalid UTF-8", b'{"model": "\xff\xfe", "messages": []}', None, "UTF-8"),
    ("non-object body", b"[1, 2]", None, "must be a JSON object"),
    ("missing model", json.dumps({"messages": [USER]}).encode(), "model", "required"),
    ("model not a string", _raw({"model": 5}), "model", "must be a string"),
    ("empty model", _raw({"model": ""}), "model", "must not be empty"),
    ("missing messages", json.dumps({"model": "m"}).encode(), "messages", "required"),
    ("messages not an array", _raw({"messages": {"role": "user"}}), "messages", "must be an array"),
    ("empty messages", _raw({"messages": []}), "messages", "at least one"),
    ("message not an object", _raw({"messages": ["hi"]}), "messages[0]", "must be an object"),
    (
        "message without role",
        _raw({"messages": [{"content": "x"}]}),
        "messages[0].role",
        "required",
    ),
    (
        "unknown role",
        _raw({"messages": [{"role": "robot", "content": "x"}]}),
        "messages[0].role",
        "'robot'",
    ),
    (
        "user without content",
        _raw({"messages": [{"role": "user"}]}),
        "messages[0].content",
        "required",
    ),
    (
        "content is a number",
        _raw({"messages": [{"role": "user", "content": 3}]}),
        "messages[0].content",
        "string or an array",
    ),
    (
        "unknown part type",
        _raw(
            {
                "messages": [
                    USER,
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "a"}, {"type": "video", "url": "x"}],
                    },
                ]
            }
        ),
        "messages[1].content[1].type",
        "'video'",
    ),
    (
        "part without type",
        _raw({"messages": [{"role": "user", "content": [{"text": "a"}]}]}),
        "messages[0].content[0].type",
        "required",
    ),
    (
        "text part text not a string",
        _raw({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}),
        "messages[0].content[0].text",
        "must be a string",
    ),
    (
        "image part in system message",
        _raw(
            {
                "messages": [
                    {
                        "role": "system",
                        "content": [{"type": "image_url", "image_url": {"url": "u"}}],
                    }
                ]
            }
        ),
        "messages[0].content[0].type",
        "not supported",
    ),
    (
        "input_audio refused",
        _raw(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}
                        ],
                    }
                ]
            }
        ),
        "messages[0].content[0].type",
        "input_audio",
    ),
    (
        "image data URL not base64",
        _raw(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png,abc"}}
                        ],
                    }
                ]
            }
        ),
        "messages[0].content[0].image_url.url",
        "base64",
    ),
    (
        "file part with neither data nor id",
        _raw(
            {
                "messages": [
                    {"role": "user", "content": [{"type": "file", "file": {"filename": "a"}}]}
                ]
            }
        ),
        "messages[0].content[0].file",
        "exactly one",
    ),
    (
        "tool message without tool_call_id",
        _raw({"messages": [{"role": "tool", "content": "x"}]}),
        "messages[0].tool_call_id",
        "required",
    ),
    (
        "function message without name",
        _raw({"messages": [{"role": "function", "content": "x"}]}),
        "messages[0].name",
        "required",
    ),
    (
        "assistant content a number",
        _raw({"messages": [{"role": "assistant", "content": 1}]}),
        "messages[0].content",
        "string, an array or null",
    ),
    (
        "tool_calls not an array",
        _raw({"messages": [{"role": "assistant", "tool_calls": {}}]}),
        "messages[0].tool_calls",
        "must be an array",
    ),
    (
        "tool call of unknown type",
        _raw({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "magic"}]}]}),
        "messages[0].tool_calls[0].type",
        "'magic'",
    ),
    (
        "tool call arguments not a string",
        _raw(
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "f", "arguments": {}},
                            }
                        ],
                    }
                ]
            }
        ),
        "messages[0].tool_calls[0].function.arguments",
        "must be a string",
    ),
    (
        "tool call without id",
        _raw(
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"type": "function", "function": {"name": "f", "arguments": ""}}
                        ],
                    }
                ]
            }
        ),
        "messages[0].tool_calls[0].id",
        "required",
    ),
    (
        "reasoning_content not a string",
        _raw({"messages": [{"role": "assistant", "content": "a", "reasoning_content": 1}]}),
        "messages[0].reasoning_content",
        "must be a string",
    ),
    ("temperature wrong type", _raw({"temperature": "hot"}), "temperature", "must be a number"),
    ("temperature out of range", _raw({"temperature": 2.5}), "temperature", "between 0 and 2"),
    ("temperature boolean", _raw({"temperature": True}), "temperature", "must be a number"),
    ("top_p out of range", _raw({"top_p": 1.5}), "top_p", "between 0 and 1"),
    ("max_tokens string", _raw({"max_tokens": "10"}), "max_tokens", "must be an integer"),
    ("max_tokens zero", _raw({"max_tokens": 0}), "max_tokens", "at least 1"),
    (
        "max_completion_tokens float",
        _raw({"max_completion_tokens": 1.5}),
        "max_completion_tokens",
        "must be an integer",
    ),
    ("stream string", _raw({"stream": "yes"}), "stream", "must be a boolean"),
    (
        "include_usage string",
        _raw({"stream_options": {"include_usage": "yes"}}),
        "stream_options.include_usage",
        "must be a boolean",
    ),
    ("n = 2", _raw({"n": 2}), "n", "must be 1"),
    ("n not an integer", _raw({"n": "1"}), "n", "must be an integer"),
    ("n = 0", _raw({"n": 0}), "n", "must be 1"),
    ("stop with 5 entries", _raw({"stop": ["a", "b", "c", "d", "e"]}), "stop", "at most 4"),
    ("stop entry not a string", _raw({"stop": ["a", 1]}), "stop[1]", "must be a string"),
    (
        "tool without type",
        _raw({"tools": [{"function": {"name": "f"}}]}),
        "tools[0].type",
        "required",
    ),
    (
        "function tool without name",
        _raw({"tools": [{"type": "function", "function": {}}]}),
        "tools[0].function.name",
        "required",
    ),
    ("tools not an array", _raw({"tools": {}}), "tools", "must be an array"),
    ("tool_choice unknown string", _raw({"tool_choice": "any"}), "tool_choice", "'any'"),
    (
        "tool_choice unknown type",
        _raw({"tool_choice": {"type": "magic"}}),
        "tool_choice.type",
        "'magic'",
    ),
    (
        "tool_choice function without name",
        _raw({"tool_choice": {"type": "function", "function": {}}}),
        "tool_choice.function.name",
        "required",
    ),
    (
        "response_format unknown type",
        _raw({"response_format": {"type": "yaml"}}),
        "response_format.type",
        "'yaml'",
    ),
    (
        "json_schema without name",
        _raw({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}),
        "response_format.json_schema.name",
        "required",
    ),
    ("metadata value not a string", _raw({"metadata": {"k": 1}}), "metadata.k", "must be a string"),
    (
        "metadata of 17 pairs",
        _raw({"metadata": {f"k{i}": "v" for i in range(17)}}),
        "metadata",
        "16",
    ),
    ("metadata key of 65", _raw({"metadata": {"k" * 65: "v"}}), "metadata", "64 characters"),
    ("metadata value of 513", _raw({"metadata": {"k": "v" * 513}}), "metadata.k", "512"),
    (
        "hosted tool type",
        _raw({"tools": [{"type": "web_search"}]}),
        "tools[0].type",
        "function, custom; got 'web_search'",
    ),
    (
        "function name with a space",
        _raw({"tools": [{"type": "function", "function": {"name": "get weather"}}]}),
        "tools[0].function.name",
        "a-z, A-Z, 0-9, _ and -",
    ),
    (
        "function name of 65 characters",
        _raw({"tools": [{"type": "function", "function": {"name": "f" * 65}}]}),
        "tools[0].function.name",
        "1 to 64",
    ),
    ("legacy function name", _raw({"functions": [{"name": "a.b"}]}), "functions[0].name", "a-z"),
    ("logit_bias key", _raw({"logit_bias": {"hello": 1}}), "logit_bias", "token id"),
    ("logit_bias value", _raw({"logit_bias": {"1": 101}}), "logit_bias.1", "-100 and 100"),
    ("logit_bias an array", _raw({"logit_bias": []}), "logit_bias", "must be an object"),
    ("presence_penalty", _raw({"presence_penalty": -2.5}), "presence_penalty", "-2 and 2"),
    ("top_logprobs", _raw({"top_logprobs": 21}), "top_logprobs", "between 0 and 20"),
    ("modalities item", _raw({"modalities": ["video"]}), "modalities[0]", "text, audio"),
    ("service_tier", _raw({"service_tier": "gold"}), "service_tier", "'gold'"),
    ("verbosity", _raw({"verbosity": 1}), "verbosity", "must be a string"),
    ("prediction", _raw({"prediction": "x"}), "prediction", "must be an object"),
    ("prompt_cache_key", _raw({"prompt_cache_key": 1}), "prompt_cache_key", "string"),
    ("reasoning_effort", _raw({"reasoning_effort": "extreme"}), "reasoning_effort", "xhigh"),
    (
        "include_obfuscation",
        _raw({"stream_options": {"include_obfuscation": "no"}}),
        "stream_options.include_obfuscation",
        "boolean",
    ),
    (
        "image detail",
        _raw(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "u", "detail": "ultra"}}
                        ],
                    }
                ]
            }
        ),
        "messages[0].content[0].image_url.detail",
        "auto, low, high, original",
    ),
    (
        "reasoning_effort not a string",
        _raw({"reasoning_effort": 3}),
        "reasoning_effort",
        "must be a string",
    ),
    (
        "parallel_tool_calls not a boolean",
        _raw({"parallel_tool_calls": "no"}),
        "parallel_tool_calls",
        "must be a boolean",
    ),
]


@pytest.mark.parametrize(
    ("body", "param", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid(body: bytes, param: str | None, fragment: str) -> None:
    with pytest.raises(GatewayError) as info:
        FRONT.parse_request(body)
    error = info.value
    assert error.status == 400
    assert error.kind == "invalid_request"
    assert error.param == param
    assert fragment in error.message


def test_n_error_says_gateway_supports_one_choice() -> None:
    with pytest.raises(GatewayError) as info:
        FRONT.parse_request(_raw({"n": 3}))
    assert "one choice" in info.value.message
    assert "3" in info.value.message


def test_error_messages_do_not_echo_the_body() -> None:
    secret = "sk-live-SECRET-do-not-echo"
    with pytest.raises(GatewayError) as info:
        FRONT.parse_request(
            _raw({"messages": [{"role": "robot", "content": secret}], "api_key": secret})
        )
    assert secret not in info.value.message
