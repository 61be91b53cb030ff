"""The circuit breaker steers traffic, it never makes an outage.

A route with one provider: 529 bursts open its breaker, yet the next
requests are still tried (every target refusing is "panic" mode) and the
one that would succeed succeeds; a 429 reaches the client with its
retry-after. A route with a fallback: while the primary's breaker is open,
requests go straight to the fallback. One client request counts once
against an upstream, however often it was retried there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fakes.anthropic import MessagesScenario, TextBlock, anthropic_error, messages_json
from tests.fakes.openai_chat import ChatScenario, chat_json
from tests.fakes.wire import FakeServer
from tests.gateway_thread import GatewayThread, beside_fakes

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
HEADERS = {"anthropic-version": "2023-06-01"}


@dataclass
class BreakerRig:
    gateway: GatewayThread
    anthropic: FakeServer
    backup: FakeServer

    def ask(self, model: str) -> httpx.Response:
        body = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
        return httpx.post(self.gateway.url() + MESSAGES, json=body, headers=HEADERS, timeout=10)

    def breakers(self) -> dict[str, str]:
        upstreams: dict[str, str] = httpx.get(self.gateway.url() + "/health").json()["upstreams"]
        return upstreams


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[BreakerRig]:
    def env(urls: Mapping[str, str]) -> dict[str, str]:
        return {
            "TOKLIGENCE_ANTHROPIC_API_KEY": "k",
            "TOKLIGENCE_ANTHROPIC_BASE_URL": urls["anthropic"],
            "TOKLIGENCE_PROVIDER_BACKUP_BASE_URL": urls["backup"] + "/v1",
            "TOKLIGENCE_PROVIDER_BACKUP_API_KEY": "b",
            "TOKLIGENCE_ROUTES": "claude-only*=>anthropic, claude-fb*=>anthropic|backup",
            "TOKLIGENCE_UPSTREAM_MAX_RETRIES": "2",
            "TOKLIGENCE_UPSTREAM_RETRY_BACKOFF": "0.001",
            "TOKLIGENCE_BREAKER_THRESHOLD": "2",
            "TOKLIGENCE_BREAKER_COOLDOWN": "600",
        }

    with beside_fakes(tmp_path, "anthropic", "backup", env=env) as (gateway, fakes):
        yield BreakerRig(gateway=gateway, anthropic=fakes["anthropic"], backup=fakes["backup"])


def overloaded() -> object:
    return anthropic_error(529, "overloaded_error", "Overloaded")


def ok(text: str = "fine") -> object:
    return messages_json(MessagesScenario(blocks=[TextBlock(pieces=[text])]))


def test_one_request_counts_once_however_often_it_was_retried(rig: BreakerRig) -> None:
    rig.anthropic.enqueue(MESSAGES, overloaded(), overloaded(), overloaded())
    assert rig.ask("claude-only-1").status_code == 529
    assert len(rig.anthropic.requests(MESSAGES)) == 3  # tried three times
    assert rig.breakers()["anthropic"] == "closed"  # counted once: threshold is 2


def test_a_route_with_one_provider_is_never_locked_out(rig: BreakerRig) -> None:
    for _ in range(2):
        rig.anthropic.enqueue(MESSAGES, overloaded(), overloaded(), overloaded())
        assert rig.ask("claude-only-1").status_code == 529
    assert rig.breakers()["anthropic"] == "open"
    # Open, and the route's only provider: still tried, and it answers.
    rig.anthropic.enqueue(MESSAGES, ok())
    answer = rig.ask("claude-only-1")
    assert answer.status_code == 200, answer.text
    assert rig.breakers()["anthropic"] == "closed"


def test_a_429_reaches_the_client_with_its_retry_after_while_open(rig: BreakerRig) -> None:
    for _ in range(2):
        rig.anthropic.enqueue(MESSAGES, overloaded(), overloaded(), overloaded())
        rig.ask("claude-only-1")
    limited = anthropic_error(429, "rate_limit_error", "slow down", retry_after=40)
    rig.anthropic.enqueue(MESSAGES, limited)
    answer = rig.ask("claude-only-1")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "40"


def test_an_open_primary_sends_traffic_to_the_fallback(rig: BreakerRig) -> None:
    for _ in range(2):
        rig.anthropic.enqueue(MESSAGES, overloaded(), overloaded(), overloaded())
        rig.backup.enqueue(CHAT, chat_json(ChatScenario(text=["from backup"])))
        assert rig.ask("claude-fb-1").status_code == 200
    assert rig.breakers()["anthropic"] == "open"
    tried = len(rig.anthropic.requests(MESSAGES))
    rig.backup.enqueue(CHAT, chat_json(ChatScenario(text=["from backup"])))
    answer = rig.ask("claude-fb-1")
    assert answer.status_code == 200
    assert len(rig.anthropic.requests(MESSAGES)) == tried  # skipped while open
