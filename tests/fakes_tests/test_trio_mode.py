"""Protocol fakes served inside a trio test and read with httpx, the gateway's client."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
import trio
import trio.testing

from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_stream
from tests.fakes.openai_chat import ChatScenario, chat_stream
from tests.fakes.sse_script import Framing, Gap
from tests.fakes.wire import FakeServer, FakeServerError, Received, Reply
from tests.sse_util import events
from tokligence.wire.sse_read import SseDecoder, SseEvent


async def timed_events(
    client: httpx.AsyncClient, path: str, body: object
) -> list[tuple[str | None, str, float]]:
    """(event name, data, virtual arrival time) as the decoder completes each event."""
    decoder = SseDecoder()
    out: list[tuple[str | None, str, float]] = []
    async with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        async for raw in response.aiter_raw():
            for item in decoder.feed(raw):
                if isinstance(item, SseEvent):
                    out.append((item.event, item.data, trio.current_time()))
    return out


async def test_silent_gap_before_the_first_delta(autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeServer()
    scenario = MessagesScenario(blocks=[TextBlock(pieces=["a", "b"])], gap_before_first_delta=300.0)
    fake.enqueue("/v1/messages", messages_stream(scenario))
    async with fake.serving() as url, httpx.AsyncClient(base_url=url, timeout=None) as client:
        got = await timed_events(client, "/v1/messages", {"stream": True})
    names = [name for name, _, _ in got]
    assert names[:4] == ["message_start", "content_block_start", "ping", "content_block_delta"]
    ping_at, first_delta_at = got[2][2], got[3][2]
    assert first_delta_at - ping_at >= 300.0
    assert got[-1][0] == "message_stop"
    assert fake.last_json("/v1/messages") == {"stream": True}


async def test_split_stream_with_gap_decodes_like_the_whole(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeServer()
    base = ChatScenario(text=["é😀", "\u2028x"])
    split = replace(base, framing=Framing(split_every=3, insert={2: [Gap(seconds=5.0)]}))
    fake.enqueue("/v1/chat/completions", chat_stream(split))
    async with fake.serving() as url, httpx.AsyncClient(base_url=url, timeout=None) as client:
        got = await timed_events(client, "/v1/chat/completions", {"stream": True})
    whole = chat_stream(base).body
    parsed = [(name, data if data == "[DONE]" else json.loads(data)) for name, data, _ in got]
    assert parsed == events(whole)
    assert got[2][2] - got[1][2] >= 5.0
    assert got[-1][1] == "[DONE]"


async def test_slow_headers_trip_a_read_timeout(autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeServer()
    slow = replace(chat_stream(ChatScenario(text=["x"])), head_delay=120.0)
    fake.enqueue("/v1/chat/completions", slow)
    async with fake.serving() as url, httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/v1/chat/completions", json={"stream": True})
        assert trio.current_time() >= 30.0


async def test_abrupt_close_is_an_incomplete_chunked_body() -> None:
    fake = FakeServer()
    scenario = MessagesScenario(blocks=[TextBlock(pieces=["a"])], framing=Framing(cut_after=3))
    fake.enqueue("/v1/messages", messages_stream(scenario))
    async with fake.serving() as url, httpx.AsyncClient(base_url=url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await timed_events(client, "/v1/messages", {})


async def test_a_failing_factory_is_raised_when_serving_ends() -> None:
    fake = FakeServer()

    def broken(received: Received) -> Reply:
        raise ZeroDivisionError

    fake.set_default("/x", broken)
    with pytest.raises(FakeServerError) as caught:
        async with fake.serving() as url, httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/x")).status_code == 500
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
