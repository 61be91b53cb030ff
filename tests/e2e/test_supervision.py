"""A failure in any background task never stops the gateway or loses a row.

Each long-lived task (ledger writer, key tracker, alias reloader,
disconnect watch) is made to fail once, right after it starts; the gateway
must go on serving, restart the task, say "degraded" in /health meanwhile,
and write every request's ledger row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import tokligence.app
from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.identity.cache import LastUsedTracker
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.models import LedgerEntry
from tokligence.ledger.writer import LedgerWriter
from tokligence.server.watch import DisconnectWatch


def failing_once(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, except that its first call fails after starting."""
    calls = {"n": 0}

    async def wrapper(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            status = kwargs.get("task_status")
            if status is not None:
                status.started()
            raise RuntimeError("injected failure")
        await real(*args, **kwargs)

    return wrapper


# (task name in /health, object, attribute)
TASKS = [
    ("ledger writer", LedgerWriter, "run"),
    ("key tracker", LastUsedTracker, "run"),
    ("disconnect watch", DisconnectWatch, "run"),
    ("alias reloader", tokligence.app, "reload_aliases"),
]


def ledger_ids(config_file: Path) -> set[str]:
    db = open_database(sqlite_url(config_file))
    try:
        with db.connection_context():
            return {e.request_id for e in LedgerEntry.select(LedgerEntry.request_id).execute(db)}
    finally:
        close_database(db)


@pytest.mark.parametrize(("name", "owner", "attribute"), TASKS, ids=[t[0] for t in TASKS])
def test_a_failing_background_task_is_restarted_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, owner: Any, attribute: str
) -> None:
    monkeypatch.setattr(owner, attribute, failing_once(getattr(owner, attribute)))
    aliases = tmp_path / "aliases.conf"
    aliases.write_text("gpt-x => loopback\n")
    config = isolated_config(
        tmp_path,
        env={
            "TOKLIGENCE_MODEL_ALIASES_FILE": str(aliases),
            "TOKLIGENCE_LEDGER_ASYNC_FLUSH_MS": "1",
        },
    )
    sent: list[str] = []
    with GatewayThread(config) as gateway, httpx.Client(base_url=gateway.url()) as client:
        deadline = time.monotonic() + 10
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            health = client.get("/health").json()
            if name in health.get("background", {}):
                break
            time.sleep(0.05)
        assert health["background"][name]["restarts"] == 1
        assert "injected failure" in health["background"][name]["last_error"]
        assert health["status"] == "degraded"
        for i in range(20):
            reply = client.post(
                "/v1/chat/completions",
                json={"model": "loopback", "messages": [{"role": "user", "content": f"hi {i}"}]},
            )
            assert reply.status_code == 200
            sent.append(reply.headers["x-request-id"])
    # run() flushed the ledger before the gateway stopped.
    assert set(sent) <= ledger_ids(config.ledger_file())
