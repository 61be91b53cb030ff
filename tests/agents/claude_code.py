"""Running the real Claude Code (pinned, from npm) against a gateway, for
the ``test_claude_code_*`` end-to-end tests.

:func:`run_claude` runs ``claude -p`` with the offline environment of
``npm_tools`` (isolated HOME, telemetry and updates off), ``--output-format
json`` (so the outcome is read, not guessed from text) and its proxy
variables aimed at a :class:`ProxyTrap`: the ``trap`` fixture asserts at the
end of each test that nothing but the gateway on 127.0.0.1 was contacted.
Bash is allowed by name (``--dangerously-skip-permissions`` is refused when
the tests run as root, as in containers). The recorded requests of the
pinned version live in ``samples/`` (redacted), for drift checks and for the
protocol tests that replay them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.agents.npm_tools import CLAUDE_CODE, install, offline_env
from tests.agents.proxy_trap import ProxyTrap
from tests.gateway_thread import GatewayThread

# A cold start of the CLI plus a few model turns; generous for a loaded CI box.
CLAUDE_TIMEOUT_S = 180
CLIENT_KEY = "placeholder-claude-client-key-0001"  # not a real key
OPENAI_KEY = "test-openai-upstream-key-0001"
ANTHROPIC_KEY = "test-anthropic-upstream-key-0001"
GPT_MODEL = "gpt-5-mini"  # a reasoning model: reasoning_effort is forwarded
CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
OUTPUT_FILE = "made-by-bash.txt"
# Single quotes only: the command travels inside JSON inside a prompt.
BASH_COMMAND = f"echo written-by-bash > {OUTPUT_FILE} && echo bash-ran-ok"
BASH_PROMPT = "Run the Bash tool to create the file, then say what it printed."
TOOL_SEARCH_PROMPT = "Load the WebFetch tool."
SAMPLES = Path(__file__).parent / "samples"


@dataclass(frozen=True, kw_only=True)
class ClaudeRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        """The final JSON object of ``--output-format json``."""
        value = json.loads(self.stdout)
        assert isinstance(value, dict), self.stdout
        return value

    def assert_succeeded(self) -> str:
        """The answer text, after checking the run ended cleanly."""
        assert self.returncode == 0, (self.stdout[-2000:], self.stderr[-2000:])
        result = self.result
        assert result["is_error"] is False, result
        assert result["subtype"] == "success", result
        answer = result["result"]
        assert isinstance(answer, str)
        return answer


@pytest.fixture(scope="module", name="claude")
def claude_fixture() -> Path:
    return install(CLAUDE_CODE)


@pytest.fixture(name="trap")
def trap_fixture() -> Iterator[ProxyTrap]:
    with ProxyTrap() as proxy:
        yield proxy
    # Anything here went somewhere other than the gateway on 127.0.0.1.
    assert proxy.knocks == []


def run_claude(
    claude: Path,
    gateway: GatewayThread,
    tmp_path: Path,
    trap: ProxyTrap,
    prompt: str,
    env: Mapping[str, str] | None = None,
    unset: tuple[str, ...] = (),
    timeout: float = CLAUDE_TIMEOUT_S,
) -> ClaudeRun:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    environment = offline_env(tmp_path / "home")
    environment.update(trap.proxy_env())
    environment.update(ANTHROPIC_BASE_URL=gateway.url(), ANTHROPIC_API_KEY=CLIENT_KEY)
    environment.update(env or {})
    for name in unset:
        environment.pop(name)
    done = subprocess.run(
        [
            str(claude),
            "-p",
            prompt,
            "--output-format",
            "json",
            # Bash without a permission prompt (--dangerously-skip-permissions
            # is refused when the tests run as root, as in containers).
            "--allowedTools",
            "Bash",
            "--max-turns",
            "4",
        ],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return ClaudeRun(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)


def bash_line() -> str:
    arguments = json.dumps({"command": BASH_COMMAND, "description": "Write the test file"})
    return f"/tool Bash {arguments}"
