"""Canonical requests -> OpenAI Chat Completions request bodies.

Table-driven: each case is a canonical request (built directly, or parsed by
a real client front from the body that client sends) and the exact JSON body
the codec must produce, plus the notes it must leave.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tokligence.canonical import (
    CustomTool,
    DocumentPart,
    FunctionTool,
    HostedTool,
    ImagePart,
    Message,
    Part,
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
from tokligence.codecs.base import Encoded, EncodeOptions
from tokligence.codecs.openai_chat import OpenAIChatCodec
from tokligence.codecs.openai_chat_messages import MISSING_RESULT, fit_tool_id
from tokligence.fronts.anthropic_messages import AnthropicMessagesFront
from tokligence.fronts.openai_chat import OpenAIChatFront
from tokligence.fronts.openai_responses import OpenAIResponsesFront

CODEC = OpenAIChatCodec()
MODEL = "gpt-4o-2024-08-06"
HI = Message(role="user", parts=(TextPart(text="hi"),))
WEATHER = FunctionTool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
WEATHER_WIRE = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
PNG = "iVBORw0KGgo="


def request(*messages: Message, dialect: str = "openai_chat", **fields: Any) -> Request:
    return Request(
        model="client-model",
        dialect=dialect,  # type: ignore[arg-type]
        messages=messages or (HI,),
        **fields,
    )


def user(*parts: Part) -> Message:
    return Message(role="user", parts=parts)


def assistant(*parts: Part) -> Message:
    return Message(role="assistant", parts=parts)


def tool(*results: ToolResultPart) -> Message:
    return Message(role="tool", parts=results)


def call(
    call_id: str, name: str = "get_weather", arguments: str = '{"city":"Paris"}'
) -> ToolCallPart:
    return ToolCallPart(id=call_id, name=name, arguments=arguments)


def result(
    call_id: str, *content: TextPart | ImagePart | DocumentPart, **kw: Any
) -> ToolResultPart:
    return ToolResultPart(call_id=call_id, content=content, **kw)


def wire_call(
    call_id: str, name: str = "get_weather", arguments: str = '{"city":"Paris"}'
) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def encode(req: Request, **options: Any) -> tuple[dict[str, Any], Encoded]:
    opts = EncodeOptions(
        model=options.pop("model", MODEL), stream=options.pop("stream", False), **options
    )
    encoded = CODEC.encode(req, opts)
    assert encoded.path == "/chat/completions"
    return json.loads(encoded.body), encoded


def body_of(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": messages, **fields, "stream": False}


@dataclass(frozen=True)
class Case:
    name: str
    request: Request
    body: dict[str, Any]
    notes: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("plain text", request(), body_of([{"role": "user", "content": "hi"}])),
    Case(
        "system parts joined, developer kept in place",
        request(
            HI,
            Message(role="developer", parts=(TextPart(text="be brief"),)),
            system=(TextPart(text="You are terse."), TextPart(text="Answer in French.")),
        ),
        body_of(
            [
                {"role": "system", "content": "You are terse.\n\nAnswer in French."},
                {"role": "user", "content": "hi"},
                {"role": "developer", "content": "be brief"},
            ]
        ),
    ),
    Case(
        "user parts: text, images by url and base64, pdf, text document",
        request(
            user(
                TextPart(text="look"),
                ImagePart(url="https://x/cat.png", detail="low"),
                ImagePart(data=PNG, media_type="image/png"),
                DocumentPart(source_type="base64", data="JVBERi0=", media_type="application/pdf"),
                DocumentPart(source_type="text", data="body text", title="Notes"),
            )
        ),
        body_of(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x/cat.png", "detail": "low"},
                        },
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {
                            "type": "file",
                            "file": {
                                "filename": "document.pdf",
                                "file_data": "data:application/pdf;base64,JVBERi0=",
                            },
                        },
                        {"type": "text", "text": "# Notes\n\nbody text"},
                    ],
                }
            ]
        ),
    ),
    Case(
        "anthropic file id and url documents cannot be fetched",
        request(
            user(
                TextPart(text="read"),
                DocumentPart(source_type="file", data="file_011"),
                DocumentPart(source_type="url", data="https://x/a.pdf"),
            ),
            dialect="anthropic_messages",
        ),
        body_of([{"role": "user", "content": "read"}]),
        notes=(
            "dropped a document given by file: chat cannot fetch it",
            "dropped a document given by url: chat cannot fetch it",
        ),
    ),
    Case(
        "openai file id passes",
        request(user(DocumentPart(source_type="file", data="file-abc", filename="a.pdf"))),
        body_of(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "file", "file": {"file_id": "file-abc", "filename": "a.pdf"}}
                    ],
                }
            ]
        ),
    ),
    Case(
        "assistant reasoning is dropped, never sent as text",
        request(
            HI,
            assistant(
                ReasoningPart(text="secret plan", signature="sig", vendor="anthropic"),
                RedactedReasoningPart(data="opaque"),
                TextPart(text="Hello"),
            ),
            user(TextPart(text="again")),
        ),
        body_of(
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "again"},
            ]
        ),
        notes=("dropped reasoning from the history: chat completions takes none",),
    ),
    Case(
        "message names are kept",
        request(Message(role="user", parts=(TextPart(text="hi"),), name="alice")),
        body_of([{"role": "user", "content": "hi", "name": "alice"}]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_encode(case: Case) -> None:
    body, encoded = encode(case.request, **case.options)
    assert body == case.body
    assert encoded.notes == case.notes


# ------------------------------------------------------------------ fm5


def test_fm5_include_usage_always_requested_when_streaming() -> None:
    # The client did not ask for usage (include_usage False); we still do.
    body, _ = encode(request(include_usage=False, stream=True), stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_fm5_client_stream_options_are_merged_but_include_usage_forced() -> None:
    req = request(stream=True, extra={"stream_options": {"include_obfuscation": False}})
    body, _ = encode(req, stream=True)
    assert body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    body, _ = encode(req, stream=False)
    assert "stream_options" not in body  # OpenAI refuses stream_options without stream


# ----------------------------------------------------------------- fm11


def test_fm11_parameter_map_from_a_claude_code_body() -> None:
    raw = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {"name": "Bash", "description": "run", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "stop_sequences": ["a", "b", "c", "d", "e"],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "metadata": {"user_id": "user_abc_session_123"},
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "context_management": {"edits": []},
        "service_tier": "auto",
        "stream": True,
    }
    req = AnthropicMessagesFront().parse_request(json.dumps(raw).encode())
    body, encoded = encode(req, stream=True, reasoning_model=True, max_output_tokens=16384)
    assert body == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are Claude Code."},
            {"role": "user", "content": "hi"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "Bash",
                    "description": "run",
                    "parameters": {"type": "object"},
                },
            }
        ],
        "tool_choice": "required",  # Anthropic "any" keeps forcing a tool
        "parallel_tool_calls": False,  # disable_parallel_tool_use
        "max_completion_tokens": 16384,
        "stop": ["a", "b", "c", "d"],
        "reasoning_effort": "medium",
        "user": "user_abc_session_123",  # metadata.user_id, short enough to keep
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert set(encoded.notes) == {
        "dropped hosted tool web_search_20250305: openai_chat upstream cannot run it",
        "clamped max_tokens 32000 to the model's limit 16384",
        "kept the first 4 of 5 stop sequences",
        "dropped temperature 0.5: reasoning models take only the default",
        "dropped top_p 0.9: reasoning models take only the default",
        "dropped top_k: chat completions has no such parameter",
        "dropped anthropic_messages fields chat completions does not take: "
        "context_management, service_tier",
    }


def test_fm11_no_anthropic_extras_forwarded_and_max_tokens_for_plain_models() -> None:
    req = request(
        dialect="anthropic_messages",
        max_tokens=1000,
        extra={
            "context_management": {},
            "container": "c",
            "mcp_servers": [],
            "output_config": {"effort": "low"},
        },
        reasoning=ReasoningConfig(effort="low"),
    )
    body, encoded = encode(req)
    assert body == body_of([{"role": "user", "content": "hi"}], max_tokens=1000)
    assert "dropped reasoning effort: the target is not a reasoning model" in encoded.notes
    assert (
        "dropped anthropic_messages fields chat completions does not take: container, "
        "context_management, mcp_servers" in encoded.notes
    )


def test_fm11_no_max_tokens_is_invented() -> None:
    body, _ = encode(request(), reasoning_model=True, max_output_tokens=4096)
    assert "max_tokens" not in body and "max_completion_tokens" not in body


@pytest.mark.parametrize(
    ("reasoning", "reasoning_model", "expected"),
    [
        (ReasoningConfig(effort="high"), True, "high"),
        (ReasoningConfig(mode="enabled", budget_tokens=1024), True, "low"),
        (ReasoningConfig(mode="enabled", budget_tokens=2048), True, "low"),
        (ReasoningConfig(mode="enabled", budget_tokens=16384), True, "medium"),
        (ReasoningConfig(mode="enabled", budget_tokens=16385), True, "high"),
        (ReasoningConfig(mode="disabled"), True, None),
        (ReasoningConfig(mode="enabled", budget_tokens=4000), False, None),
        (ReasoningConfig(mode="adaptive"), True, None),
    ],
)
def test_fm11_reasoning_effort(
    reasoning: ReasoningConfig, reasoning_model: bool, expected: str | None
) -> None:
    body, _ = encode(request(reasoning=reasoning), reasoning_model=reasoning_model)
    assert body.get("reasoning_effort") == expected


def test_fm11_parallel_tool_calls_and_tool_choice_only_with_tools() -> None:
    body, encoded = encode(
        request(parallel_tool_calls=True, tool_choice=ToolChoice(mode="required"))
    )
    assert "parallel_tool_calls" not in body and "tool_choice" not in body
    assert encoded.notes == ("dropped tool_choice 'required': no tools to choose from",)
    body, _ = encode(
        request(
            tools=(WEATHER,),
            parallel_tool_calls=True,
            tool_choice=ToolChoice(mode="tool", name="get_weather"),
        )
    )
    assert body["tools"] == [WEATHER_WIRE]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is True


def test_fm11_openai_chat_client_fields_pass_verbatim() -> None:
    raw = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "frequency_penalty": 0.5,
        "logprobs": True,
        "top_logprobs": 2,
        "metadata": {"k": "v"},
        "store": True,
        "seed": 7,
        "user": "u1",
        "max_tokens": 100,
        "stop": "END",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}},
        },
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
        "prompt_cache_key": "pk",
    }
    req = OpenAIChatFront().parse_request(json.dumps(raw).encode())
    body, encoded = encode(req)
    assert body == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
            }
        ],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
        "max_tokens": 100,
        "stop": ["END"],
        "seed": 7,
        "user": "u1",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}},
        },
        "metadata": {"k": "v"},
        "store": True,
        "stream": False,
        "frequency_penalty": 0.5,
        "logprobs": True,
        "top_logprobs": 2,
        "prompt_cache_key": "pk",
    }
    assert encoded.notes == ()


def test_fm11_responses_fields_mapped_when_chat_has_them() -> None:
    raw = {
        "model": "gpt-5-codex",
        "instructions": "You are Codex.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ],
        "reasoning": {"effort": "high", "summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "conv-1",
        "safety_identifier": "sid",
        "service_tier": "priority",
        "text": {"verbosity": "low"},
        "max_output_tokens": 5000,
        "stream": True,
    }
    req = OpenAIResponsesFront().parse_request(json.dumps(raw).encode())
    body, encoded = encode(req, stream=True, reasoning_model=True)
    assert body == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are Codex."},
            {"role": "user", "content": "hi"},
        ],
        "max_completion_tokens": 5000,
        "reasoning_effort": "high",
        "stream": True,
        "stream_options": {"include_usage": True},
        "prompt_cache_key": "conv-1",
        "safety_identifier": "sid",
        "service_tier": "priority",
    }
    assert encoded.notes == (
        "dropped openai_responses fields chat completions does not take: include, text",
    )


def test_fm11_response_format_json_schema_default_name() -> None:
    fmt = ResponseFormat(kind="json_schema", schema={"type": "object"}, strict=True)
    body, _ = encode(request(dialect="anthropic_messages", response_format=fmt))
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}, "strict": True},
    }
    body, _ = encode(request(response_format=ResponseFormat(kind="json_object")))
    assert body["response_format"] == {"type": "json_object"}


# ----------------------------------------------------------------- fm14


def test_fm14_images_in_tool_results_are_hoisted_after_the_tool_run() -> None:
    req = request(
        HI,
        assistant(call("call_a", "screenshot", "{}"), call("call_b", "screenshot", "{}")),
        tool(
            result("call_a", TextPart(text="took it"), ImagePart(data=PNG, media_type="image/png")),
            result("call_b", ImagePart(url="https://x/b.png")),
        ),
        assistant(TextPart(text="I see a cat.")),
    )
    body, _ = encode(req)
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                wire_call("call_a", "screenshot", "{}"),
                wire_call("call_b", "screenshot", "{}"),
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "took it"},
        {
            "role": "tool",
            "tool_call_id": "call_b",
            "content": "(the output follows in the next user message)",
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool call call_a:"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "text", "text": "Images returned by tool call call_b:"},
                {"type": "image_url", "image_url": {"url": "https://x/b.png"}},
            ],
        },
        {"role": "assistant", "content": "I see a cat."},
    ]


def test_fm14_hoisted_images_merge_into_the_next_user_turn() -> None:
    # Claude Code's shape: one user turn with a tool_result (with a screenshot) and text.
    raw = {
        "model": "claude",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "shoot"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/jpeg",
                                    "data": "/9j/",
                                },
                            }
                        ],
                    },
                    {"type": "text", "text": "what is it?"},
                ],
            },
        ],
    }
    req = AnthropicMessagesFront().parse_request(json.dumps(raw).encode())
    body, _ = encode(req)
    assert body["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [wire_call("toolu_1", "shot", "{}")]},
        {
            "role": "tool",
            "tool_call_id": "toolu_1",
            "content": "(the output follows in the next user message)",
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool call toolu_1:"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
                {"type": "text", "text": "what is it?"},
            ],
        },
    ]
    roles = [m["role"] for m in body["messages"]]
    assert ("user", "user") not in itertools.pairwise(roles)


def test_fm14_images_hoisted_at_the_end_of_the_conversation() -> None:
    req = request(
        HI,
        assistant(call("c1")),
        tool(result("c1", ImagePart(url="https://x/i.png"), is_error=True)),
    )
    body, _ = encode(req)
    assert body["messages"][2:] == [
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": "Error: (the output follows in the next user message)",
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool call c1:"},
                {"type": "image_url", "image_url": {"url": "https://x/i.png"}},
            ],
        },
    ]


# ----------------------------------------------------------------- fm15


def test_fm15_null_content_for_tool_call_only_assistant_turns() -> None:
    req = request(
        HI,
        assistant(TextPart(text=""), call("c1", arguments="")),
        tool(result("c1", TextPart(text="sunny"))),
    )
    body, _ = encode(req)
    assert body["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [wire_call("c1", arguments="{}")],
    }
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}


def test_fm15_missing_result_inserted_before_the_next_turn() -> None:
    req = request(
        HI,
        assistant(TextPart(text="checking"), call("c1"), call("c2")),
        tool(result("c2", TextPart(text="rain"))),
        user(TextPart(text="and?")),
    )
    body, encoded = encode(req)
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": "checking",
            "tool_calls": [wire_call("c1"), wire_call("c2")],
        },
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
        {"role": "tool", "tool_call_id": "c1", "content": MISSING_RESULT},
        {"role": "user", "content": "and?"},
    ]
    assert encoded.notes == ("inserted a placeholder result for a tool call that had none",)


def test_fm15_missing_result_at_the_end_is_inserted_too() -> None:
    body, _ = encode(request(HI, assistant(call("c1"))))
    assert body["messages"][-1] == {"role": "tool", "tool_call_id": "c1", "content": MISSING_RESULT}


def test_fm15_orphan_and_duplicate_results_dropped() -> None:
    req = request(
        tool(result("ghost", TextPart(text="who called me?"))),
        HI,
        assistant(call("c1")),
        tool(result("c1", TextPart(text="one")), result("c1", TextPart(text="again"))),
    )
    body, encoded = encode(req)
    assert body["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [wire_call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
    ]
    assert encoded.notes == (
        "dropped tool result 'ghost': no call waiting for it",
        "dropped tool result 'c1': no call waiting for it",
    )


def test_fm15_repeated_ids_renamed_and_results_follow() -> None:
    req = request(
        HI,
        assistant(call("call_0"), call("call_0", arguments='{"city":"Rome"}')),
        tool(result("call_0", TextPart(text="p")), result("call_0", TextPart(text="r"))),
        assistant(call("call_0")),
        tool(result("call_0", TextPart(text="p2"))),
    )
    body, encoded = encode(req)
    assert [
        m.get("tool_call_id") or [c["id"] for c in m.get("tool_calls", [])]
        for m in body["messages"][1:]
    ] == [
        ["call_0", "call_0_2"],
        "call_0",
        "call_0_2",
        ["call_0_3"],
        "call_0_3",
    ]
    assert [m["content"] for m in body["messages"] if m["role"] == "tool"] == ["p", "r", "p2"]
    assert encoded.notes == ("renamed repeated tool call id 'call_0'",)


def test_fm15_long_ids_shortened_the_same_way_for_call_and_result() -> None:
    long_id = "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f"  # 53 chars, Responses-style
    req = request(HI, assistant(call(long_id)), tool(result(long_id, TextPart(text="ok"))))
    body, encoded = encode(req)
    short = fit_tool_id(long_id)
    assert len(short) == 40 and short == fit_tool_id(long_id) and short.startswith("call_")
    assert body["messages"][1]["tool_calls"][0]["id"] == short
    assert body["messages"][2] == {"role": "tool", "tool_call_id": short, "content": "ok"}
    assert encoded.notes == ("shortened tool call ids longer than 40 characters",)


def test_error_results_are_prefixed_once() -> None:
    req = request(
        HI,
        assistant(call("a"), call("b")),
        tool(
            result("a", TextPart(text="exit 1"), is_error=True),
            result("b", TextPart(text="Error: no such file"), is_error=True),
        ),
    )
    body, _ = encode(req)
    assert [m["content"] for m in body["messages"][2:]] == ["Error: exit 1", "Error: no such file"]


def test_a_results_text_parts_stay_separate_paragraphs() -> None:
    # Anthropic tool_result blocks, or the repeated-tool-call guard's note
    # after the tool's own output (docs/launchers.md: "after a blank line").
    req = request(
        HI,
        assistant(call("a")),
        tool(result("a", TextPart(text="a.txt"), TextPart(text="[tokligence gateway] Note"))),
    )
    body, _ = encode(req)
    assert body["messages"][2]["content"] == "a.txt\n\n[tokligence gateway] Note"


# ------------------------------------------------------------------ fm9


def test_fm9_custom_tools_downgraded_and_history_wrapped() -> None:
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
    patch = '*** Begin Patch\n*** Add File: a.txt\n+"hi" \\ there\n*** End Patch'
    req = request(
        user(TextPart(text="patch it")),
        assistant(ToolCallPart(id="call_p", name="apply_patch", arguments=patch, kind="custom")),
        tool(ToolResultPart(call_id="call_p", content=(TextPart(text="Done"),), kind="custom")),
        dialect="openai_responses",
        tools=(CustomTool(name="apply_patch", description="Edit files.", format=grammar),),
        tool_choice=ToolChoice(mode="tool", name="apply_patch"),
    )
    body, encoded = encode(req)
    assert encoded.custom_tools == frozenset({"apply_patch"})
    (fn,) = body["tools"]
    assert fn["function"]["name"] == "apply_patch"
    assert fn["function"]["parameters"] == {
        "type": "object",
        "properties": {"input": {"type": "string", "description": "The raw input text."}},
        "required": ["input"],
        "additionalProperties": False,
    }
    description = fn["function"]["description"]
    assert description.startswith("Edit files.\n\n") and "freeform" in description
    assert "lark grammar:\nstart: /.+/" in description
    assert body["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}
    sent = body["messages"][1]["tool_calls"][0]["function"]
    assert json.loads(sent["arguments"]) == {"input": patch}
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_p", "content": "Done"}


def test_fm9_chat_style_custom_grammar_is_described() -> None:
    fmt = {"type": "grammar", "grammar": {"syntax": "regex", "definition": "[a-z]+"}}
    body, _ = encode(request(tools=(CustomTool(name="word", format=fmt),)))
    assert "regex grammar:\n[a-z]+" in body["tools"][0]["function"]["description"]


# ------------------------------------------------------------ hosted tools


def test_hosted_tools_of_other_dialects_dropped_with_note_own_kept_verbatim() -> None:
    spec = {"type": "web_search", "filters": {"allowed_domains": ["x.org"]}}
    req = request(
        tools=(
            WEATHER,
            HostedTool(type="web_search", spec={"type": "web_search"}, dialect="openai_responses"),
            HostedTool(type="web_search", spec=spec, dialect="openai_chat"),
        )
    )
    body, encoded = encode(req)
    assert body["tools"] == [WEATHER_WIRE, spec]
    assert encoded.notes == ("dropped hosted tool web_search: openai_chat upstream cannot run it",)


def test_only_hosted_tools_means_no_tools_no_choice() -> None:
    req = request(
        dialect="anthropic_messages",
        tools=(HostedTool(type="web_search_20250305", spec={}, dialect="anthropic_messages"),),
        tool_choice=ToolChoice(mode="auto"),
        parallel_tool_calls=False,
    )
    body, _ = encode(req)
    assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body


def test_body_is_compact_utf8_and_keeps_line_separators() -> None:
    encoded = CODEC.encode(
        request(user(TextPart(text="a\u2028b é"))), EncodeOptions(model=MODEL, stream=False)
    )
    assert "a\u2028b é".encode() in encoded.body
    assert b": " not in encoded.body


def test_fm11_translated_sampling_is_dropped_for_reasoning_models() -> None:
    from tokligence.canonical import Message, Request, TextPart
    from tokligence.codecs.base import EncodeOptions
    from tokligence.codecs.openai_chat import OpenAIChatCodec

    request = Request(
        model="o3",
        dialect="anthropic_messages",
        messages=(Message(role="user", parts=(TextPart(text="hi"),)),),
        temperature=0.2,
        top_p=1.0,
    )
    codec = OpenAIChatCodec()
    reasoning = codec.encode(request, EncodeOptions(model="o3", stream=False, reasoning_model=True))
    body = json.loads(reasoning.body)
    assert "temperature" not in body and body["top_p"] == 1.0
    assert any("temperature" in note for note in reasoning.notes)
    plain = codec.encode(request, EncodeOptions(model="gpt-4o", stream=False))
    assert json.loads(plain.body)["temperature"] == 0.2
