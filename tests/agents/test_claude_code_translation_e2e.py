"""The real Claude Code on a GPT model: through the gateway's translation
to a fake OpenAI Chat upstream (``claude*=>openai`` and an alias to a GPT
name). The fake plays a model that calls a tool when asked, then answers
with the tool's output; the requests it recorded show what translation did
(the per-field table of docs/claude-code.md, checked in full with the
recorded sample in tests/translation/test_e2e_claude_code.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agents.claude_code import (
    BASH_COMMAND,
    BASH_PROMPT,
    CHAT_PATH,
    GPT_MODEL,
    OPENAI_KEY,
    OUTPUT_FILE,
    TOOL_SEARCH_PROMPT,
    claude_fixture,  # noqa: F401 (the claude fixture)
    run_claude,
    trap_fixture,  # noqa: F401 (the trap fixture)
)
from tests.agents.proxy_trap import ProxyTrap
from tests.fakes.openai_chat import (
    ChatScenario,
    ChatToolCall,
    chat_error,
    chat_json,
    chat_stream,
)
from tests.fakes.wire import FakeServer, Received, Reply, by_stream
from tests.gateway_thread import GatewayThread, isolated_config

# ---------------------------------------------------------- OpenAI (translated)


def _openai_model(received: Received, *, stream: bool) -> Reply:
    """A model that calls Bash when asked to, then reports the tool output."""
    body = received.json
    make = chat_stream if stream else chat_json
    # The results of the last assistant turn (Claude Code may add a user
    # message after them, e.g. "Tool loaded." after a ToolSearch).
    results = []
    for message in reversed(body["messages"]):
        if message["role"] == "assistant":
            break
        if message["role"] == "tool":
            results.insert(0, message["content"])
    if results:
        return make(ChatScenario(model=GPT_MODEL, text=["Tool said: ", *results]))
    tools = [t["function"]["name"] for t in body.get("tools", [])]
    # Not messages[-1]: Claude Code's environment block is a system message
    # after the user's turn, and translation keeps it there.
    user = [m for m in body["messages"] if m["role"] == "user"][-1]
    if "Bash" in tools and BASH_PROMPT in json.dumps(user):
        arguments = json.dumps({"command": BASH_COMMAND, "description": "Write the test file"})
        call = ChatToolCall(
            id="call_bash_0001", name="Bash", fragments=["", arguments[:17], arguments[17:]]
        )
        return make(ChatScenario(model=GPT_MODEL, tool_calls=[call]))
    if "ToolSearch" in tools and TOOL_SEARCH_PROMPT in json.dumps(user):
        arguments = json.dumps({"query": "select:WebFetch"})
        call = ChatToolCall(id="call_search_0001", name="ToolSearch", fragments=[arguments])
        return make(ChatScenario(model=GPT_MODEL, tool_calls=[call]))
    return make(ChatScenario(model=GPT_MODEL, text=["Hello from ", "the fake GPT."]))


@pytest.fixture
def openai_rig(tmp_path: Path) -> Iterator[tuple[GatewayThread, FakeServer]]:
    fake = FakeServer()
    fake.set_default(
        CHAT_PATH,
        by_stream(
            lambda r: _openai_model(r, stream=True), lambda r: _openai_model(r, stream=False)
        ),
    )
    with fake.running_in_thread() as url:
        env = {
            "TOKLIGENCE_OPENAI_API_KEY": OPENAI_KEY,
            "TOKLIGENCE_OPENAI_BASE_URL": url + "/v1",
            "TOKLIGENCE_ROUTES": "claude*=>openai",
            "TOKLIGENCE_MODEL_ALIASES": f"claude*=>{GPT_MODEL}",
        }
        with GatewayThread(isolated_config(tmp_path / "gw", env=env)) as gateway:
            yield gateway, fake


def _conversation(fake: FakeServer) -> list[dict[str, Any]]:
    """The conversation's requests (those offering Bash), side requests left out."""
    bodies = [r.json for r in fake.requests(CHAT_PATH)]
    return [b for b in bodies if "Bash" in [t["function"]["name"] for t in b.get("tools", [])]]


def _assert_translated(body: dict[str, Any]) -> None:
    """What every translated Claude Code request must look like upstream."""
    assert body["model"] == GPT_MODEL
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "medium"  # output_config.effort
    assert body["user"].startswith("uid_") and len(body["user"]) <= 64  # metadata.user_id
    assert body["messages"][0]["role"] == "system"
    assert "Claude" in body["messages"][0]["content"]
    text = json.dumps(body)
    for anthropic_only in (
        "cache_control",
        "defer_loading",
        "context_management",
        "output_config",
        "x-anthropic-billing-header",
        '"thinking"',
        "input_schema",
    ):
        assert anthropic_only not in text, anthropic_only
    bash = next(t for t in body["tools"] if t["function"]["name"] == "Bash")
    assert bash["type"] == "function"
    assert "command" in bash["function"]["parameters"]["properties"]


def test_text_answer_through_openai_translation(
    claude: Path,
    openai_rig: tuple[GatewayThread, FakeServer],
    tmp_path: Path,
    trap: ProxyTrap,
) -> None:
    gateway, fake = openai_rig
    run = run_claude(claude, gateway, tmp_path, trap, "Say hello.")
    assert run.assert_succeeded() == "Hello from the fake GPT."
    [body] = _conversation(fake)
    _assert_translated(body)
    assert fake.last(CHAT_PATH).headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert fake.errors == []


def test_bash_round_trip_through_openai_translation(
    claude: Path,
    openai_rig: tuple[GatewayThread, FakeServer],
    tmp_path: Path,
    trap: ProxyTrap,
) -> None:
    gateway, fake = openai_rig
    run = run_claude(claude, gateway, tmp_path, trap, BASH_PROMPT)
    answer = run.assert_succeeded()
    assert (tmp_path / "work" / OUTPUT_FILE).read_text() == "written-by-bash\n"
    assert answer.startswith("Tool said: ") and "bash-ran-ok" in answer
    first, second = _conversation(fake)
    _assert_translated(first)
    _assert_translated(second)
    # The call went back as Chat's assistant tool_calls, paired with its result.
    call_turn, result = second["messages"][-2:]
    assert call_turn["role"] == "assistant"
    [call] = call_turn["tool_calls"]
    assert call["id"] == "call_bash_0001" and call["function"]["name"] == "Bash"
    assert json.loads(call["function"]["arguments"])["command"] == BASH_COMMAND
    assert result == {
        "role": "tool",
        "tool_call_id": "call_bash_0001",
        "content": result["content"],
    }
    assert "bash-ran-ok" in result["content"]
    assert fake.errors == []


def test_tool_search_loads_a_deferred_tool_through_translation(
    claude: Path,
    openai_rig: tuple[GatewayThread, FakeServer],
    tmp_path: Path,
    trap: ProxyTrap,
) -> None:
    """defer_loading without Anthropic's tool search: Claude Code declares a
    deferred tool once its ToolSearch loaded it; the translated tool result
    says so in words, and the tool is an ordinary function from then on."""
    gateway, fake = openai_rig
    run = run_claude(claude, gateway, tmp_path, trap, TOOL_SEARCH_PROMPT)
    assert run.assert_succeeded() == "Tool said: Tool WebFetch is loaded: call it directly."
    first, second = [b for b in (r.json for r in fake.requests(CHAT_PATH)) if "tools" in b]
    names = [[t["function"]["name"] for t in body["tools"]] for body in (first, second)]
    assert "WebFetch" not in names[0] and "WebFetch" in names[1]
    result = next(m for m in second["messages"] if m["role"] == "tool")
    assert result == {
        "role": "tool",
        "tool_call_id": "call_search_0001",
        "content": "Tool WebFetch is loaded: call it directly.",
    }


def test_an_upstream_refusal_reaches_claude_code_as_an_api_error(
    claude: Path,
    openai_rig: tuple[GatewayThread, FakeServer],
    tmp_path: Path,
    trap: ProxyTrap,
) -> None:
    gateway, fake = openai_rig
    refusal = "Invalid 'messages': the fake refuses this conversation."
    fake.set_default(CHAT_PATH, chat_error(400, "invalid_request_error", refusal))
    run = run_claude(claude, gateway, tmp_path, trap, "Say hello.")
    result = run.result
    assert run.returncode == 1
    assert result["is_error"] is True
    assert result["api_error_status"] == 400
    assert refusal in result["result"]  # our envelope kept the upstream's words
    # Claude Code (2.1.332) sends it three times, then three more with every
    # deferred tool declared in full (its fallback for gateways without tool
    # search); each attempt met the same refusal.
    tool_counts = [len(r.json["tools"]) for r in fake.requests(CHAT_PATH)]
    assert len(tool_counts) >= 2 and tool_counts[-1] > tool_counts[0]
