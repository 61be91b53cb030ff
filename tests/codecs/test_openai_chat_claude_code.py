"""Claude Code's Anthropic fields -> an OpenAI Chat body, one rule per test
(the table in docs/claude-code.md). The whole recorded request is replayed
end to end in tests/translation/test_e2e_claude_code.py."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tokligence.codecs.base import Encoded, EncodeOptions
from tokligence.codecs.openai_chat import OpenAIChatCodec
from tokligence.codecs.openai_chat_encode import MAX_END_USER_ID, end_user_id
from tokligence.fronts.anthropic_messages import AnthropicMessagesFront

CODEC = OpenAIChatCodec()
FRONT = AnthropicMessagesFront()
SESSION_USER_ID = json.dumps(
    {
        "device_id": "0" * 64,
        "account_uuid": "",
        "session_id": "00000000-0000-4000-8000-000000000000",
    },
    separators=(",", ":"),
)


def encode(reasoning_model: bool = True, **fields: Any) -> tuple[dict[str, Any], Encoded]:
    raw = {
        "model": "claude-opus-5-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        **fields,
    }
    request = FRONT.parse_request(json.dumps(raw).encode())
    options = EncodeOptions(model="gpt-5", stream=True, reasoning_model=reasoning_model)
    encoded = CODEC.encode(request, options)
    return json.loads(encoded.body), encoded


@pytest.mark.parametrize(
    ("effort", "sent"),
    [("low", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "high"), ("max", "high")],
)
def test_adaptive_thinking_takes_its_effort_from_output_config(effort: str, sent: str) -> None:
    body, encoded = encode(
        thinking={"type": "adaptive", "display": "omitted"}, output_config={"effort": effort}
    )
    assert body["reasoning_effort"] == sent
    assert ("sent effort" in " ".join(encoded.notes)) == (effort != sent)


def test_adaptive_thinking_without_effort_leaves_the_upstreams_default() -> None:
    body, encoded = encode(thinking={"type": "adaptive"})
    assert "reasoning_effort" not in body
    assert "dropped reasoning settings with no chat completions equivalent" in encoded.notes


def test_effort_is_dropped_for_a_model_without_reasoning() -> None:
    body, encoded = encode(
        reasoning_model=False, thinking={"type": "adaptive"}, output_config={"effort": "max"}
    )
    assert "reasoning_effort" not in body
    assert "dropped reasoning effort: the target is not a reasoning model" in encoded.notes


def test_claude_codes_user_id_becomes_a_stable_hashed_user() -> None:
    body, encoded = encode(metadata={"user_id": SESSION_USER_ID})
    digest = hashlib.sha256(SESSION_USER_ID.encode()).hexdigest()[:40]
    assert body["user"] == "uid_" + digest
    assert len(body["user"]) <= MAX_END_USER_ID
    assert "metadata" not in body
    assert not [n for n in encoded.notes if "metadata" in n]


@pytest.mark.parametrize(
    ("user_id", "kept"),
    [("user_123", True), ("x" * MAX_END_USER_ID, True), ("x" * 65, False), ("a\nb", False)],
)
def test_short_printable_user_ids_are_kept_verbatim(user_id: str, kept: bool) -> None:
    assert (end_user_id(user_id) == user_id) is kept
    assert len(end_user_id(user_id)) <= MAX_END_USER_ID


def test_billing_line_is_dropped_and_the_rest_of_the_system_kept() -> None:
    system = [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332.1c9;"},
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
    ]
    body, encoded = encode(system=system)
    assert body["messages"][0] == {"role": "system", "content": "You are Claude Code.\n\nBe brief."}
    assert "dropped the x-anthropic-billing-header: system block" in encoded.notes
    assert "cache_control" not in json.dumps(body)


def test_system_messages_inside_the_conversation_stay_in_place() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "# Environment", "cache_control": {"type": "ephemeral"}}
            ],
        },
    ]
    body, _ = encode(messages=messages)
    assert body["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "# Environment"},
    ]


def test_deferred_tools_are_sent_up_front_and_cache_control_dropped() -> None:
    schema = {"type": "object", "properties": {}}
    tools = [
        {"name": "Read", "description": "read", "input_schema": schema},
        {
            "name": "Later",
            "description": "deferred",
            "input_schema": schema,
            "defer_loading": True,
            "cache_control": {"type": "ephemeral"},
        },
    ]
    body, encoded = encode(tools=tools)
    assert body["tools"] == [
        {"type": "function", "function": {"name": n, "description": d, "parameters": schema}}
        for n, d in (("Read", "read"), ("Later", "deferred"))
    ]
    assert "sent tools marked defer_loading as ordinary tools" in encoded.notes


def test_context_management_is_dropped_with_a_note() -> None:
    edits = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    body, encoded = encode(context_management=edits)
    assert "context_management" not in body
    assert any("context_management" in note for note in encoded.notes)


def test_tool_search_references_become_words_in_the_tool_message() -> None:
    messages = [
        {"role": "user", "content": "load WebFetch"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "ToolSearch",
                    "input": {"query": "select:WebFetch"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [
                        {"type": "tool_reference", "tool_name": "WebFetch"},
                        {"type": "search_result", "source": "x", "title": "t", "content": []},
                    ],
                }
            ],
        },
    ]
    body, encoded = encode(messages=messages)
    assert body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "toolu_1",
        "content": "Tool WebFetch is loaded: call it directly.",
    }
    assert "dropped a search_result block from a tool result" in encoded.notes
