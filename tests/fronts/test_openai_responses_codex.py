"""The Responses front on what Codex 0.169.0 really sends (recorded request
bodies in tests/agents/samples, captured from ``codex exec`` against a
recording server, then redacted) and on namespace tools both ways."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.sse_util import events
from tokligence.canonical import (
    CustomTool,
    Finish,
    FunctionTool,
    HostedTool,
    MessageStart,
    ReasoningPart,
    Request,
    Response,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)
from tokligence.fronts.openai_responses import OpenAIResponsesFront
from tokligence.fronts.openai_responses_render import envelope
from tokligence.fronts.openai_responses_tools import NAME_LIMIT, flat_name

SAMPLES = Path(__file__).parents[1] / "agents" / "samples"
FRONT = OpenAIResponsesFront()
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def fixture(name: str) -> dict[str, Any]:
    value = json.loads((SAMPLES / f"codex_0.169.0_{name.replace('-', '_')}.json").read_text())
    assert isinstance(value, dict)
    return value


def parsed(name: str) -> Request:
    return FRONT.parse_request(json.dumps(fixture(name)).encode())


@pytest.mark.parametrize("name", ["text", "exec-followup", "patch-followup", "namespace"])
def test_every_recorded_codex_request_parses(name: str) -> None:
    body = fixture(name)
    request = parsed(name)
    assert request.stream and request.store is False
    assert request.parallel_tool_calls is True
    assert request.extra["prompt_cache_key"] == body["prompt_cache_key"]
    assert request.extra["include"] == ["reasoning.encrypted_content"]
    # Codex sends no instructions: its prompt is developer messages.
    assert request.system == ()
    assert request.messages[0].role == "developer"
    assert all(TOOL_NAME.fullmatch(t.name) for t in request.tools if not isinstance(t, HostedTool))


def test_codex_tools_by_kind() -> None:
    request = parsed("text")
    kinds = {t.name if not isinstance(t, HostedTool) else t.type: type(t) for t in request.tools}
    assert kinds["exec_command"] is FunctionTool
    assert kinds["apply_patch"] is CustomTool
    assert kinds["web_search"] is HostedTool and kinds["tool_search"] is HostedTool
    (patch,) = [t for t in request.tools if isinstance(t, CustomTool)]
    assert patch.format is not None and patch.format["syntax"] == "lark"
    assert "begin_patch" in patch.format["definition"]


def test_history_items_of_a_tool_round_trip() -> None:
    request = parsed("exec-followup")
    assistant, tool = request.messages[-2], request.messages[-1]
    reasoning, call = assistant.parts
    assert isinstance(reasoning, ReasoningPart)
    assert reasoning.vendor == "openai" and reasoning.encrypted_content == "gAAAAB-opaque"
    assert isinstance(call, ToolCallPart) and call.name == "exec_command" and call.item_id == "fc_1"
    assert json.loads(call.arguments) == {"cmd": "echo hi > out.txt"}
    (result,) = tool.parts
    assert isinstance(result, ToolResultPart) and result.call_id == "call_1"
    patch = parsed("patch-followup").messages[-2].parts[0]
    assert isinstance(patch, ToolCallPart) and patch.kind == "custom"
    assert patch.arguments.startswith("*** Begin Patch\n")


def test_namespace_members_become_flat_tools_and_echo_back_nested() -> None:
    body = fixture("namespace")
    request = parsed("namespace")
    names = [t.name for t in request.tools if not isinstance(t, HostedTool)]
    assert "multi_agent_v1__spawn_agent" in names and "multi_agent_v1" not in names
    assert not any(isinstance(t, HostedTool) and t.type == "namespace" for t in request.tools)
    # The Response object echoes the tools exactly as Codex sent them.
    echoed = envelope(
        request, rid="resp_1", created=0, model="m", status="completed", output=[], usage=None
    )
    assert echoed["tools"] == body["tools"]


def test_a_namespaced_call_in_the_history_gets_the_flat_name() -> None:
    body = fixture("namespace")
    body["input"] += [
        {
            "type": "function_call",
            "call_id": "c1",
            "namespace": "multi_agent_v1",
            "name": "spawn_agent",
            "arguments": "{}",
        },
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
    ]
    request = FRONT.parse_request(json.dumps(body).encode())
    call = request.messages[-2].parts[0]
    assert isinstance(call, ToolCallPart) and call.name == "multi_agent_v1__spawn_agent"


NAMES = [
    ("multi_agent_v1", "spawn_agent", "multi_agent_v1__spawn_agent"),
    ("mcp__github__", "list_prs", "mcp__github____list_prs"),
]


@pytest.mark.parametrize(("namespace", "name", "flat"), NAMES)
def test_flat_names_join_when_they_fit(namespace: str, name: str, flat: str) -> None:
    assert flat_name(namespace, name) == flat


def test_flat_names_that_do_not_fit_stay_valid_stable_and_distinct() -> None:
    long_ns = "mcp__a_really_long_server_name_that_goes_on_and_on__"
    names = [flat_name(long_ns, f"tool_number_{i}_with_a_long_tail") for i in range(50)]
    names += [flat_name("files.v2", "read"), flat_name("files_v2", "read")]
    assert all(TOOL_NAME.fullmatch(n) and len(n) <= NAME_LIMIT for n in names)
    assert len(set(names)) == len(names)
    assert flat_name(long_ns, "tool_number_1_with_a_long_tail") == names[1]


def _call_events(name: str) -> list[Any]:
    return [
        MessageStart(id="resp_ns1", model="m", created=1),
        ToolCallStart(index=0, id="call_ns", name=name),
        ToolCallDelta(index=0, arguments='{"message":'),
        ToolCallDelta(index=0, arguments=' "hi"}'),
        ToolCallEnd(index=0),
        Finish(stop_reason="tool_use"),
    ]


def test_a_flat_call_streams_back_as_a_namespaced_function_call() -> None:
    request = parsed("namespace")
    renderer = FRONT.stream_renderer(request)
    data = b"".join(renderer.feed(e) for e in _call_events("multi_agent_v1__spawn_agent"))
    data += renderer.close()
    payloads = [p for _, p in events(data)]
    added = [p["item"] for p in payloads if p["type"] == "response.output_item.added"]
    done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    for item in (*added, *done):
        assert (item["type"], item["namespace"], item["name"]) == (
            "function_call",
            "multi_agent_v1",
            "spawn_agent",
        )
    assert done[0]["arguments"] == '{"message": "hi"}'
    terminal = [
        p["type"]
        for p in payloads
        if p["type"].startswith("response.")
        and p["type"].split(".")[1] in ("completed", "incomplete", "failed")
    ]
    assert terminal == ["response.completed"]
    completed = payloads[-1]["response"]
    assert completed["output"] == done


def test_a_flat_call_renders_back_namespaced_without_streaming() -> None:
    request = parsed("namespace")
    response = Response(
        id="resp_ns2",
        model="m",
        created=1,
        content=(ToolCallPart(id="call_x", name="multi_agent_v1__wait_agent", arguments="{}"),),
        stop_reason="tool_use",
        usage=Usage(input_tokens=1, output_tokens=1),
    )
    (item,) = json.loads(FRONT.render_response(response, request))["output"]
    assert (item["namespace"], item["name"]) == ("multi_agent_v1", "wait_agent")


def test_an_ordinary_call_has_no_namespace_field() -> None:
    renderer = FRONT.stream_renderer(parsed("text"))
    data = b"".join(renderer.feed(e) for e in _call_events("exec_command"))
    done = [p["item"] for _, p in events(data) if p["type"] == "response.output_item.done"]
    assert "namespace" not in done[0] and done[0]["name"] == "exec_command"
