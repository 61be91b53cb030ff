"""The real Claude Code through a real gateway: loopback, gateway auth and
passthrough to a fake Anthropic upstream (translation to OpenAI is in
``test_claude_code_translation_e2e.py``; how runs are made, in
``claude_code.py``).

* loopback (``claude*=>loopback``): the scripted ``/tool NAME {json}`` line
  makes loopback call Bash, and its answer to a tool result is that result's
  text, so the printed answer proves the result went back;
* gateway auth: the key in either header Claude Code can send, and a wrong
  key stopping Claude Code at once;
* passthrough: everything Claude Code sends (query, betas, version, body
  fields, as in the recorded sample) arrives as it was sent, and a Bash
  round trip completes.

Claude Code may make side requests (model discovery, titles, token counts);
the fakes answer every request on their path the same way and the
assertions pick the conversation's requests out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agents.claude_code import (
    ANTHROPIC_KEY,
    BASH_COMMAND,
    BASH_PROMPT,
    CLIENT_KEY,
    MESSAGES_PATH,
    OUTPUT_FILE,
    SAMPLES,
    bash_line,
    claude_fixture,  # noqa: F401 (the claude fixture)
    run_claude,
    trap_fixture,  # noqa: F401 (the trap fixture)
)
from tests.agents.proxy_trap import ProxyTrap
from tests.fakes.anthropic import MessagesScenario, TextBlock, ToolUseBlock, messages_stream
from tests.fakes.anthropic import messages_json as anthropic_json
from tests.fakes.wire import FakeServer, Received, Reply, by_stream
from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.identity import store
from tokligence.identity.migrations import migrate_identity
from tokligence.ledger.db import close_database, open_database, sqlite_url

# ------------------------------------------------------------------ loopback


@pytest.fixture
def loopback_gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    env = {"TOKLIGENCE_ROUTES": "claude*=>loopback"}
    with GatewayThread(isolated_config(tmp_path / "gw", env=env)) as gateway:
        yield gateway


def test_text_answer_through_loopback(
    claude: Path, loopback_gateway: GatewayThread, tmp_path: Path, trap: ProxyTrap
) -> None:
    run = run_claude(claude, loopback_gateway, tmp_path, trap, "Echo me: tangerine-42")
    # Loopback echoes the last user message: the prompt came through intact.
    assert "Echo me: tangerine-42" in run.assert_succeeded()


def test_bash_round_trip_through_loopback(
    claude: Path, loopback_gateway: GatewayThread, tmp_path: Path, trap: ProxyTrap
) -> None:
    run = run_claude(claude, loopback_gateway, tmp_path, trap, bash_line())
    answer = run.assert_succeeded()
    # The command really ran, in Claude Code's working directory ...
    assert (tmp_path / "work" / OUTPUT_FILE).read_text() == "written-by-bash\n"
    # ... and its output went back: loopback answers a tool result with its text.
    assert "bash-ran-ok" in answer
    assert run.result["num_turns"] == 2


def test_the_trap_sees_traffic_that_bypasses_the_gateway(
    claude: Path, loopback_gateway: GatewayThread, tmp_path: Path
) -> None:
    """The trap is not vacuous: without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
    the pinned Claude Code calls api.anthropic.com although ANTHROPIC_BASE_URL
    points at the gateway, and the trap is where that call lands."""
    with ProxyTrap() as trap:
        unset = ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",)
        run = run_claude(claude, loopback_gateway, tmp_path, trap, "hi", unset=unset)
        run.assert_succeeded()
    assert any("api.anthropic.com" in knock for knock in trap.knocks), trap.knocks


@pytest.fixture
def authed_gateway(tmp_path: Path) -> Iterator[tuple[GatewayThread, str]]:
    """Loopback behind gateway auth, with one user's key."""
    env = {"TOKLIGENCE_ROUTES": "claude*=>loopback", "TOKLIGENCE_AUTH_DISABLED": "false"}
    config = isolated_config(tmp_path / "gw", env=env)
    db = open_database(sqlite_url(config.identity_file()))
    try:
        migrate_identity(db)
        user = store.create_user(db, email="dev@example.com")
        key = store.issue_key(db, user.id)[1]
    finally:
        close_database(db)
    with GatewayThread(config) as gateway:
        yield gateway, key


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_gateway_key_in_either_header_is_accepted(
    claude: Path,
    authed_gateway: tuple[GatewayThread, str],
    tmp_path: Path,
    trap: ProxyTrap,
    header: str,
) -> None:
    gateway, key = authed_gateway
    env = (
        {"ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": key}
        if header == "authorization"
        else {"ANTHROPIC_API_KEY": key}
    )
    run = run_claude(claude, gateway, tmp_path, trap, "Echo me: plum-7", env=env)
    assert "Echo me: plum-7" in run.assert_succeeded()


def test_a_wrong_gateway_key_is_an_authentication_error(
    claude: Path, authed_gateway: tuple[GatewayThread, str], tmp_path: Path, trap: ProxyTrap
) -> None:
    gateway, _ = authed_gateway
    # Without x-should-retry: false Claude Code would retry for minutes.
    wrong = {"ANTHROPIC_API_KEY": "tok_wrong"}
    run = run_claude(claude, gateway, tmp_path, trap, "hi", env=wrong, timeout=60)
    result = run.result
    assert run.returncode == 1 and result["is_error"] is True
    assert result["api_error_status"] == 401
    assert "tok_wrong" not in run.stdout + run.stderr  # keys are never echoed
    # What made Claude Code stop at once instead of retrying for minutes:
    hi = {"model": "claude-x", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(gateway.url() + MESSAGES_PATH, headers={"x-api-key": "tok_wrong"}, json=hi)
    assert reply.status_code == 401
    assert reply.headers["x-should-retry"] == "false"
    assert reply.json()["error"]["type"] == "authentication_error"


# -------------------------------------------------------- Anthropic (passthrough)


def _anthropic_model(received: Received, *, stream: bool) -> Reply:
    body = received.json
    make = messages_stream if stream else anthropic_json
    last = body["messages"][-1]
    content = last["content"] if isinstance(last["content"], list) else []
    results = [b for b in content if b.get("type") == "tool_result"]
    if results:
        output = results[0]["content"]
        text = output if isinstance(output, str) else output[0]["text"]
        return make(MessagesScenario(blocks=[TextBlock(pieces=["Bash printed: ", text])]))
    user = [m for m in body["messages"] if m["role"] == "user"][-1]
    if BASH_PROMPT in json.dumps(user):
        arguments = json.dumps({"command": BASH_COMMAND, "description": "Write the test file"})
        tool = ToolUseBlock(id="toolu_01Bash", name="Bash", fragments=["", arguments])
        return make(MessagesScenario(blocks=[tool]))
    return make(MessagesScenario(blocks=[TextBlock(pieces=["Hello from ", "the fake Claude."])]))


@pytest.fixture
def anthropic_rig(tmp_path: Path) -> Iterator[tuple[GatewayThread, FakeServer]]:
    fake = FakeServer()
    fake.set_default(
        MESSAGES_PATH,
        by_stream(
            lambda r: _anthropic_model(r, stream=True),
            lambda r: _anthropic_model(r, stream=False),
        ),
    )
    with fake.running_in_thread() as url:
        env = {
            "TOKLIGENCE_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "TOKLIGENCE_ANTHROPIC_BASE_URL": url,
        }
        with GatewayThread(isolated_config(tmp_path / "gw", env=env)) as gateway:
            yield gateway, fake


def _sample(name: str) -> dict[str, Any]:
    value = json.loads((SAMPLES / f"claude_code_2.1.332_{name}.json").read_text())
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("auth", ["x-api-key", "bearer"])
def test_passthrough_keeps_everything_claude_code_sends(
    claude: Path,
    anthropic_rig: tuple[GatewayThread, FakeServer],
    tmp_path: Path,
    trap: ProxyTrap,
    auth: str,
) -> None:
    gateway, fake = anthropic_rig
    env = {"ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": CLIENT_KEY} if auth == "bearer" else {}
    run = run_claude(claude, gateway, tmp_path, trap, "Say hello.", env=env)
    assert run.assert_succeeded() == "Hello from the fake Claude."
    [sent] = [r for r in fake.requests(MESSAGES_PATH) if "Say hello." in r.body.decode()]
    sample = _sample("turn1_text")
    sample_headers = {k.lower(): v for k, v in sample["headers"].items()}
    assert sent.query == "beta=true"
    assert sent.headers["anthropic-beta"] == sample_headers["anthropic-beta"]
    assert sent.headers["anthropic-version"] == sample_headers["anthropic-version"]
    # The gateway's upstream key replaces the client's, whichever way it came.
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert CLIENT_KEY not in json.dumps(dict(sent.headers))
    # The same fields as the recorded sample (a drift check on the pin), as sent.
    body = sent.json
    assert list(body) == list(json.loads(sample["body"]))
    assert body["thinking"]["type"] == "adaptive"
    assert body["context_management"]["edits"]
    assert body["output_config"]["effort"]
    assert any(t.get("defer_loading") for t in body["tools"])
    assert any(m["role"] == "system" for m in body["messages"])
    assert "session_id" in json.loads(body["metadata"]["user_id"])
    assert any("cache_control" in block for block in body["system"])
    assert fake.errors == []


def test_bash_round_trip_through_passthrough(
    claude: Path,
    anthropic_rig: tuple[GatewayThread, FakeServer],
    tmp_path: Path,
    trap: ProxyTrap,
) -> None:
    gateway, fake = anthropic_rig
    run = run_claude(claude, gateway, tmp_path, trap, BASH_PROMPT)
    answer = run.assert_succeeded()
    assert (tmp_path / "work" / OUTPUT_FILE).read_text() == "written-by-bash\n"
    assert answer.startswith("Bash printed: ") and "bash-ran-ok" in answer
    last = fake.last(MESSAGES_PATH).json["messages"]
    assert last[-2]["content"][-1]["id"] == "toolu_01Bash"
    assert last[-1]["content"][0]["tool_use_id"] == "toolu_01Bash"
    assert fake.errors == []
