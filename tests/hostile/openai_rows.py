"""Type tables of the OpenAI dialects: Chat Completions, Responses and
embeddings. One row per field: its dotted path, the wrong values, and what
the valid base body needs around it. The reference is the ``openai`` SDK's
request types (``openai/types/chat/completion_create_params.py``,
``openai/types/responses/response_create_params.py``,
``openai/types/embedding_create_params.py`` and the param types they name).
"""

from __future__ import annotations

from typing import Any

from .case import MISSING, PNG, UNKNOWN, Row, V


def chat_base(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


CHAT_TOOL = {
    "type": "function",
    "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
}
CHAT_TOOLS = {"tools": [CHAT_TOOL]}
CHAT_PARTS = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
CHAT_IMAGE = {
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
            ],
        }
    ]
}
CHAT_TURNS = {
    "messages": [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
    ],
    **CHAT_TOOLS,
}

CHAT_ROWS: tuple[Row, ...] = (
    ("model", (5, True, [], {}, None, "", MISSING), {}),
    ("messages", ("hi", {}, 5, None, [], MISSING), {}),
    ("messages.0", ("hi", 5, None, []), {}),
    ("messages.0.role", (5, None, V("robot", "unknown"), MISSING), {}),
    ("messages.0.content", (5, True, {}, None, MISSING), {}),
    ("messages.0.content.0", ("hi", 5, None), CHAT_PARTS),
    ("messages.0.content.0.type", (V(UNKNOWN, "unknown"), 5, None, MISSING), CHAT_PARTS),
    ("messages.0.content.0.text", (5, None, {}, MISSING), CHAT_PARTS),
    ("messages.0.content.0.image_url", ("https://x.test/a.png", 5, None), CHAT_IMAGE),
    ("messages.0.content.0.image_url.url", (5, None), CHAT_IMAGE),
    ("messages.0.content.0.image_url.detail", (V("extreme", "unknown"), 5), CHAT_IMAGE),
    ("messages.1.tool_calls", ("f", {}, 5), CHAT_TURNS),
    ("messages.1.tool_calls.0", ("f", None), CHAT_TURNS),
    ("messages.1.tool_calls.0.id", (5, MISSING), CHAT_TURNS),
    ("messages.1.tool_calls.0.type", (V(UNKNOWN, "unknown"), 5), CHAT_TURNS),
    ("messages.1.tool_calls.0.function", ("f", None, MISSING), CHAT_TURNS),
    ("messages.1.tool_calls.0.function.name", (5, MISSING), CHAT_TURNS),
    ("messages.1.tool_calls.0.function.arguments", ({}, 5, MISSING), CHAT_TURNS),
    ("messages.2.tool_call_id", (5, MISSING), CHAT_TURNS),
    ("messages.2.content", (5, {}), CHAT_TURNS),
    ("tools", ("f", {}, 5), CHAT_TOOLS),
    ("tools.0", ("f", 5, None), CHAT_TOOLS),
    ("tools.0.type", (V(UNKNOWN, "unknown"), 5, MISSING), CHAT_TOOLS),
    ("tools.0.function", ("f", None, MISSING), CHAT_TOOLS),
    (
        "tools.0.function.name",
        (5, None, MISSING, V("has space!", "pattern"), V("x" * 65, "too-long")),
        CHAT_TOOLS,
    ),
    ("tools.0.function.parameters", ("{}", [], 5), CHAT_TOOLS),
    ("tools.0.function.strict", ("yes",), CHAT_TOOLS),
    (
        "tool_choice",
        (
            5,
            V(UNKNOWN, "unknown"),
            [],
            V({"type": UNKNOWN}, "unknown-type", "tool_choice.type"),
            V({"type": "function"}, "no-function", "tool_choice.function"),
            V({"type": "function", "function": None}, "null-function", "tool_choice.function"),
            V({"type": "function", "function": {"name": 5}}, "int-name", "tool_choice.function"),
        ),
        CHAT_TOOLS,
    ),
    ("max_tokens", ("16", 1.5, 0, -1, True, []), {}),
    ("max_completion_tokens", ("16", -5, 2.5), {}),
    ("temperature", ("hot", True, [], V(2.5, "above-2"), V(-0.1, "below-0")), {}),
    ("top_p", ("x", V(1.5, "above-1"), V(-1.0, "below-0")), {}),
    ("n", ("1", 0, 1.5), {}),
    ("stream", ("yes", 1, {}), {}),
    ("stream_options", ("x", 5, []), {"stream": True}),
    ("stream_options.include_usage", ("yes",), {"stream": True, "stream_options": {}}),
    ("logit_bias", ("x", [], 5), {}),
    (
        "logit_bias.50256",
        ("x", V(1000, "above-100"), V(-101, "below-minus-100")),
        {"logit_bias": {}},
    ),
    ("metadata", ("x", [], 5), {}),
    ("metadata.k", (5, {}, []), {"metadata": {}}),
    ("stop", (5, [1], {}, V(["a", "b", "c", "d", "e"], "five")), {}),
    ("seed", ("x", 1.5, True), {}),
    ("presence_penalty", ("x", V(2.5, "above-2"), V(-3.0, "below-minus-2")), {}),
    ("frequency_penalty", ("x", V(3.0, "above-2")), {}),
    (
        "response_format",
        (
            "json",
            5,
            V({"type": UNKNOWN}, "unknown-type", "response_format.type"),
            V({"type": "json_schema"}, "no-schema", "response_format.json_schema"),
            V(
                {"type": "json_schema", "json_schema": {"schema": {}}},
                "no-name",
                "response_format.json_schema.name",
            ),
        ),
        {},
    ),
    ("parallel_tool_calls", ("yes", 5), CHAT_TOOLS),
    ("user", (5, {}), {}),
    ("reasoning_effort", (5, V("extreme", "unknown")), {}),
    ("functions", ("f", [5]), {}),
    ("functions.0.name", (5, MISSING), {"functions": [{"name": "f"}]}),
    ("function_call", (5, V(UNKNOWN, "unknown")), {"functions": [{"name": "f"}]}),
    ("logprobs", ("yes", 5), {}),
    ("top_logprobs", ("x", V(21, "above-20"), -1), {"logprobs": True}),
    ("modalities", ("text", V(["smell"], "unknown"), 5), {}),
    ("service_tier", (5, V(UNKNOWN, "unknown")), {}),
    ("prediction", ("x", 5), {}),
    ("audio", ("x", 5), {}),
    ("store", ("yes", 5), {}),
    ("verbosity", (V("extreme", "unknown"), 5), {}),
    ("web_search_options", ("x",), {}),
    ("safety_identifier", (5,), {}),
    ("prompt_cache_key", (5,), {}),
    # Streaming asked for: the refusal is still one JSON error, before any event.
    ("messages", (V("hi", "string-streaming"),), {"stream": True}),
    ("temperature", (V("hot", "string-streaming"),), {"stream": True}),
    ("tools.0.type", (V(UNKNOWN, "unknown-streaming"),), {**CHAT_TOOLS, "stream": True}),
)


def responses_base(model: str) -> dict[str, Any]:
    return {"model": model, "input": "hi"}


RESP_ITEMS = {"input": [{"role": "user", "content": "hi"}]}
RESP_PARTS = {"input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}
RESP_IMAGE = {
    "input": [
        {
            "role": "user",
            "content": [
                {
                    "type": "input_image",
                    "image_url": f"data:image/png;base64,{PNG}",
                    "detail": "auto",
                }
            ],
        }
    ]
}
RESP_CALLS = {
    "input": [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
    ]
}
RESP_REASONING = {
    "input": [
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "s"}]},
        {"role": "user", "content": "go on"},
    ]
}
RESP_TOOLS = {"tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]}

RESPONSES_ROWS: tuple[Row, ...] = (
    ("model", (5, None, "", MISSING, []), {}),
    ("input", (5, {}, True, None, MISSING, V(["hi"], "string-items", "input.0")), {}),
    ("input.0", (5, None, "hi"), RESP_ITEMS),
    # With neither a type nor a role, the item is what is wrong.
    ("input.0.role", (V("robot", "unknown"), 5, V(MISSING, names="input.0")), RESP_ITEMS),
    ("input.0.type", (V(UNKNOWN, "unknown"), 5), RESP_ITEMS),
    ("input.0.content", (5, None, MISSING, {}), RESP_ITEMS),
    ("input.0.content.0", ("hi", 5, None), RESP_PARTS),
    ("input.0.content.0.type", (V(UNKNOWN, "unknown"), 5, MISSING), RESP_PARTS),
    ("input.0.content.0.text", (5, MISSING, None), RESP_PARTS),
    ("input.0.content.0.image_url", (5, []), RESP_IMAGE),
    ("input.0.content.0.detail", (V("extreme", "unknown"), 5), RESP_IMAGE),
    ("input.1.call_id", (5, MISSING), RESP_CALLS),
    ("input.1.name", (5, MISSING), RESP_CALLS),
    ("input.1.arguments", ({}, 5, MISSING), RESP_CALLS),
    ("input.2.output", (5, {}, MISSING), RESP_CALLS),
    ("input.2.call_id", (MISSING, 5), RESP_CALLS),
    ("input.1.summary", ("s", 5), RESP_REASONING),
    ("input.1.summary.0.type", (V(UNKNOWN, "unknown"),), RESP_REASONING),
    ("instructions", (5, [], {}), {}),
    ("tools", ("f", 5, {}), RESP_TOOLS),
    ("tools.0", ("f", None), RESP_TOOLS),
    ("tools.0.type", (V(UNKNOWN, "unknown"), 5, MISSING), RESP_TOOLS),
    ("tools.0.name", (5, MISSING), RESP_TOOLS),
    ("tools.0.parameters", ("{}", []), RESP_TOOLS),
    ("tools.0.strict", ("yes",), RESP_TOOLS),
    (
        "tool_choice",
        (
            5,
            V(UNKNOWN, "unknown"),
            [],
            V({"type": UNKNOWN}, "unknown-type", "tool_choice.type"),
            V({"type": "function"}, "no-name", "tool_choice.name"),
        ),
        RESP_TOOLS,
    ),
    ("max_output_tokens", ("16", -1, 0, 1.5, True), {}),
    ("temperature", ("x", V(2.5, "above-2"), V(-1.0, "below-0"), True), {}),
    ("top_p", ("x", V(1.5, "above-1")), {}),
    ("stream", ("yes", 1), {}),
    ("stream_options", ("x",), {"stream": True}),
    ("stream_options.include_obfuscation", ("yes",), {"stream": True, "stream_options": {}}),
    ("reasoning", ("x", 5), {}),
    ("reasoning.effort", (5, V("extreme", "unknown")), {"reasoning": {}}),
    ("reasoning.summary", (5, V(UNKNOWN, "unknown")), {"reasoning": {}}),
    ("text", ("x", 5), {}),
    ("text.format", ("x",), {"text": {}}),
    ("text.format.type", (V(UNKNOWN, "unknown"), 5), {"text": {"format": {"type": "text"}}}),
    (
        "text.format.name",
        (MISSING, 5),
        {"text": {"format": {"type": "json_schema", "name": "n", "schema": {}}}},
    ),
    ("text.verbosity", (V("extreme", "unknown"), 5), {"text": {}}),
    ("metadata", ("x", [], 5), {}),
    ("metadata.k", (5, {}), {"metadata": {}}),
    ("store", ("yes", 5), {}),
    ("parallel_tool_calls", ("yes",), RESP_TOOLS),
    ("user", (5,), {}),
    ("previous_response_id", (5, []), {}),
    ("include", ("x", V([5], "int-item", "include.0"), V([UNKNOWN], "unknown", "include.0")), {}),
    ("truncation", (V(UNKNOWN, "unknown"), 5), {}),
    ("service_tier", (V(UNKNOWN, "unknown"), 5), {}),
    ("top_logprobs", ("x", V(21, "above-20")), {}),
    ("max_tool_calls", ("x", -1), {}),
    ("background", ("yes",), {}),
    ("prompt_cache_key", (5,), {}),
    ("safety_identifier", (5,), {}),
    ("conversation", (5,), {}),
    ("prompt", (5,), {}),
    ("input", (V(5, "int-streaming"),), {"stream": True}),
    ("input.0.type", (V(UNKNOWN, "unknown-streaming"),), {**RESP_ITEMS, "stream": True}),
    ("tools.0.type", (V(UNKNOWN, "unknown-streaming"),), {**RESP_TOOLS, "stream": True}),
)


def embeddings_base(model: str) -> dict[str, Any]:
    return {"model": model, "input": "hi"}


EMBEDDINGS_ROWS: tuple[Row, ...] = (
    ("model", (5, None, MISSING, ""), {}),
    (
        "input",
        (
            5,
            None,
            MISSING,
            "",
            [],
            {},
            True,
            V([""], "empty-item", "input.0"),
            V([5.5], "float-item", "input"),
            V([None], "null-item", "input.0"),
            V([[]], "empty-tokens", "input.0"),
            V([[1, "a"]], "mixed-tokens", "input.0"),
        ),
        {},
    ),
    ("encoding_format", (V(UNKNOWN, "unknown"), 5), {}),
    ("dimensions", ("x", 0, -1, 1.5), {}),
    ("user", (5,), {}),
)
