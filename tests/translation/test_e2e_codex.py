"""Codex's real request bodies (tests/agents/samples) through translation,
to the fake Anthropic upstream and to an OpenAI-compatible chat-only one:
what reaches the upstream, and what the Responses stream gives back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic import MessagesScenario, ThinkingBlock, ToolUseBlock, messages_stream
from tests.fakes.openai_chat import ChatScenario, ChatToolCall, chat_stream
from tests.fakes.openai_responses import ResponsesScenario, responses_stream
from tests.sse_util import events

from .conftest import Rig
from .rigs import CHAT_PATH, MESSAGES_PATH, RESPONSES_PATH, post_raw

SAMPLES = Path(__file__).parents[1] / "agents" / "samples"
CLAUDE = "claude-sonnet-4-6"
COMPAT = "compat-qwen3-coder"
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
PATCH = "*** Begin Patch\n*** Add File: a.txt\n+a\n*** End Patch\n"


def codex_body(name: str, model: str) -> dict[str, Any]:
    body = json.loads((SAMPLES / f"codex_0.169.0_{name.replace('-', '_')}.json").read_text())
    assert isinstance(body, dict)
    return {**body, "model": model}


def stream_items(raw: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(added items, done items, terminal event types) of a Responses stream."""
    payloads = [p for _, p in events(raw)]
    added = [p["item"] for p in payloads if p["type"] == "response.output_item.added"]
    done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    terminal = [
        p["type"]
        for p in payloads
        if p["type"] in ("response.completed", "response.incomplete", "response.failed")
    ]
    return added, done, terminal


def test_anthropic_gets_flat_tools_and_codex_gets_namespaced_calls(fresh: Rig) -> None:
    arguments = json.dumps({"message": "look around"})
    fresh.anthropic.enqueue(
        MESSAGES_PATH,
        messages_stream(
            MessagesScenario(
                blocks=[
                    ToolUseBlock(
                        id="toolu_1", name="multi_agent_v1__spawn_agent", fragments=[arguments]
                    ),
                    ToolUseBlock(
                        id="toolu_2", name="apply_patch", fragments=[json.dumps({"input": PATCH})]
                    ),
                ]
            )
        ),
    )
    raw = post_raw(fresh, RESPONSES_PATH, codex_body("namespace", CLAUDE))
    assert raw.status == 200
    sent = fresh.anthropic.last_json(MESSAGES_PATH)
    names = [t["name"] for t in sent["tools"]]
    assert all(TOOL_NAME.fullmatch(n) for n in names)
    assert "multi_agent_v1__spawn_agent" in names
    assert "web_search" not in json.dumps(sent["tools"])  # hosted: dropped
    added, done, terminal = stream_items(raw.body)
    assert terminal == ["response.completed"]
    assert len(added) == len(done) == 2
    assert [i["id"] for i in added] == [i["id"] for i in done]
    spawn, patch = done
    assert (spawn["type"], spawn["namespace"], spawn["name"]) == (
        "function_call",
        "multi_agent_v1",
        "spawn_agent",
    )
    assert spawn["arguments"] == arguments and spawn["call_id"] == "toolu_1"
    # The namespace fixture (an unknown model) has no apply_patch tool: the
    # call is a plain function call, not a custom one.
    assert patch["type"] == "function_call" and "namespace" not in patch


def test_apply_patch_comes_back_as_a_custom_tool_call(fresh: Rig) -> None:
    fresh.anthropic.enqueue(
        MESSAGES_PATH,
        messages_stream(
            MessagesScenario(
                blocks=[
                    ToolUseBlock(
                        id="toolu_3",
                        name="apply_patch",
                        fragments=["", json.dumps({"input": PATCH})],
                    ),
                ]
            )
        ),
    )
    raw = post_raw(fresh, RESPONSES_PATH, codex_body("text", CLAUDE))
    added, done, terminal = stream_items(raw.body)
    assert terminal == ["response.completed"]
    (item,) = done
    assert item["type"] == "custom_tool_call" and item["name"] == "apply_patch"
    assert item["input"] == PATCH and item["call_id"] == "toolu_3"
    assert added[0]["type"] == "custom_tool_call"


def test_openai_reasoning_is_never_sent_to_anthropic(fresh: Rig) -> None:
    fresh.anthropic.enqueue(MESSAGES_PATH, messages_stream(MessagesScenario()))
    raw = post_raw(fresh, RESPONSES_PATH, codex_body("exec-followup", CLAUDE))
    assert raw.status == 200
    received = fresh.anthropic.last(MESSAGES_PATH)
    assert b"gAAAAB-opaque" not in received.body and b"encrypted_content" not in received.body
    sent = received.json
    # The replayed call and its output, as Anthropic blocks.
    assistant, results = sent["messages"][-2], sent["messages"][-1]
    assert [b["type"] for b in assistant["content"]] == ["tool_use"]
    assert assistant["content"][0]["id"] == "call_1"
    assert results["content"][0]["type"] == "tool_result"
    assert results["content"][0]["tool_use_id"] == "call_1"
    # The custom tool is a one-string function; the grammar rides along.
    patch = next(t for t in sent["tools"] if t["name"] == "apply_patch")
    assert patch["input_schema"]["properties"] == {
        "input": {"type": "string", "description": "The raw tool input."}
    }
    assert "end_patch" in patch["description"]


@pytest.mark.parametrize("name", ["exec-followup", "patch-followup", "namespace"])
def test_a_chat_only_upstream_gets_a_clean_translation(fresh: Rig, name: str) -> None:
    fresh.openai.enqueue(CHAT_PATH, chat_stream(ChatScenario(text=["done"])))
    raw = post_raw(fresh, RESPONSES_PATH, codex_body(name, COMPAT))
    assert raw.status == 200
    received = fresh.openai.last(CHAT_PATH)
    assert b"encrypted_content" not in received.body
    sent = received.json
    names = [t["function"]["name"] for t in sent["tools"]]
    assert all(TOOL_NAME.fullmatch(n) for n in names)
    assert all(t["type"] == "function" for t in sent["tools"])
    assert sent["prompt_cache_key"]  # same name and meaning on Chat Completions
    _, done, terminal = stream_items(raw.body)
    assert terminal == ["response.completed"]
    assert done[-1]["type"] == "message"


def test_a_chat_only_upstream_calling_a_namespaced_tool(fresh: Rig) -> None:
    call = ChatToolCall(
        id="call_9", name="multi_agent_v1__close_agent", fragments=['{"target":', ' "a1"}']
    )
    fresh.openai.enqueue(CHAT_PATH, chat_stream(ChatScenario(tool_calls=[call])))
    raw = post_raw(fresh, RESPONSES_PATH, codex_body("namespace", COMPAT))
    _, done, terminal = stream_items(raw.body)
    assert terminal == ["response.completed"]
    (item,) = done
    assert (item["namespace"], item["name"], item["arguments"]) == (
        "multi_agent_v1",
        "close_agent",
        '{"target": "a1"}',
    )


# ------------------------------------------- Claude's thinking through Codex's replay

SIGNATURE = "EqQBCkYIBxgCKkB+claude/signature=="
GPT = "gpt-5-codex"  # routes to the OpenAI fake: Responses passthrough


def _claude_thinks_then_calls(fresh: Rig) -> list[dict[str, Any]]:
    """Turn 1 to Claude; returns the output items Codex would keep."""
    fresh.anthropic.enqueue(
        MESSAGES_PATH,
        messages_stream(
            MessagesScenario(
                blocks=[
                    ThinkingBlock(pieces=["Run ", "it."], signature=SIGNATURE),
                    ToolUseBlock(id="toolu_7", name="exec_command", fragments=['{"cmd":"ls"}']),
                ]
            )
        ),
    )
    raw = post_raw(fresh, RESPONSES_PATH, codex_body("text", CLAUDE))
    _, done, terminal = stream_items(raw.body)
    assert terminal == ["response.completed"]
    return done


def _next_turn(model: str, done: list[dict[str, Any]]) -> dict[str, Any]:
    body = codex_body("text", model)
    body["input"] = [
        *body["input"],
        *done,
        {"type": "function_call_output", "call_id": "toolu_7", "output": "a.txt"},
    ]
    return body


def test_claudes_thinking_signature_survives_codexs_replay(fresh: Rig) -> None:
    done = _claude_thinks_then_calls(fresh)
    reasoning = done[0]
    assert reasoning["type"] == "reasoning"
    assert reasoning["encrypted_content"] == "tokligence:anthropic:" + SIGNATURE
    fresh.anthropic.enqueue(MESSAGES_PATH, messages_stream(MessagesScenario()))
    raw = post_raw(fresh, RESPONSES_PATH, _next_turn(CLAUDE, done))
    assert raw.status == 200
    sent = fresh.anthropic.last_json(MESSAGES_PATH)
    assistant = sent["messages"][-2]
    # Byte for byte what Claude signed, so thinking stays on for the turn.
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": "Run it.",
        "signature": SIGNATURE,
    }
    assert assistant["content"][1]["type"] == "tool_use"
    assert sent["thinking"]["type"] in ("enabled", "adaptive")


def test_carried_signatures_never_reach_openai(fresh: Rig) -> None:
    done = _claude_thinks_then_calls(fresh)
    fresh.openai.enqueue(RESPONSES_PATH, responses_stream(ResponsesScenario()))
    raw = post_raw(fresh, RESPONSES_PATH, _next_turn(GPT, done))
    assert raw.status == 200
    received = fresh.openai.last(RESPONSES_PATH)
    assert b"tokligence:anthropic" not in received.body
    kinds = [item.get("type") for item in received.json["input"]]
    assert "reasoning" not in kinds
    assert kinds[-2:] == ["function_call", "function_call_output"]
