"""A gateway wired to fake OpenAI and Anthropic upstreams, for end-to-end
tests with the official SDKs over real sockets.

Providers: the built-in ``openai`` (Chat Completions and Responses, from the
OpenAI fake) and ``anthropic`` (from the Anthropic fake), plus ``compat``, an
OpenAI-compatible chat-only provider on the same OpenAI fake (what Codex
meets with vLLM or DeepSeek: Responses clients get translated to Chat), and
``backup`` for fallback tests. Routes: ``gpt*``/``o*`` -> openai,
``claude*`` -> anthropic (defaults), ``compat-*`` -> compat,
``fallback-*`` -> anthropic then backup.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.wire import FakeServer
from tests.gateway_thread import GatewayThread, isolated_config

OPENAI_KEY = "test-openai-upstream-key-0001"
ANTHROPIC_KEY = "test-anthropic-upstream-key-0001"


@dataclass
class Rig:
    gateway: GatewayThread
    openai: FakeServer
    anthropic: FakeServer
    backup: FakeServer

    @property
    def url(self) -> str:
        return self.gateway.url()

    def reset(self) -> None:
        for fake in (self.openai, self.anthropic, self.backup):
            fake.reset()


@pytest.fixture(scope="package")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp: Path = tmp_path_factory.mktemp("translation")
    openai, anthropic, backup = FakeServer(), FakeServer(), FakeServer()
    with (
        openai.running_in_thread() as openai_url,
        anthropic.running_in_thread() as anthropic_url,
        backup.running_in_thread() as backup_url,
    ):
        env = {
            "TOKLIGENCE_OPENAI_API_KEY": OPENAI_KEY,
            "TOKLIGENCE_OPENAI_BASE_URL": openai_url + "/v1",
            "TOKLIGENCE_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "TOKLIGENCE_ANTHROPIC_BASE_URL": anthropic_url,
            "TOKLIGENCE_PROVIDER_COMPAT_BASE_URL": openai_url + "/v1",
            "TOKLIGENCE_PROVIDER_COMPAT_API_KEY": "compat-key",
            "TOKLIGENCE_PROVIDER_BACKUP_BASE_URL": backup_url + "/v1",
            "TOKLIGENCE_PROVIDER_BACKUP_API_KEY": "backup-key",
            "TOKLIGENCE_ROUTES": "compat-*=>compat, fallback-*=>anthropic|backup",
            # Fast retries keep the suite quick; the policy is the same.
            "TOKLIGENCE_UPSTREAM_RETRY_BACKOFF": "0.01",
            "TOKLIGENCE_UPSTREAM_MAX_RETRIES": "1",
            "TOKLIGENCE_BREAKER_THRESHOLD": "1000",
        }
        with GatewayThread(isolated_config(tmp, env=env)) as gateway:
            yield Rig(gateway=gateway, openai=openai, anthropic=anthropic, backup=backup)


@pytest.fixture
def fresh(rig: Rig) -> Iterator[Rig]:
    rig.reset()
    yield rig
    rig.reset()
