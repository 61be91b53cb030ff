"""Anthropic's rule for a thinking budget: below max_tokens, unless the
interleaved-thinking beta (which Claude Code sends) lets it span a turn's
tool calls. It depends on a header, so it is checked where headers are known."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.gateway_thread import GatewayThread, isolated_config

BODY = {
    "model": "loopback",
    "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 4096},
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with GatewayThread(isolated_config(tmp_path_factory.mktemp("budget"))) as running:
        yield running


def ask(gateway: GatewayThread, body: dict[str, object], beta: str | None) -> httpx.Response:
    headers = {"anthropic-version": "2023-06-01"}
    if beta is not None:
        headers["anthropic-beta"] = beta
    return httpx.post(gateway.url() + "/v1/messages", json=body, headers=headers, timeout=10)


def test_a_budget_past_max_tokens_is_refused_naming_the_field(gateway: GatewayThread) -> None:
    reply = ask(gateway, BODY, None)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "thinking.budget_tokens (4096) must be less than max_tokens (2048)" in error["message"]


@pytest.mark.parametrize(
    "beta",
    ["interleaved-thinking-2025-05-14", "claude-code-20250219,interleaved-thinking-2025-05-14"],
)
def test_the_interleaved_thinking_beta_lets_it_exceed(gateway: GatewayThread, beta: str) -> None:
    assert ask(gateway, BODY, beta).status_code == 200


def test_a_budget_below_max_tokens_passes(gateway: GatewayThread) -> None:
    body = {**BODY, "max_tokens": 8192}
    assert ask(gateway, body, "context-1m-2025-08-07").status_code == 200
