"""Asking a registry: each kind's question, the answers, the failures, and
what is sent (nothing that identifies anyone)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from tests.fakes.registry import GARBAGE, HANG, PATHS, newer_answer
from tests.fakes.wire import FakeServer
from tokligence import __version__
from tokligence.update.check import TIMEOUT, ask
from tokligence.update.sources import CannotCheck

from .conftest import KINDS, config_for, environ_for

SENT_HEADERS = {"host", "user-agent", "accept", "connection"}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_newer_version_is_found(
    kind: str, registry: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.set_default(PATHS[kind], newer_answer(registry, kind, "99.1.0"))
    answer = await ask(config_for(tmp_path, registry, kind), environ_for(kind, monkeypatch))
    assert answer.newer and answer.latest.lstrip("v") == "99.1.0"
    assert answer.current == __version__ and answer.kind == kind
    assert answer.url == registry.url + PATHS[kind]


@pytest.mark.parametrize("kind", KINDS)
async def test_the_same_version_is_not_newer(
    kind: str, registry: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.set_default(PATHS[kind], newer_answer(registry, kind, __version__))
    answer = await ask(config_for(tmp_path, registry, kind), environ_for(kind, monkeypatch))
    assert not answer.newer


@pytest.mark.parametrize("kind", KINDS)
async def test_nothing_identifying_is_sent(
    kind: str, registry: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.set_default(PATHS[kind], newer_answer(registry, kind, "99.1.0"))
    await ask(config_for(tmp_path, registry, kind), environ_for(kind, monkeypatch))
    [request] = registry.received
    assert (request.method, request.path, request.query, request.body) == (
        "GET",
        PATHS[kind],
        "",
        b"",
    )
    assert set(request.headers) == SENT_HEADERS
    assert request.headers["user-agent"] == "tokligence"  # not even the version


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("garbage", sorted(GARBAGE))
async def test_garbage_is_no_answer(
    kind: str,
    garbage: str,
    registry: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.set_default(PATHS[kind], GARBAGE[garbage])
    with pytest.raises(CannotCheck):
        await ask(config_for(tmp_path, registry, kind), environ_for(kind, monkeypatch))


@pytest.mark.parametrize("kind", KINDS)
async def test_a_registry_that_hangs_is_given_up_on(
    kind: str,
    registry: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry.set_default(PATHS[kind], HANG)
    started = trio.current_time()
    with pytest.raises(CannotCheck, match="no answer within"):
        await ask(config_for(tmp_path, registry, kind), environ_for(kind, monkeypatch))
    assert trio.current_time() - started == pytest.approx(TIMEOUT)


async def test_a_refused_connection_is_no_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeServer()
    async with fake.serving():
        pass  # its port is free again: nobody listens there
    with pytest.raises(CannotCheck, match="cannot connect"):
        await ask(config_for(tmp_path, fake, "pip"), environ_for("pip", monkeypatch))
