"""The real coding agents, installed from npm at pinned versions for the
end-to-end tests.

They are installed once per checkout into ``.cache/agents/<name>-<version>``
(or under ``TOKLIGENCE_TEST_AGENTS_DIR``) so a fresh machine needs nothing but
node and npm, and a second run reuses the install. The install is the only
network the tests use; every agent run afterwards talks to 127.0.0.1 alone,
with telemetry, auto-update and plugin look-ups switched off by
:func:`offline_env`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, kw_only=True)
class Agent:
    package: str
    version: str
    bin: str

    @property
    def slug(self) -> str:
        return f"{self.bin}-{self.version}"


CLAUDE_CODE = Agent(package="@anthropic-ai/claude-code", version="2.1.332", bin="claude")
CODEX = Agent(package="@openai/codex", version="0.169.0", bin="codex")


def agents_dir() -> Path:
    configured = os.environ.get("TOKLIGENCE_TEST_AGENTS_DIR")
    return Path(configured) if configured else ROOT / ".cache" / "agents"


def install(agent: Agent) -> Path:
    """Path of the agent's executable, installing it first if needed."""
    prefix = agents_dir() / agent.slug
    executable = prefix / "node_modules" / ".bin" / agent.bin
    if executable.exists():
        return executable
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is needed to install {agent.package}@{agent.version}")
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "package.json").write_text('{"private": true}\n')
    subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
            str(prefix),
            f"{agent.package}@{agent.version}",
        ],
        check=True,
        timeout=600,
    )
    if not executable.exists():
        raise RuntimeError(f"{agent.package}@{agent.version} installed no {agent.bin} executable")
    return executable


def offline_env(home: Path) -> dict[str, str]:
    """Environment for an agent run that must contact only 127.0.0.1.

    ``home`` becomes HOME (and the agents' config folders) so the developer's
    own settings, credentials and history are neither read nor written.
    """
    keep = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    # Codex exits at once when CODEX_HOME does not exist.
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        CLAUDE_CONFIG_DIR=str(home / ".claude"),
        CODEX_HOME=str(home / ".codex"),
        # Claude Code: no telemetry, error reporting, auto-update, feedback
        # survey or marketplace/plugin fetches.
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_BUG_COMMAND="1",
        CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY="1",
        CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL="1",
        # Codex: no update check or analytics.
        CODEX_DISABLE_UPDATE_CHECK="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env
