"""Upstream timeouts that fire, once per client request (issue 12, item 7).

A stream's response head must come within ``upstream_response_timeout``; a
whole answer's comes with the answer, so it may take as long as the
upstream may be silent (``upstream_read_timeout``). Whichever applies is one
deadline for the client's request, shared by every retry and fallback: a
timeout is never multiplied by the retry count. A stream that has begun is
bounded only by the silence between its bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from tests.fakes.anthropic import (
    MessagesScenario,
    TextBlock,
    anthropic_error,
    messages_json,
    messages_stream,
)
from tests.fakes.openai_chat import ChatScenario, chat_stream
from tests.fakes.wire import FakeServer
from tests.gateway_thread import GatewayThread, beside_fakes
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.models import LedgerEntry

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
HEADERS = {"anthropic-version": "2023-06-01"}
RESPONSE_TIMEOUT_S = 0.6
READ_TIMEOUT_S = 3.0
STALL_S = 8.0  # a fake that stalls, long past every timeout


@dataclass
class TimeoutRig:
    gateway: GatewayThread
    anthropic: FakeServer
    backup: FakeServer

    def ask(self, model: str, *, stream: bool) -> tuple[httpx.Response, float]:
        body = {
            "model": model,
            "max_tokens": 16,
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
        }
        started = time.monotonic()
        reply = httpx.post(self.gateway.url() + MESSAGES, json=body, headers=HEADERS, timeout=30)
        return reply, time.monotonic() - started

    def row(self, request_id: str) -> tuple[int, str | None]:
        db = open_database(sqlite_url(self.gateway.config.ledger_file()))
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                with db.connection_context():
                    query = LedgerEntry.select().where(LedgerEntry.request_id == request_id)
                    entry = query.first(db)
                if entry is not None:
                    return entry.status, entry.error_kind
                time.sleep(0.02)
        finally:
            close_database(db)
        raise AssertionError(f"no ledger row for {request_id}")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[TimeoutRig]:
    def env(urls: Mapping[str, str]) -> dict[str, str]:
        return {
            "TOKLIGENCE_ANTHROPIC_API_KEY": "k",
            "TOKLIGENCE_ANTHROPIC_BASE_URL": urls["anthropic"],
            "TOKLIGENCE_PROVIDER_BACKUP_BASE_URL": urls["backup"] + "/v1",
            "TOKLIGENCE_PROVIDER_BACKUP_API_KEY": "b",
            "TOKLIGENCE_ROUTES": "claude-only*=>anthropic, claude-fb*=>anthropic|backup",
            "TOKLIGENCE_UPSTREAM_RESPONSE_TIMEOUT": str(RESPONSE_TIMEOUT_S),
            "TOKLIGENCE_UPSTREAM_READ_TIMEOUT": str(READ_TIMEOUT_S),
            "TOKLIGENCE_UPSTREAM_MAX_RETRIES": "2",
            "TOKLIGENCE_UPSTREAM_RETRY_BACKOFF": "0.001",
            "TOKLIGENCE_BREAKER_THRESHOLD": "1000",
            "TOKLIGENCE_STREAM_KEEPALIVE": "0.3",
        }

    with beside_fakes(tmp_path, "anthropic", "backup", env=env) as (gateway, fakes):
        yield TimeoutRig(gateway=gateway, anthropic=fakes["anthropic"], backup=fakes["backup"])


def text(words: str = "fine") -> MessagesScenario:
    return MessagesScenario(blocks=[TextBlock(pieces=[words])])


def test_a_stream_without_a_head_gets_504_once_not_per_retry(rig: TimeoutRig) -> None:
    stalled = replace(messages_stream(text()), head_delay=STALL_S)
    rig.anthropic.enqueue(MESSAGES, stalled, stalled, stalled)
    reply, elapsed = rig.ask("claude-only-1", stream=True)
    assert reply.status_code == 504, reply.text
    assert reply.json()["error"]["type"] == "timeout_error"
    # One deadline: not three attempts of 0.6 s each, and never the read timeout.
    assert RESPONSE_TIMEOUT_S - 0.05 <= elapsed < 2 * RESPONSE_TIMEOUT_S
    assert len(rig.anthropic.requests(MESSAGES)) == 1
    assert rig.row(reply.headers["x-request-id"]) == (504, "timeout")


def test_a_fallback_shares_the_deadline(rig: TimeoutRig) -> None:
    stalled = replace(messages_stream(text()), head_delay=STALL_S)
    rig.anthropic.enqueue(MESSAGES, stalled)
    rig.backup.enqueue(CHAT, chat_stream(ChatScenario(text=["backup"])))
    reply, elapsed = rig.ask("claude-fb-1", stream=True)
    assert reply.status_code == 504, reply.text
    assert elapsed < 2 * RESPONSE_TIMEOUT_S
    assert rig.backup.requests(CHAT) == []  # the deadline was spent on the primary


def test_a_fast_failure_still_falls_back_within_the_deadline(rig: TimeoutRig) -> None:
    rig.anthropic.set_default(MESSAGES, anthropic_error(500, "api_error", "boom"))
    rig.backup.enqueue(CHAT, chat_stream(ChatScenario(text=["from the backup"])))
    reply, _ = rig.ask("claude-fb-2", stream=True)
    assert reply.status_code == 200, reply.text
    assert "from the backup" in reply.text


def test_a_whole_answer_may_take_longer_than_a_streams_head(rig: TimeoutRig) -> None:
    # A non-streamed answer's head comes with the answer: only the read
    # timeout (silence) bounds it, not upstream_response_timeout.
    slow = replace(messages_json(text("took a while")), head_delay=2 * RESPONSE_TIMEOUT_S)
    rig.anthropic.enqueue(MESSAGES, slow)
    reply, elapsed = rig.ask("claude-only-2", stream=False)
    assert reply.status_code == 200, reply.text
    assert reply.json()["content"][0]["text"] == "took a while"
    assert elapsed >= 2 * RESPONSE_TIMEOUT_S - 0.05


def test_a_whole_answer_never_begun_gets_504_at_the_read_timeout_once(rig: TimeoutRig) -> None:
    stalled = replace(messages_json(text()), head_delay=STALL_S)
    rig.anthropic.enqueue(MESSAGES, stalled, stalled, stalled)
    reply, elapsed = rig.ask("claude-only-3", stream=False)
    assert reply.status_code == 504, reply.text
    assert READ_TIMEOUT_S - 0.05 <= elapsed < READ_TIMEOUT_S + 1.5
    assert len(rig.anthropic.requests(MESSAGES)) == 1


def test_a_begun_stream_may_be_slower_than_the_head_deadline(rig: TimeoutRig) -> None:
    # The head comes at once; the text after a silence longer than the
    # response timeout (but shorter than the read timeout) still arrives,
    # with the gateway's keep-alives in between.
    slow = MessagesScenario(
        blocks=[TextBlock(pieces=["late", " but whole"])],
        gap_before_first_delta=3 * RESPONSE_TIMEOUT_S,
    )
    rig.anthropic.enqueue(MESSAGES, messages_stream(slow))
    reply, elapsed = rig.ask("claude-only-4", stream=True)
    assert reply.status_code == 200
    assert elapsed >= 3 * RESPONSE_TIMEOUT_S - 0.05
    assert "late" in reply.text and " but whole" in reply.text
    assert "event: message_stop" in reply.text
    assert "event: ping" in reply.text  # the gateway's keep-alive
    assert rig.row(reply.headers["x-request-id"]) == (200, None)
