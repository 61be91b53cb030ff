"""The real Codex CLI (pinned, from npm) through a real gateway.

Each test starts a gateway in a thread and runs ``codex exec`` against it
with a custom model provider declared by ``-c`` overrides (Codex's built-in
OpenAI provider ignores base-URL variables), the offline environment of
``npm_tools`` and its proxy variables aimed at a :class:`ProxyTrap`: every
test ends by asserting nothing tried to leave 127.0.0.1. Codex runs in a
fresh work directory with its sandbox off (``--dangerously-bypass-approvals-
and-sandbox``), so its tools really run there.

The model is ``gpt-5.5``: Codex ships metadata for it, so it declares the
tools a real session has -- ``exec_command``, freeform ``apply_patch``,
``tool_search``, ``web_search`` -- rather than the smaller fallback set an
unknown model name gets. Routes send that name where each test wants it:

* loopback (``gpt-5.5=>loopback``): ``/tool NAME ARGS`` lines in the prompt
  script the tool call, and loopback answers a tool result with its text,
  so Codex's final message proves the result went back;
* a fake Anthropic upstream through translation (``gpt-5.5=>anthropic`` and
  an alias to a Claude name): the fake plays a model that emits ``tool_use``
  blocks, then answers with the tool result it was sent; the requests it
  recorded show what translation did (flattened tools, the patch tool as a
  one-string function, no OpenAI reasoning, hosted tools gone).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.agents.npm_tools import CODEX, install, offline_env
from tests.agents.proxy_trap import ProxyTrap
from tests.fakes.anthropic import MessagesScenario, TextBlock, ToolUseBlock, messages_stream
from tests.fakes.wire import FakeServer, Received, Reply
from tests.gateway_thread import GatewayThread, isolated_config

# A cold start of the CLI plus two or three model turns, on a loaded CI box.
CODEX_TIMEOUT_S = 180
MODEL = "gpt-5.5"
CLAUDE_MODEL = "claude-sonnet-4-5"
CLIENT_KEY = "placeholder-codex-client-key-0001"  # not a real key
KEY_ENV = "TOKLIGENCE_TEST_CODEX_KEY"
ANTHROPIC_KEY = "test-anthropic-upstream-key-0001"
MESSAGES_PATH = "/v1/messages"
SHELL_FILE = "made-by-exec.txt"
SHELL_COMMAND = f"echo written-by-exec > {SHELL_FILE} && echo exec-ran-ok"
PATCH_FILE = "made-by-patch.txt"
PATCH = f"*** Begin Patch\n*** Add File: {PATCH_FILE}\n+written by apply_patch\n*** End Patch\n"


@dataclass(frozen=True, kw_only=True)
class CodexRun:
    returncode: int
    stdout: str
    stderr: str
    work: Path

    def answer(self) -> str:
        """The final message (``codex exec`` prints only it on stdout)."""
        assert self.returncode == 0, (self.stdout[-2000:], self.stderr[-3000:])
        return self.stdout.strip()


@pytest.fixture(scope="module")
def codex() -> Path:
    return install(CODEX)


@pytest.fixture
def trap() -> Iterator[ProxyTrap]:
    with ProxyTrap() as proxy:
        yield proxy
    assert proxy.knocks == [], proxy.knocks  # anything here went somewhere other than the gateway


def provider_overrides(base_url: str) -> list[str]:
    """The ``config.toml`` provider block of docs/codex.md, as ``-c`` flags."""
    overrides = [
        'model_providers.tok.name="Tokligence gateway"',
        f'model_providers.tok.base_url="{base_url}/v1"',
        'model_providers.tok.wire_api="responses"',
        f'model_providers.tok.env_key="{KEY_ENV}"',
        'model_provider="tok"',
        "analytics.enabled=false",
        # Plugin marketplace sync: github.com, api.github.com and chatgpt.com
        # at every start otherwise (the proxy trap caught them).
        "features.plugins=false",
    ]
    return [arg for override in overrides for arg in ("-c", override)]


def run_codex(
    codex: Path, gateway: GatewayThread, tmp_path: Path, trap: ProxyTrap, prompt: str
) -> CodexRun:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = offline_env(tmp_path / "home")
    Path(env["CODEX_HOME"]).mkdir(parents=True, exist_ok=True)  # Codex refuses a missing one
    env.update(trap.proxy_env())
    env[KEY_ENV] = CLIENT_KEY
    done = subprocess.run(
        [
            str(codex),
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "-C",
            str(work),
            "-m",
            MODEL,
            *provider_overrides(gateway.url()),
            prompt,
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=CODEX_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    return CodexRun(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr, work=work)


# ------------------------------------------------------------------ loopback


@pytest.fixture
def loopback_gateway(tmp_path: Path) -> Iterator[GatewayThread]:
    env = {"TOKLIGENCE_ROUTES": f"{MODEL}=>loopback"}
    with GatewayThread(isolated_config(tmp_path / "gw", env=env)) as gateway:
        yield gateway


def test_loopback_text_answer(
    codex: Path, loopback_gateway: GatewayThread, tmp_path: Path, trap: ProxyTrap
) -> None:
    run = run_codex(codex, loopback_gateway, tmp_path, trap, "hello from codex through the gateway")
    # Loopback echoes the last user message: the prompt made the round trip.
    assert run.answer() == "hello from codex through the gateway"


def test_loopback_exec_command_round_trip(
    codex: Path, loopback_gateway: GatewayThread, tmp_path: Path, trap: ProxyTrap
) -> None:
    call = json.dumps({"cmd": SHELL_COMMAND})
    run = run_codex(codex, loopback_gateway, tmp_path, trap, f"/tool exec_command {call}")
    answer = run.answer()
    # Loopback's last answer is the tool output Codex sent back.
    assert "exec-ran-ok" in answer
    assert "Process exited with code 0" in answer
    assert (run.work / SHELL_FILE).read_text() == "written-by-exec\n"


def test_loopback_apply_patch_round_trip(
    codex: Path, loopback_gateway: GatewayThread, tmp_path: Path, trap: ProxyTrap
) -> None:
    # A JSON string literal scripts the multi-line freeform input.
    run = run_codex(
        codex, loopback_gateway, tmp_path, trap, f"/tool apply_patch {json.dumps(PATCH)}"
    )
    answer = run.answer()
    assert "Success. Updated the following files" in answer
    assert (run.work / PATCH_FILE).read_text() == "written by apply_patch\n"


# ------------------------------------------------------- fake Anthropic upstream


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    last = body["messages"][-1]
    content = last["content"] if isinstance(last["content"], list) else []
    return [b for b in content if b.get("type") == "tool_result"]


def _result_text(result: dict[str, Any]) -> str:
    content = result.get("content")
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or [])


def _first_user_text(body: dict[str, Any]) -> str:
    texts = []
    for message in body["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts += [b["text"] for b in blocks if b.get("type") == "text"]
    return "\n".join(texts)


def claude_plays(received: Received) -> Reply:
    """A Claude model: text, or one tool call per prompt keyword, then the
    tool's result as its answer."""
    body = received.json
    results = _tool_results(body)
    if results:
        text = "tool said: " + _result_text(results[0])
        return messages_stream(MessagesScenario(blocks=[TextBlock(pieces=[text])]))
    prompt = _first_user_text(body)
    if "USE-EXEC" in prompt:
        arguments = json.dumps({"cmd": SHELL_COMMAND})
        block = ToolUseBlock(id="toolu_exec01", name="exec_command", fragments=["", arguments])
    elif "USE-PATCH" in prompt:
        # The bridged freeform tool: one string parameter named "input".
        arguments = json.dumps({"input": PATCH})
        half = len(arguments) // 2
        block = ToolUseBlock(
            id="toolu_patch01", name="apply_patch", fragments=[arguments[:half], arguments[half:]]
        )
    else:
        return messages_stream(
            MessagesScenario(blocks=[TextBlock(pieces=["Hello ", "from Claude."])])
        )
    return messages_stream(MessagesScenario(blocks=[block]))


@dataclass
class AnthropicSetup:
    gateway: GatewayThread
    fake: FakeServer

    def bodies(self) -> list[dict[str, Any]]:
        return [r.json for r in self.fake.requests(MESSAGES_PATH)]


@pytest.fixture
def anthropic_setup(tmp_path: Path) -> Iterator[AnthropicSetup]:
    fake = FakeServer()
    fake.set_default(MESSAGES_PATH, claude_plays)
    with fake.running_in_thread() as url:
        env = {
            "TOKLIGENCE_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "TOKLIGENCE_ANTHROPIC_BASE_URL": url,
            "TOKLIGENCE_ROUTES": f"{MODEL}=>anthropic",
            "TOKLIGENCE_MODEL_ALIASES": f"{MODEL}=>{CLAUDE_MODEL}",
        }
        with GatewayThread(isolated_config(tmp_path / "gw", env=env)) as gateway:
            yield AnthropicSetup(gateway=gateway, fake=fake)


def _assert_translated(body: dict[str, Any]) -> None:
    """What every Codex turn must look like on its way to Anthropic."""
    assert body["model"] == CLAUDE_MODEL
    names = [t["name"] for t in body["tools"]]
    assert "exec_command" in names and "apply_patch" in names
    # Hosted tools the upstream cannot run are gone; nothing else is.
    assert not {"web_search", "tool_search"} & {t.get("type") for t in body["tools"]}
    patch_tool = next(t for t in body["tools"] if t["name"] == "apply_patch")
    assert patch_tool["input_schema"]["required"] == ["input"]
    assert "*** Begin Patch" in patch_tool["description"]  # the lark grammar travels along
    # Codex's developer messages became the system prompt.
    system = body["system"]
    system_text = system if isinstance(system, str) else "".join(b["text"] for b in system)
    assert "Codex" in system_text
    sent = json.dumps(body)
    assert "encrypted_content" not in sent and "prompt_cache_key" not in sent


def test_anthropic_text_answer(
    codex: Path, anthropic_setup: AnthropicSetup, tmp_path: Path, trap: ProxyTrap
) -> None:
    run = run_codex(codex, anthropic_setup.gateway, tmp_path, trap, "Say hello.")
    assert run.answer() == "Hello from Claude."
    (body,) = anthropic_setup.bodies()
    _assert_translated(body)
    assert body["stream"] is True
    assert anthropic_setup.fake.last(MESSAGES_PATH).headers["x-api-key"] == ANTHROPIC_KEY


def test_anthropic_exec_command_round_trip(
    codex: Path, anthropic_setup: AnthropicSetup, tmp_path: Path, trap: ProxyTrap
) -> None:
    run = run_codex(codex, anthropic_setup.gateway, tmp_path, trap, "USE-EXEC: make the file.")
    answer = run.answer()
    assert answer.startswith("tool said: ") and "exec-ran-ok" in answer
    assert (run.work / SHELL_FILE).read_text() == "written-by-exec\n"
    first, second = anthropic_setup.bodies()
    _assert_translated(first)
    _assert_translated(second)
    # The follow-up replays the call and its output as Anthropic blocks.
    call = second["messages"][-2]["content"][-1]
    assert call["type"] == "tool_use" and call["name"] == "exec_command"
    assert call["input"] == {"cmd": SHELL_COMMAND}
    (result,) = _tool_results(second)
    assert result["tool_use_id"] == call["id"] == "toolu_exec01"
    assert "exec-ran-ok" in _result_text(result)


def test_anthropic_apply_patch_round_trip(
    codex: Path, anthropic_setup: AnthropicSetup, tmp_path: Path, trap: ProxyTrap
) -> None:
    run = run_codex(codex, anthropic_setup.gateway, tmp_path, trap, "USE-PATCH: add the file.")
    answer = run.answer()
    assert answer.startswith("tool said: ") and "Success." in answer
    # Codex got a custom_tool_call with the raw patch, and applied it.
    assert (run.work / PATCH_FILE).read_text() == "written by apply_patch\n"
    first, second = anthropic_setup.bodies()
    _assert_translated(first)
    _assert_translated(second)
    # The replayed custom call goes back in the bridged function's shape.
    call = second["messages"][-2]["content"][-1]
    assert call["type"] == "tool_use" and call["name"] == "apply_patch"
    assert call["input"] == {"input": PATCH}
    (result,) = _tool_results(second)
    assert result["tool_use_id"] == "toolu_patch01"
    assert "A " + PATCH_FILE in _result_text(result)
