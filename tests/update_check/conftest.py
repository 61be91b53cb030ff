"""A fake registry per test, and the gateway configuration pointing at it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.registry import base_url
from tests.fakes.wire import FakeServer
from tests.gateway_thread import isolated_config
from tokligence.config import Config
from tokligence.update.sources import INSTALLED_BY_ENV

KINDS = ("pip", "npm", "npx", "binary")


@pytest.fixture
async def registry() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    async with fake.serving():
        yield fake


def environ_for(kind: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a gateway installed as ``kind`` (the binary's
    marker is the interpreter's ``sys.frozen``, as PyInstaller sets it)."""
    monkeypatch.setattr(sys, "frozen", kind == "binary", raising=False)
    return {INSTALLED_BY_ENV: kind} if kind in ("npm", "npx") else {}


def config_for(tmp_path: Path, fake: FakeServer, kind: str, **env: str) -> Config:
    values = {"TOKLIGENCE_UPDATE_CHECK_URL": base_url(fake, kind), **env}
    return isolated_config(tmp_path, env=values)
