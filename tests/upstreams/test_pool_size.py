"""The upstream connection pool is as large as the gateway's own
client-connection limit, so concurrent streams never queue for a pooled
connection (each client connection has at most one request upstream)."""

from __future__ import annotations

from pathlib import Path

from tokligence.app import build_upstreams
from tokligence.config import load_config
from tokligence.upstreams.deferred import DeferredProvider
from tokligence.upstreams.transport import PooledTransport


def test_each_provider_pool_follows_max_connections(tmp_path: Path) -> None:
    config = load_config(
        env={
            "TOKLIGENCE_OPENAI_API_KEY": "k",
            "TOKLIGENCE_ANTHROPIC_API_KEY": "k",
            "TOKLIGENCE_MAX_CONNECTIONS": "2000",
        },
        cwd=tmp_path,
        user_config_dir=tmp_path / "user-config",
    )
    providers = [u for u in build_upstreams(config).values() if isinstance(u, DeferredProvider)]
    assert {provider.name for provider in providers} == {"openai", "anthropic"}
    for provider in providers:
        transport = provider.client()._transport
        assert isinstance(transport, PooledTransport)
        assert transport._max_connections == 2000
