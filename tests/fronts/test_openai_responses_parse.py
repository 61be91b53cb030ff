"""Table-driven tests of OpenAI Responses request parsing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tokligence.canonical import (
    CustomTool,
    DocumentPart,
    FunctionTool,
    HostedTool,
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
from tokligence.fronts.openai_responses import OpenAIResponsesFront
from tokligence.fronts.openai_responses_tools import NAMESPACE_KEY

FRONT = OpenAIResponsesFront()

SHELL_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "shell",
    "description": "Runs a shell command and returns its output.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "array", "items": {"type": "string"}}},
        "required": ["command"],
        "additionalProperties": False,
    },
}
APPLY_PATCH_TOOL: dict[str, Any] = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Use the `apply_patch` tool to edit files.",
    "format": {
        "type": "grammar",
        "syntax": "lark",
        "definition": 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF',
    },
}
NAMESPACE_TOOL: dict[str, Any] = {
    "type": "namespace",
    "name": "mcp__github__",
    "description": "GitHub tools",
    "tools": [{"type": "function", "name": "list_prs", "parameters": {"type": "object"}}],
}
WEB_SEARCH_TOOL = {"type": "web_search", "external_web_access": False}
PATCH = "*** Begin Patch\n*** Update File: a.py\n@@\n-print('x')\n+print(\"y\")\n*** End Patch"

# The shape Codex CLI sends on its second turn (docs/protocols.md §3).
CODEX_BODY: dict[str, Any] = {
    "model": "gpt-5-codex",
    "instructions": "You are Codex, a coding agent.",
    "input": [
        {
            "type": "message",
            "role": "developer",
            "content": [
                {"type": "input_text", "text": "<permissions>workspace-write</permissions>"}
            ],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
        {
            "type": "reasoning",
            "id": "rs_01",
            "summary": [{"type": "summary_text", "text": "**Inspecting files**"}],
            "content": None,
            "encrypted_content": "gAAAAABopaque==",
        },
        {
            "type": "function_call",
            "id": "fc_01",
            "call_id": "call_A",
            "name": "shell",
            "arguments": '{"command":["rg","-n","TODO"]}',
        },
        {"type": "function_call_output", "call_id": "call_A", "output": "a.py:1:# TODO"},
        {
            "type": "custom_tool_call",
            "id": "ctc_01",
            "call_id": "call_B",
            "name": "apply_patch",
            "input": PATCH,
            "status": "completed",
        },
        {"type": "custom_tool_call_output", "call_id": "call_B", "output": "Done!"},
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_01",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Fixed.", "annotations": []}],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "thanks"}]},
    ],
    "tools": [SHELL_TOOL, APPLY_PATCH_TOOL, NAMESPACE_TOOL, WEB_SEARCH_TOOL],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "store": False,
    "stream": True,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "0199a7c3-session",
    "text": {"verbosity": "low"},
}

CODEX_EXPECTED = Request(
    model="gpt-5-codex",
    dialect="openai_responses",
    system=(TextPart(text="You are Codex, a coding agent."),),
    messages=(
        Message(
            role="developer", parts=(TextPart(text="<permissions>workspace-write</permissions>"),)
        ),
        Message(role="user", parts=(TextPart(text="fix it"),)),
        Message(
            role="assistant",
            parts=(
                ReasoningPart(
                    summary=("**Inspecting files**",),
                    encrypted_content="gAAAAABopaque==",
                    id="rs_01",
                    vendor="openai",
                ),
                ToolCallPart(
                    id="call_A",
                    item_id="fc_01",
                    name="shell",
                    arguments='{"command":["rg","-n","TODO"]}',
                ),
            ),
        ),
        Message(
            role="tool",
            parts=(ToolResultPart(call_id="call_A", content=(TextPart(text="a.py:1:# TODO"),)),),
        ),
        Message(
            role="assistant",
            parts=(
                ToolCallPart(
                    id="call_B",
                    item_id="ctc_01",
                    name="apply_patch",
                    arguments=PATCH,
                    kind="custom",
                    extra={"status": "completed"},
                ),
            ),
        ),
        Message(
            role="tool",
            parts=(
                ToolResultPart(call_id="call_B", content=(TextPart(text="Done!"),), kind="custom"),
            ),
        ),
        Message(
            role="assistant",
            parts=(
                TextPart(
                    text="Fixed.",
                    extra={"annotations": [], "item": {"id": "msg_01", "status": "completed"}},
                ),
            ),
        ),
        Message(role="user", parts=(TextPart(text="thanks"),)),
    ),
    tools=(
        FunctionTool(
            name="shell",
            description="Runs a shell command and returns its output.",
            parameters=SHELL_TOOL["parameters"],
            strict=False,
        ),
        CustomTool(
            name="apply_patch",
            description="Use the `apply_patch` tool to edit files.",
            format=APPLY_PATCH_TOOL["format"],
        ),
        # Namespace members are flattened (openai_responses_tools).
        FunctionTool(
            name="mcp__github____list_prs",
            parameters={"type": "object"},
            extra={
                NAMESPACE_KEY: {
                    "namespace": "mcp__github__",
                    "name": "list_prs",
                    "description": "GitHub tools",
                }
            },
        ),
        HostedTool(type="web_search", spec=WEB_SEARCH_TOOL, dialect="openai_responses"),
    ),
    tool_choice=ToolChoice(mode="auto"),
    parallel_tool_calls=False,
    stream=True,
    include_usage=True,
    reasoning=ReasoningConfig(effort="medium", summary="auto"),
    store=False,
    extra={
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199a7c3-session",
        "text": {"verbosity": "low"},
    },
)


def test_codex_request() -> None:
    assert FRONT.parse_request(json.dumps(CODEX_BODY).encode()) == CODEX_EXPECTED


def parse(body: dict[str, Any]) -> Request:
    return FRONT.parse_request(json.dumps({"model": "gpt-5", "input": "hi", **body}).encode())


def len_messages(request: Request) -> int:
    return len(request.messages)


def items(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"input": list(entries)}


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(parts)}


def call(call_id: str, name: str = "f", arguments: str = "{}") -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def output(call_id: str, value: Any = "ok") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": value}


def first_part(r: Request) -> Any:
    return r.messages[0].parts[0]


def roles(r: Request) -> list[tuple[str, int]]:
    return [(m.role, len(m.parts)) for m in r.messages]


PNG = "iVBORw0KGgo="

VALID: list[tuple[str, dict[str, Any], Callable[[Request], Any], Any]] = [
    # ---- input forms
    (
        "string input is one user message",
        {"input": "hello"},
        lambda r: r.messages,
        (Message(role="user", parts=(TextPart(text="hello"),)),),
    ),
    (
        "no input (previous_response_id supplies it)",
        {"input": None, "previous_response_id": "resp_1"},
        lambda r: r.messages,
        (),
    ),
    ("no input (conversation supplies it)", {"input": None, "conversation": "c"}, len_messages, 0),
    ("no input (a prompt supplies it)", {"input": None, "prompt": {"id": "p"}}, len_messages, 0),
    (
        "message item without type, string content",
        items({"role": "system", "content": "be brief"}),
        lambda r: r.messages,
        (Message(role="system", parts=(TextPart(text="be brief"),)),),
    ),
    (
        "unknown fields of a user message item carried in message extra",
        items({"type": "message", "role": "user", "content": "x", "id": "m1", "phase": "final"}),
        lambda r: r.messages[0].extra,
        {"id": "m1", "phase": "final"},
    ),
    (
        "instructions become the request system prompt",
        {"instructions": "be terse", "input": "hi"},
        lambda r: (r.system, r.messages[0].role),
        ((TextPart(text="be terse"),), "user"),
    ),
    # ---- run merging
    (
        "assistant text, reasoning and two calls merge into one assistant message",
        items(
            user({"type": "input_text", "text": "q"}),
            {"role": "assistant", "content": "let me look"},
            {"type": "reasoning", "summary": []},
            call("c1"),
            call("c2"),
            output("c1"),
            output("c2"),
            user({"type": "input_text", "text": "next"}),
        ),
        roles,
        [("user", 1), ("assistant", 4), ("tool", 2), ("user", 1)],
    ),
    (
        "tool outputs are split by an assistant item",
        items(call("c1"), output("c1"), call("c2"), output("c2")),
        roles,
        [("assistant", 1), ("tool", 1), ("assistant", 1), ("tool", 1)],
    ),
    (
        "consecutive user messages stay separate",
        items({"role": "user", "content": "a"}, {"role": "user", "content": "b"}),
        roles,
        [("user", 1), ("user", 1)],
    ),
    # ---- content parts
    (
        "image by URL with detail",
        items(user({"type": "input_image", "image_url": "https://x/y.png", "detail": "high"})),
        first_part,
        ImagePart(url="https://x/y.png", detail="high"),
    ),
    (
        "image as data URL becomes inline base64",
        items(user({"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"})),
        first_part,
        ImagePart(data=PNG, media_type="image/png"),
    ),
    (
        "image by file id kept as a tagged file reference",
        items(user({"type": "input_image", "file_id": "file-1", "detail": "auto"})),
        first_part,
        DocumentPart(
            source_type="file", data="file-1", extra={"type": "input_image", "detail": "auto"}
        ),
    ),
    (
        "file as data URL",
        items(
            user(
                {
                    "type": "input_file",
                    "filename": "a.pdf",
                    "file_data": "data:application/pdf;base64,JVBERi0=",
                }
            )
        ),
        first_part,
        DocumentPart(
            source_type="base64", data="JVBERi0=", media_type="application/pdf", filename="a.pdf"
        ),
    ),
    (
        "file by URL and by id",
        items(
            user(
                {"type": "input_file", "file_url": "https://x/a.pdf"},
                {"type": "input_file", "file_id": "file-9", "filename": "b.txt"},
            )
        ),
        lambda r: r.messages[0].parts,
        (
            DocumentPart(source_type="url", data="https://x/a.pdf"),
            DocumentPart(source_type="file", data="file-9", filename="b.txt"),
        ),
    ),
    (
        "assistant refusal part is text tagged refusal",
        items({"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}),
        first_part,
        TextPart(text="no", extra={"type": "refusal"}),
    ),
    (
        "tool output as an array of parts, image included",
        items(
            call("c1"),
            output(
                "c1",
                [
                    {"type": "input_text", "text": "screenshot:"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                ],
            ),
        ),
        lambda r: r.messages[1].parts[0],
        ToolResultPart(
            call_id="c1",
            content=(TextPart(text="screenshot:"), ImagePart(data=PNG, media_type="image/png")),
        ),
    ),
    (
        "raw reasoning content joins into text; unknown fields kept",
        items(
            {
                "type": "reasoning",
                "id": "rs_9",
                "summary": [{"type": "summary_text", "text": "s1"}],
                "content": [{"type": "reasoning_text", "text": "think"}],
                "status": "completed",
            }
        ),
        first_part,
        ReasoningPart(
            text="think",
            summary=("s1",),
            id="rs_9",
            vendor="openai",
            extra={"status": "completed"},
        ),
    ),
    (
        "other item types are carried in the assistant run, with their position",
        items(
            call("c1"),
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "item_reference", "id": "msg_7"},
        ),
        lambda r: (roles(r), r.messages[0].extra),
        (
            [("assistant", 1)],
            {
                "responses_items": (
                    {
                        "index": 1,
                        "item": {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                    },
                    {"index": 1, "item": {"type": "item_reference", "id": "msg_7"}},
                )
            },
        ),
    ),
    # ---- tools and tool choice
    (
        "function tool extra fields carried",
        {"tools": [{**SHELL_TOOL, "defer_loading": True}]},
        lambda r: r.tools[0].extra,  # type: ignore[union-attr]
        {"defer_loading": True},
    ),
    (
        "tool_choice required",
        {"tool_choice": "required"},
        lambda r: r.tool_choice,
        ToolChoice(mode="required"),
    ),
    ("tool_choice none", {"tool_choice": "none"}, lambda r: r.tool_choice, ToolChoice(mode="none")),
    (
        "tool_choice named function",
        {"tool_choice": {"type": "function", "name": "shell"}},
        lambda r: r.tool_choice,
        ToolChoice(mode="tool", name="shell"),
    ),
    (
        "tool_choice named custom tool",
        {"tool_choice": {"type": "custom", "name": "apply_patch"}},
        lambda r: r.tool_choice,
        ToolChoice(mode="tool", name="apply_patch"),
    ),
    (
        "tool_choice allowed_tools carried in extra",
        {"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}},
        lambda r: (r.tool_choice, r.extra["tool_choice"]),
        (None, {"type": "allowed_tools", "mode": "auto", "tools": []}),
    ),
    # ---- settings
    (
        "sampling and limits",
        {"max_output_tokens": 512, "temperature": 1, "top_p": 0.5},
        lambda r: (r.max_tokens, r.temperature, r.top_p),
        (512, 1.0, 0.5),
    ),
    (
        "json_schema text format, whole text carried",
        {
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "answer",
                    "schema": {"type": "object"},
                    "strict": True,
                },
                "verbosity": "high",
            }
        },
        lambda r: (r.response_format, r.extra["text"]["verbosity"]),
        (
            ResponseFormat(
                kind="json_schema", name="answer", schema={"type": "object"}, strict=True
            ),
            "high",
        ),
    ),
    (
        "json_object text format",
        {"text": {"format": {"type": "json_object"}}},
        lambda r: r.response_format,
        ResponseFormat(kind="json_object"),
    ),
    (
        "reasoning: unknown keys kept",
        {"reasoning": {"effort": "high", "generate_summary": "concise"}},
        lambda r: r.reasoning,
        ReasoningConfig(effort="high", extra={"generate_summary": "concise"}),
    ),
    (
        "store, stream default, metadata, user; usage always included",
        {"store": True, "metadata": {"k": "v"}, "user": "u1"},
        lambda r: (r.store, r.stream, r.metadata, r.user, r.include_usage),
        (True, False, {"k": "v"}, "u1", True),
    ),
    (
        "a hosted tool of a newer dated version passes, carried whole",
        {"tools": [{"type": "web_search_preview_2031_01_01"}]},
        lambda r: r.tools,
        (
            HostedTool(
                type="web_search_preview_2031_01_01",
                spec={"type": "web_search_preview_2031_01_01"},
                dialect="openai_responses",
            ),
        ),
    ),
    (
        "items of the SDK's other types are carried",
        items({"type": "item_reference", "id": "msg_1"}, {"type": "compaction", "id": "c"}),
        lambda r: [c["item"]["type"] for c in r.messages[0].extra["responses_items"]],
        ["item_reference", "compaction"],
    ),
    (
        "stateful and service fields carried verbatim",
        {
            "previous_response_id": "resp_1",
            "truncation": "auto",
            "service_tier": "flex",
            "safety_identifier": "h1",
            "background": False,
            "conversation": {"id": "conv_1"},
        },
        lambda r: r.extra,
        {
            "previous_response_id": "resp_1",
            "truncation": "auto",
            "service_tier": "flex",
            "safety_identifier": "h1",
            "background": False,
            "conversation": {"id": "conv_1"},
        },
    ),
]


@pytest.mark.parametrize(
    ("body", "get", "expected"), [v[1:] for v in VALID], ids=[v[0] for v in VALID]
)
def test_valid(body: dict[str, Any], get: Callable[[Request], Any], expected: Any) -> None:
    assert get(parse(body)) == expected


INVALID: list[tuple[str, bytes | dict[str, Any], str | None, str]] = [
    ("empty body", b"", None, "empty"),
    ("not an object", b"[1]", None, "JSON object"),
    ("not JSON", b"{model:", None, "not valid JSON"),
    ("missing model", {"input": "hi"}, "model", "required"),
    ("model not a string", {"model": 5, "input": "hi"}, "model", "string"),
    ("input a number", {"input": 3}, "input", "string or an array"),
    ("item not an object", {"input": ["hi"]}, "input[0]", "object"),
    ("item with neither type nor role", {"input": [{"content": "x"}]}, "input[0].type", "role"),
    ("unknown role", {"input": [{"role": "tool", "content": "x"}]}, "input[0].role", "'tool'"),
    ("message without content", {"input": [{"role": "user"}]}, "input[0].content", "required"),
    (
        "message content a number",
        {"input": [{"role": "user", "content": 1}]},
        "input[0].content",
        "string or an array",
    ),
    (
        "unknown content part type",
        {"input": [user({"type": "input_audio", "input_audio": {}})]},
        "input[0].content[0].type",
        "not a supported content part type",
    ),
    (
        "text part without text",
        {"input": [user({"type": "input_text"})]},
        "input[0].content[0].text",
        "required",
    ),
    (
        "image without url or file id",
        {"input": [user({"type": "input_image", "detail": "auto"})]},
        "input[0].content[0].image_url",
        "image_url",
    ),
    (
        "file without data, url or id",
        {"input": [user({"type": "input_file", "filename": "a"})]},
        "input[0].content[0].file_data",
        "file_data",
    ),
    (
        "function_call_output without call_id",
        {"input": [{"type": "function_call_output", "output": "x"}]},
        "input[0].call_id",
        "required",
    ),
    (
        "function_call_output output a number",
        {"input": [output("c1", 7)]},
        "input[0].output",
        "string or an array",
    ),
    (
        "function_call arguments as an object",
        {"input": [{**call("c1"), "arguments": {"a": 1}}]},
        "input[0].arguments",
        "string",
    ),
    (
        "custom_tool_call without input",
        {"input": [{"type": "custom_tool_call", "call_id": "c", "name": "apply_patch"}]},
        "input[0].input",
        "required",
    ),
    (
        "reasoning summary of the wrong type",
        {"input": [{"type": "reasoning", "summary": [{"type": "text", "text": "x"}]}]},
        "input[0].summary[0].type",
        "summary_text",
    ),
    ("instructions an array", {"instructions": ["x"]}, "instructions", "string"),
    ("tools an object", {"tools": {"type": "function"}}, "tools", "array"),
    ("tool without type", {"tools": [{"name": "f"}]}, "tools[0].type", "required"),
    ("function tool without name", {"tools": [{"type": "function"}]}, "tools[0].name", "required"),
    ("tool_choice unknown mode", {"tool_choice": "any"}, "tool_choice", "'any'"),
    (
        "tool_choice function without name",
        {"tool_choice": {"type": "function"}},
        "tool_choice.name",
        "required",
    ),
    ("tool_choice a number", {"tool_choice": 1}, "tool_choice", "string or an object"),
    ("max_output_tokens zero", {"max_output_tokens": 0}, "max_output_tokens", "at least 1"),
    ("temperature a string", {"temperature": "hot"}, "temperature", "number"),
    ("stream a string", {"stream": "yes"}, "stream", "boolean"),
    ("reasoning effort a number", {"reasoning": {"effort": 3}}, "reasoning.effort", "string"),
    ("text format unknown", {"text": {"format": {"type": "xml"}}}, "text.format.type", "'xml'"),
    (
        "json_schema without schema",
        {"text": {"format": {"type": "json_schema", "name": "n"}}},
        "text.format.schema",
        "required",
    ),
    (
        "include entry not a string",
        {"include": ["reasoning.encrypted_content", 1]},
        "include[1]",
        "string",
    ),
    (
        "previous_response_id a number",
        {"previous_response_id": 1},
        "previous_response_id",
        "string",
    ),
    ("metadata a list", {"metadata": ["k"]}, "metadata", "object"),
    ("metadata value not a string", {"metadata": {"k": 1}}, "metadata.k", "string"),
    ("metadata of 17 pairs", {"metadata": {f"k{i}": "" for i in range(17)}}, "metadata", "16"),
    ("metadata value of 513", {"metadata": {"k": "v" * 513}}, "metadata.k", "512"),
    ("input missing", {"model": "gpt-5"}, "input", "previous_response_id"),
    ("input null", {"input": None, "store": True}, "input", "required"),
    ("unknown item type", {"input": [{"type": "telepathy"}]}, "input[0].type", "input item"),
    ("unknown tool type", {"tools": [{"type": "teleport"}]}, "tools[0].type", "tool type"),
    (
        "unknown tool_choice type",
        {"tool_choice": {"type": "teleport"}},
        "tool_choice.type",
        "tool_choice type",
    ),
    ("include unknown", {"include": ["everything"]}, "include[0]", "encrypted_content"),
    ("truncation unknown", {"truncation": "middle"}, "truncation", "auto, disabled"),
    ("service_tier unknown", {"service_tier": "gold"}, "service_tier", "ultrafast"),
    ("top_logprobs above 20", {"top_logprobs": 21}, "top_logprobs", "between 0 and 20"),
    ("max_tool_calls negative", {"max_tool_calls": -1}, "max_tool_calls", "at least 0"),
    ("background a string", {"background": "yes"}, "background", "boolean"),
    ("conversation a number", {"conversation": 5}, "conversation", "a string or an object"),
    ("prompt a string", {"prompt": "p"}, "prompt", "object"),
    ("safety_identifier a number", {"safety_identifier": 5}, "safety_identifier", "string"),
    (
        "stream_options.include_obfuscation a string",
        {"stream_options": {"include_obfuscation": "no"}},
        "stream_options.include_obfuscation",
        "boolean",
    ),
    ("text verbosity unknown", {"text": {"verbosity": "loud"}}, "text.verbosity", "low"),
    ("reasoning effort unknown", {"reasoning": {"effort": "max!"}}, "reasoning.effort", "xhigh"),
    ("reasoning summary unknown", {"reasoning": {"summary": "all"}}, "reasoning.summary", "auto"),
    ("temperature above 2", {"temperature": 2.1}, "temperature", "between 0 and 2"),
    ("top_p below 0", {"top_p": -0.1}, "top_p", "between 0 and 1"),
    (
        "image detail unknown",
        {"input": [user({"type": "input_image", "image_url": "https://x", "detail": "max"})]},
        "input[0].content[0].detail",
        "original",
    ),
]


@pytest.mark.parametrize(
    ("body", "param", "fragment"), [v[1:] for v in INVALID], ids=[v[0] for v in INVALID]
)
def test_invalid(body: bytes | dict[str, Any], param: str | None, fragment: str) -> None:
    if isinstance(body, dict):
        defaults = {"model": "gpt-5", "input": "hi"}
        body = json.dumps({k: v for k, v in defaults.items() if k != param} | body).encode()
    with pytest.raises(GatewayError) as info:
        FRONT.parse_request(body)
    error = info.value
    assert (error.status, error.kind, error.param) == (400, "invalid_request", param)
    assert fragment in error.message


def test_long_client_tokens_are_not_echoed_whole() -> None:
    with pytest.raises(GatewayError) as info:
        parse({"tool_choice": "x" * 5000})
    assert len(info.value.message) < 200
