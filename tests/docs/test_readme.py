"""The README's commands and snippets work as written (issue 17).

Every fenced block of README.md is either run here against a live gateway
with the loopback model (the address rewritten to the test's port, nothing
else) or named in NOT_RUN with the reason and the test that runs it
instead. A new block fails this test until it is one or the other.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.config import load_config

from .snippets import ROOT, Block, blocks

README = "README.md"
DEFAULT_ADDRESS = "127.0.0.1:8081"

NOT_RUN = {
    "README.md: python3 -m venv .venv && . .venv/bin/activate && pip install . && tokligence": (
        "tests/distribution/test_readme_commands.py runs it as written on a clean copy of "
        "the repository and asks the gateway it starts"
    ),
    "README.md: python3 -m venv .venv && . .venv/bin/activate && pip install -e "
    "'.[test,postgres]' && python -m pytest": ".ci/run runs exactly this command",
    "README.md: tokligence claude                    # Claude Code on whatever the gateway "
    "routes claude-* to": (
        "starts the agents; tests/agents/test_launchers.py runs each of these launches"
    ),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with GatewayThread(isolated_config(tmp_path_factory.mktemp("readme"))) as running:
        yield running


def _address(gateway: GatewayThread) -> str:
    return gateway.url().removeprefix("http://")


def _params() -> list[object]:
    return [pytest.param(block, id=f"line-{block.line}") for block in blocks(README)]


@pytest.mark.parametrize("block", _params())
def test_each_readme_block_works_as_written(
    block: Block, gateway: GatewayThread, tmp_path: Path
) -> None:
    if block.key in NOT_RUN:
        return
    if block.lang == "ini":
        path = tmp_path / "gateway.ini"
        path.write_text(block.text, encoding="utf-8")
        config = load_config(
            env={"DEEPSEEK_API_KEY": "unused"},
            flags={},
            config_file=path,
            cwd=tmp_path,
            user_config_dir=tmp_path / "user",
        )
        assert config.providers, block.key
        return
    text = block.text.replace(DEFAULT_ADDRESS, _address(gateway))
    if block.lang == "python":
        command = [sys.executable, "-c", text]
    elif block.lang == "sh":
        command = ["bash", "-euo", "pipefail", "-c", text]
    else:
        pytest.fail(f"{block.key} (line {block.line}): no way to run a {block.lang!r} block")
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{block.key}:\n{result.stdout}\n{result.stderr}"
    assert '"error"' not in result.stdout, result.stdout


def test_blocks_not_run_here_still_exist() -> None:
    keys = {block.key for block in blocks(README)}
    assert set(NOT_RUN) <= keys, set(NOT_RUN) - keys  # a stale entry hides nothing
    # What the README says CI runs, CI runs: the same line, and nothing else
    # that installs anything.
    test_command = [b.text.strip() for b in blocks(README) if b.lang == "sh"][1]
    assert test_command.endswith("python -m pytest"), test_command
    lines = ROOT.joinpath(".ci", "run").read_text().splitlines()
    commands = [line for line in lines if line.strip() and not line.startswith("#")]
    assert commands == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', test_command]
