"""A model a provider lists is routable as listed, and an alias to a
routable model routes: what /v1/models shows, a client can call."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_chat import ChatScenario, chat_json
from tests.fakes.wire import FakeServer
from tests.gateway_thread import GatewayThread, beside_fakes

CHAT = "/v1/chat/completions"


@dataclass
class Rig:
    gateway: GatewayThread
    local: FakeServer
    other: FakeServer

    def ask(self, model: str) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        return httpx.post(self.gateway.url() + CHAT, json=body, timeout=10)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    def env(urls: Mapping[str, str]) -> dict[str, str]:
        return {
            "TOKLIGENCE_PROVIDER_LOCAL_BASE_URL": urls["local"] + "/v1",
            "TOKLIGENCE_PROVIDER_LOCAL_MODELS": "local-chat, shared-model",
            "TOKLIGENCE_PROVIDER_OTHER_BASE_URL": urls["other"] + "/v1",
            "TOKLIGENCE_ROUTES": "shared-model=>other",
            "TOKLIGENCE_MODEL_ALIASES": "gpt-4o=>loopback, house-model=>local-chat",
        }

    with beside_fakes(tmp_path, "local", "other", env=env) as (gateway, fakes):
        yield Rig(gateway=gateway, local=fakes["local"], other=fakes["other"])


def test_a_listed_model_is_routable_as_listed(rig: Rig) -> None:
    listed = httpx.get(rig.gateway.url() + "/v1/models", timeout=10).json()["data"]
    assert "local-chat" in {m["id"] for m in listed}
    rig.local.enqueue(CHAT, chat_json(ChatScenario(text=["from local"])))
    reply = rig.ask("local-chat")
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "from local"


def test_an_explicit_route_wins_over_a_listing(rig: Rig) -> None:
    rig.other.enqueue(CHAT, chat_json(ChatScenario(text=["from other"])))
    reply = rig.ask("shared-model")
    assert reply.status_code == 200, reply.text
    assert rig.local.requests(CHAT) == []


def test_an_alias_to_a_routable_model_routes(rig: Rig) -> None:
    reply = rig.ask("gpt-4o")  # no provider has a key: the alias makes it loopback
    assert reply.status_code == 200, reply.text
    rig.local.enqueue(CHAT, chat_json(ChatScenario(text=["house"])))
    reply = rig.ask("house-model")
    assert reply.status_code == 200, reply.text
    assert rig.local.last_json(CHAT)["model"] == "local-chat"


def test_an_unrouted_model_says_which_setting_serves_it(rig: Rig) -> None:
    reply = rig.ask("mystery")
    assert reply.status_code == 404
    assert "TOKLIGENCE_ROUTES='mystery=>PROVIDER'" in reply.json()["error"]["message"]
