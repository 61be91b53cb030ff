"""What the ledger records on upstream paths: sniffed passthrough usage,
translated usage with cache semantics, and cut streams flagged estimated."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_stream
from tests.fakes.openai_chat import ChatScenario, chat_stream
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.models import LedgerEntry, row_of
from tokligence.ledger.row import LedgerRow

from .conftest import Rig

ROW_WAIT = 5.0  # the writer commits within its flush interval; this is a generous bound


def post(rig: Rig, path: str, body: dict[str, Any]) -> tuple[str, bytes]:
    request = urllib.request.Request(
        rig.url + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "anthropic-version": "2023-06-01"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["x-request-id"], response.read()


def row_for(rig: Rig, request_id: str) -> LedgerRow:
    db = open_database(sqlite_url(rig.gateway.config.ledger_file()))
    try:
        deadline = time.monotonic() + ROW_WAIT
        while time.monotonic() < deadline:
            with db.connection_context():
                entry = LedgerEntry.select().where(LedgerEntry.request_id == request_id).first(db)
            if entry is not None:
                return row_of(entry)
            time.sleep(0.02)
    finally:
        close_database(db)
    raise AssertionError(f"no ledger row for {request_id}")


def test_passthrough_usage_is_sniffed_with_cache_split(fresh: Rig) -> None:
    scenario = ChatScenario(text=["hi"], prompt_tokens=100, cached_tokens=60, completion_tokens=7)
    fresh.openai.enqueue("/v1/chat/completions", chat_stream(scenario))
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    request_id, _ = post(fresh, "/v1/chat/completions", body)
    row = row_for(fresh, request_id)
    assert (row.mode, row.provider, row.stream) == ("passthrough", "openai", True)
    # OpenAI's prompt_tokens include the cache; the ledger keeps them apart.
    assert (row.input_tokens, row.cache_read_tokens, row.output_tokens) == (40, 60, 7)
    assert not row.estimated


def test_translated_usage_keeps_anthropic_cache_fields(fresh: Rig) -> None:
    scenario = MessagesScenario(
        blocks=[TextBlock(pieces=["ok"])],
        input_tokens=30,
        cache_read_input_tokens=500,
        cache_creation_input_tokens=20,
        output_tokens=5,
    )
    fresh.anthropic.enqueue("/v1/messages", messages_stream(scenario))
    body = {
        "model": "claude-sonnet-4-6",
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    request_id, _ = post(fresh, "/v1/chat/completions", body)
    row = row_for(fresh, request_id)
    assert (row.mode, row.provider) == ("translation", "anthropic")
    assert (row.input_tokens, row.cache_read_tokens, row.cache_write_tokens) == (30, 500, 20)
    assert row.output_tokens == 5 and not row.estimated


def test_a_cut_passthrough_stream_is_flagged_estimated(fresh: Rig) -> None:
    fresh.openai.enqueue(
        "/v1/chat/completions", chat_stream(ChatScenario(text=["par", "tial"], abrupt=True))
    )
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    request_id, raw = post(fresh, "/v1/chat/completions", body)
    assert b"[DONE]" not in raw
    row = row_for(fresh, request_id)
    assert row.estimated and row.error_kind is not None
