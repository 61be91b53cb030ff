"""Where a request's time went: ``Server-Timing`` on every model answer, the
same figures in the ledger row, and the agent session.

A fake upstream waits a known time before its head (JSON answers) or
between its head and its first event (streams): that wait must show as the
upstream's, not the gateway's, in passthrough and in translation. (A
passthrough stream's head is relayed as the upstream's head arrives, so
its header times only that; the ledger row has the upstream's whole time.)
"""

from __future__ import annotations

import dataclasses
import re
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_events, messages_json
from tests.fakes.openai_chat import ChatScenario, chat_events, chat_json
from tests.fakes.sse_script import to_chunks
from tests.fakes.wire import Chunk, FakeServer, Reply
from tests.gateway_thread import GatewayThread, beside_fakes
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.queries import recent_entries
from tokligence.timing import server_timing

WAIT = 0.3  # the upstream's own time, seconds
SESSION = "0b7e1c2a-1d2e-4f00-8000-000000000001"
TIMING = re.compile(
    r'gateway;dur=(?P<gateway>[\d.]+);desc="added by the gateway"'
    r'(?:, upstream;dur=(?P<upstream>[\d.]+);desc="(?P<what>[^"]+)")?'
)


def slow_json(reply: Reply) -> Reply:
    return dataclasses.replace(reply, head_delay=WAIT)


def slow_stream(items: list[object], content_type: str = "text/event-stream") -> Reply:
    chunks = to_chunks(items)
    first = Chunk(data=chunks[0].data, delay=WAIT)  # head at once, first event late
    return Reply(headers=(("content-type", content_type),), chunks=(first, *chunks[1:]))


def gateway(tmp: Path) -> AbstractContextManager[tuple[GatewayThread, dict[str, FakeServer]]]:
    """A gateway whose OpenAI and Anthropic providers are one fake."""
    return beside_fakes(
        tmp,
        "up",
        env=lambda urls: {
            "TOKLIGENCE_OPENAI_API_KEY": "sk-test",
            "TOKLIGENCE_OPENAI_BASE_URL": urls["up"] + "/v1",
            "TOKLIGENCE_ANTHROPIC_API_KEY": "sk-ant-test",
            "TOKLIGENCE_ANTHROPIC_BASE_URL": urls["up"],
        },
    )


def figures(response: httpx.Response) -> tuple[float, float | None, str | None]:
    found = TIMING.fullmatch(response.headers["server-timing"])
    assert found is not None, response.headers["server-timing"]
    upstream = found["upstream"]
    return float(found["gateway"]), float(upstream) if upstream else None, found["what"]


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.mark.parametrize(
    ("path", "body", "mode"),
    [
        ("/v1/chat/completions", CHAT, "passthrough"),
        ("/v1/messages", CHAT | {"max_tokens": 50}, "translation"),  # Messages -> OpenAI Chat
        ("/v1/messages", MESSAGES, "passthrough"),
        ("/v1/chat/completions", MESSAGES, "translation"),  # Chat -> Anthropic
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_the_upstreams_wait_is_the_upstreams_in_the_header_and_the_row(
    tmp_path: Path, path: str, body: dict[str, object], mode: str, stream: bool
) -> None:
    with gateway(tmp_path) as (running, fakes):
        fake = fakes["up"]
        if str(body["model"]).startswith("claude"):
            scenario = MessagesScenario(blocks=[TextBlock(pieces=["hello"])])
            reply = (
                slow_stream(messages_events(scenario))
                if stream
                else slow_json(messages_json(scenario))
            )
            fake.enqueue("/v1/messages", reply)
        else:
            chat = ChatScenario(text=["hello"])
            reply = slow_stream(chat_events(chat)) if stream else slow_json(chat_json(chat))
            fake.enqueue("/v1/chat/completions", reply)
        started = time.perf_counter()
        with httpx.stream(
            "POST",
            running.url() + path,
            json=body | {"stream": stream},
            headers={"x-claude-code-session-id": SESSION},
            timeout=30,
        ) as response:
            head_ms = (time.perf_counter() - started) * 1000
            response.read()
        assert response.status_code == 200, response.text
        gateway_ms, upstream_ms, what = figures(response)
    assert upstream_ms is not None
    assert what == ("upstream time to first byte" if stream else "upstream")
    if stream and mode == "passthrough":
        # The upstream's head is relayed the moment it comes: its first bytes
        # came before its first event, and the wait after is not in the head.
        assert upstream_ms < WAIT * 1000
    else:
        assert upstream_ms >= WAIT * 1000
    # The gateway's share is its own work, far below the upstream's wait,
    # and the two add up to no more than the client waited for the head.
    assert gateway_ms < WAIT * 1000 / 2
    assert gateway_ms + upstream_ms <= head_ms + 1
    db = open_database(sqlite_url(tmp_path / "data" / "ledger.db"))
    try:
        (entry,) = recent_entries(db, limit=5)
    finally:
        close_database(db)
    row = entry.row
    assert row.mode == mode
    assert row.gateway_ms == pytest.approx(gateway_ms, abs=0.001)
    assert row.upstream_ms is not None and row.upstream_ms >= upstream_ms - 0.001
    assert row.upstream_ms >= WAIT * 1000  # the row has the upstream's whole time
    assert row.session_id == SESSION


def test_loopback_answers_have_only_the_gateways_figure(tmp_path: Path) -> None:
    with gateway(tmp_path) as (running, _):
        loopback_and_refusal(running)
    db = open_database(sqlite_url(tmp_path / "data" / "ledger.db"))
    try:
        rows = [entry.row for entry in recent_entries(db, limit=5)]
    finally:
        close_database(db)
    assert [row.session_id for row in rows] == [None, None, None]  # not an id: not kept
    assert all(row.upstream_ms is None and row.gateway_ms is not None for row in rows)


def loopback_and_refusal(running: GatewayThread) -> None:
    for stream in (False, True):
        response = httpx.post(
            running.url() + "/v1/chat/completions",
            json={**CHAT, "model": "loopback", "stream": stream},
            headers={"session_id": "not a session id!"},
        )
        assert response.status_code == 200
        gateway_ms, upstream_ms, _ = figures(response)
        assert upstream_ms is None and 0 <= gateway_ms < 1000
    # An error the gateway makes itself says its time too.
    refused = httpx.post(running.url() + "/v1/chat/completions", json={"model": "nope"})
    assert refused.status_code == 404 and figures(refused)[1] is None


def test_the_header_value() -> None:
    assert server_timing(0.4123, None, stream=False) == (
        'gateway;dur=0.412;desc="added by the gateway"'
    )
    assert server_timing(1.0, 12.34567, stream=True) == (
        'gateway;dur=1.000;desc="added by the gateway", '
        'upstream;dur=12.346;desc="upstream time to first byte"'
    )
