"""Type tables of the Anthropic dialect: Messages and ``count_tokens``. One
row per field: its dotted path, the wrong values, and what the valid base
body needs around it. The reference is the ``anthropic`` SDK's request
types (``anthropic/types/message_create_params.py``,
``message_count_tokens_params.py`` and the param types they name).
"""

from __future__ import annotations

from typing import Any

from .case import MISSING, PNG, UNKNOWN, Row, V


def messages_base(model: str) -> dict[str, Any]:
    return {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


MSG_PARTS = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
MSG_IMAGE = {
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                }
            ],
        }
    ]
}
MSG_TOOL = {"name": "f", "input_schema": {"type": "object", "properties": {}}}
MSG_TOOLS = {"tools": [MSG_TOOL]}
MSG_TURNS: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
        },
    ],
    **MSG_TOOLS,
}
MSG_THINKING = {
    "messages": [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "hmm", "signature": "c2ln"}],
        },
        {"role": "user", "content": "go on"},
    ]
}
MSG_BUDGET = {"max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024}}
MSG_ASSISTANT_PARTS = {
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "x"}]},
    ]
}
MSG_RESULT_BLOCKS = {
    **MSG_TURNS,
    "messages": [
        *MSG_TURNS["messages"][:2],
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "text", "text": "ok"}],
                }
            ],
        },
    ],
}
TOOL_USE = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
TOOL_RESULT = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}

MESSAGES_ROWS: tuple[Row, ...] = (
    ("model", (5, None, "", MISSING, []), {}),
    ("max_tokens", ("16", 1.5, 0, -1, None, MISSING, True), {}),
    ("messages", ("hi", {}, None, [], MISSING, 5), {}),
    ("messages.0", ("hi", None, 5, []), {}),
    # "system" is a role of MessageParam (SystemMessageParam, text blocks only):
    # Claude Code sends it mid-conversation, so it is no wrong value.
    ("messages.0.role", (V("robot", "unknown"), 5, MISSING), {}),
    ("messages.0.content", (5, None, {}, MISSING, True), {}),
    ("messages.0.content.0", ("hi", None, 5), MSG_PARTS),
    ("messages.0.content.0.type", (V(UNKNOWN, "unknown"), 5, MISSING, None), MSG_PARTS),
    ("messages.0.content.0.text", (5, None, MISSING, {}), MSG_PARTS),
    ("messages.0.content.0.cache_control", ("x", V({"type": UNKNOWN}, "unknown-type")), MSG_PARTS),
    ("messages.0.content.0.source", ("x", None, MISSING), MSG_IMAGE),
    ("messages.0.content.0.source.type", (V(UNKNOWN, "unknown"), 5), MSG_IMAGE),
    (
        "messages.0.content.0.source.media_type",
        (V("image/bogus", "unknown"), 5, MISSING),
        MSG_IMAGE,
    ),
    ("messages.0.content.0.source.data", (5, MISSING), MSG_IMAGE),
    ("messages.0.content.0", (V(TOOL_USE, "tool-use-in-user"),), MSG_PARTS),
    ("messages.1.content.0", (V(TOOL_RESULT, "tool-result-in-assistant"),), MSG_ASSISTANT_PARTS),
    ("messages.1.content.0.input", ("{}", [], 5), MSG_TURNS),
    ("messages.1.content.0.id", (5, MISSING), MSG_TURNS),
    ("messages.1.content.0.name", (5, MISSING), MSG_TURNS),
    ("messages.2.content.0.tool_use_id", (5, MISSING), MSG_TURNS),
    ("messages.2.content.0.is_error", ("yes",), MSG_TURNS),
    ("messages.2.content.0.content", (5, {}), MSG_TURNS),
    ("messages.2.content.0.content.0.type", (V(UNKNOWN, "unknown"),), MSG_RESULT_BLOCKS),
    ("messages.1.content.0.thinking", (5, MISSING), MSG_THINKING),
    ("messages.1.content.0.signature", (5,), MSG_THINKING),
    (
        "system",
        (
            5,
            {},
            V([5], "int-block", "system.0"),
            V([{"type": "image"}], "image-block", "system.0.type"),
            V([{"type": "text", "text": 5}], "int-text", "system.0.text"),
            V([{"type": "text"}], "no-text", "system.0.text"),
        ),
        {},
    ),
    ("temperature", ("x", V(1.5, "above-1"), V(-0.5, "below-0"), True), {}),
    ("top_p", ("x", V(1.5, "above-1")), {}),
    ("top_k", ("x", -1, 1.5), {}),
    ("stop_sequences", ("stop", V([5], "int-item", "stop_sequences.0"), 5, {}), {}),
    ("stream", ("yes", 1), {}),
    ("metadata", ("x", [], 5), {}),
    ("metadata.user_id", (5, {}), {"metadata": {}}),
    ("metadata.bogus_key", (V("x", "unknown-key"),), {"metadata": {}}),
    ("thinking", ("x", 5, []), {}),
    ("thinking.type", (V(UNKNOWN, "unknown"), 5, MISSING), {"thinking": {"type": "disabled"}}),
    (
        "thinking.budget_tokens",
        ("x", MISSING, 0, 1.5, V(100, "below-1024"), V(4096, "above-max-tokens")),
        MSG_BUDGET,
    ),
    ("tools", ("x", {}, 5), MSG_TOOLS),
    ("tools.0", ("x", None, 5), MSG_TOOLS),
    ("tools.0.name", (5, MISSING, None), MSG_TOOLS),
    ("tools.0.input_schema", ("x", MISSING, [], None), MSG_TOOLS),
    ("tools.0.type", (V(UNKNOWN, "unknown"),), MSG_TOOLS),
    ("tools.0.description", (5,), MSG_TOOLS),
    ("tools.0.cache_control", ("x",), MSG_TOOLS),
    ("tool_choice", (V("auto", "string"), 5, []), MSG_TOOLS),
    (
        "tool_choice.type",
        (V(UNKNOWN, "unknown"), 5, MISSING),
        {**MSG_TOOLS, "tool_choice": {"type": "auto"}},
    ),
    ("tool_choice.name", (MISSING, 5), {**MSG_TOOLS, "tool_choice": {"type": "tool", "name": "f"}}),
    (
        "tool_choice.disable_parallel_tool_use",
        ("yes",),
        {**MSG_TOOLS, "tool_choice": {"type": "auto"}},
    ),
    ("service_tier", (V(UNKNOWN, "unknown"), 5), {}),
    ("output_config", ("x", 5), {}),
    ("output_config.effort", (5, V("extreme", "unknown")), {"output_config": {}}),
    ("output_config.format", ("x",), {"output_config": {}}),
    (
        "output_config.format.type",
        (V(UNKNOWN, "unknown"),),
        {"output_config": {"format": {"type": "json_schema", "schema": {}}}},
    ),
    ("container", (5,), {}),
    ("speed", (V(UNKNOWN, "unknown"),), {}),
    ("inference_geo", (5,), {}),
    ("max_tokens", (V("16", "string-streaming"),), {"stream": True}),
    (
        "messages.0.content.0.type",
        (V(UNKNOWN, "unknown-streaming"),),
        {**MSG_PARTS, "stream": True},
    ),
    ("tools.0.type", (V(UNKNOWN, "unknown-streaming"),), {**MSG_TOOLS, "stream": True}),
)


def count_tokens_base(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


COUNT_TOKENS_ROWS: tuple[Row, ...] = (
    ("model", (5, MISSING, ""), {}),
    ("messages", ("hi", MISSING, []), {}),
    ("messages.0.role", (V("robot", "unknown"),), {}),
    ("messages.0.content", (5, None), {}),
    ("messages.0.content.0.type", (V(UNKNOWN, "unknown"),), MSG_PARTS),
    ("system", (5, V([5], "int-block", "system.0")), {}),
    ("tools", ("x",), MSG_TOOLS),
    ("tools.0.name", (5,), MSG_TOOLS),
    (
        "tool_choice",
        (V("auto", "string"), V({"type": UNKNOWN}, "unknown-type", "tool_choice.type")),
        MSG_TOOLS,
    ),
    ("thinking.type", (V(UNKNOWN, "unknown"),), {"thinking": {"type": "disabled"}}),
    (
        "thinking.budget_tokens",
        (MISSING, "x"),
        {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    ),
)
