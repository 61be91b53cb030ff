"""The scripted HTTP server: selection, recording, keep-alive, framing, both run modes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import trio
import trio.testing

from tests.fakes.sse_script import Framing, Gap, Item, sse_reply
from tests.fakes.wire import (
    Chunk,
    FakeServer,
    FakeServerError,
    Received,
    Reply,
    by_stream,
    html_error,
    json_reply,
)


def text_reply(text: str, status: int = 200) -> Reply:
    return Reply(status=status, chunks=(Chunk(data=text.encode()),), chunked=False)


@pytest.fixture
def served() -> Iterator[tuple[FakeServer, httpx.Client]]:
    fake = FakeServer()
    with fake.running_in_thread() as url, httpx.Client(base_url=url, timeout=10) as client:
        yield fake, client


# -- thread mode -------------------------------------------------------------


def test_queue_is_fifo_per_path_then_default_then_404(
    served: tuple[FakeServer, httpx.Client],
) -> None:
    fake, client = served
    fake.enqueue("/a", text_reply("one"), lambda r: text_reply(f"two via {r.method}"))
    fake.enqueue("/b", text_reply("bee"))
    fake.set_default("/a", lambda r: text_reply(f"default for {r.query}"))
    assert fake.pending() == 3
    assert client.get("/a").text == "one"
    assert client.get("/b?x=1").text == "bee"
    assert client.get("/a").text == "two via GET"
    assert client.get("/a?q=7").text == "default for q=7"
    assert fake.pending("/a") == 0
    missing = client.get("/b")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_url"


def test_unscripted_messages_path_is_an_anthropic_404(
    served: tuple[FakeServer, httpx.Client],
) -> None:
    _, client = served
    response = client.post("/v1/messages/count_tokens", json={})
    assert response.status_code == 404
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"


def test_requests_are_recorded(served: tuple[FakeServer, httpx.Client]) -> None:
    fake, client = served
    fake.set_default("/v1/chat/completions", json_reply({"ok": True}))
    client.post(
        "/v1/chat/completions?beta=true",
        json={"model": "m", "stream": False},
        headers={"X-Mixed-Case": "v", "anthropic-beta": "a"},
    )
    client.post("/v1/chat/completions", content=b"not json")
    first, second = fake.requests("/v1/chat/completions")
    assert (first.method, first.path, first.query) == ("POST", "/v1/chat/completions", "beta=true")
    assert first.headers["x-mixed-case"] == "v"
    assert first.headers["anthropic-beta"] == "a"
    assert first.json == {"model": "m", "stream": False}
    assert (second.body, second.json) == (b"not json", None)
    assert fake.last_json() is None
    assert fake.last_json("/v1/chat/completions") is None
    assert fake.last("/v1/chat/completions") == second
    fake.reset()
    assert fake.received == []
    with pytest.raises(AssertionError, match="no request"):
        fake.last()


def test_keep_alive_reuses_the_connection_until_close_is_asked(
    served: tuple[FakeServer, httpx.Client],
) -> None:
    fake, client = served
    fake.set_default("/k", text_reply("k"))
    client.get("/k")
    client.get("/k")
    client.get("/k", headers={"connection": "close"})
    client.get("/k")
    serials = [r.connection for r in fake.received]
    assert serials[0] == serials[1] == serials[2]
    assert serials[3] != serials[2]


def test_by_stream_chooses_on_the_request_body(served: tuple[FakeServer, httpx.Client]) -> None:
    fake, client = served
    fake.set_default("/s", by_stream(text_reply("stream"), lambda r: text_reply("json")))
    assert client.post("/s", json={"stream": True}).text == "stream"
    assert client.post("/s", json={"stream": False}).text == "json"
    assert client.post("/s", content=b"").text == "json"


def test_chunked_abrupt_close_is_an_incomplete_body(
    served: tuple[FakeServer, httpx.Client],
) -> None:
    fake, client = served
    fake.enqueue("/x", Reply(chunks=(Chunk(data=b"data: 1\n\n"),), close_abruptly=True))
    with client.stream("GET", "/x") as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()


def test_truncated_content_length_body(served: tuple[FakeServer, httpx.Client]) -> None:
    fake, client = served
    fake.enqueue(
        "/x",
        Reply(
            chunks=(Chunk(data=b'{"id": "x",'),),
            chunked=False,
            close_abruptly=True,
            declared_length=400,
        ),
    )
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/x")


def test_declared_length_must_match_an_intact_body() -> None:
    with pytest.raises(ValueError, match="hang"):
        Reply(chunks=(Chunk(data=b"ab"),), chunked=False, declared_length=3)
    with pytest.raises(ValueError, match="non-chunked"):
        Reply(chunks=(), declared_length=0)


def test_html_error_page(served: tuple[FakeServer, httpx.Client]) -> None:
    fake, client = served
    fake.enqueue("/x", html_error(502))
    response = client.get("/x")
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in response.text


def test_status_529_has_a_reason_phrase(served: tuple[FakeServer, httpx.Client]) -> None:
    fake, client = served
    fake.enqueue("/x", text_reply("busy", status=529))
    assert client.get("/x").status_code == 529


def test_a_failing_factory_is_a_500_and_raised_on_stop() -> None:
    fake = FakeServer()

    def broken(received: Received) -> Reply:
        raise KeyError("scenario bug")

    fake.set_default("/x", broken)
    with pytest.raises(FakeServerError) as caught:  # noqa: SIM117 - the raise comes from the exit
        with fake.running_in_thread() as url:
            response = httpx.get(url + "/x")
            assert response.status_code == 500
            assert b"scenario bug" in response.content
    assert isinstance(caught.value.__cause__, KeyError)


def test_thread_mode_can_run_twice() -> None:
    fake = FakeServer(defaults={"/x": text_reply("x")})
    for _ in range(2):
        with fake.running_in_thread() as url:
            assert httpx.get(url + "/x").text == "x"
    assert len(fake.received) == 2


# -- trio mode ---------------------------------------------------------------


async def test_trio_mode_sends_each_chunk_separately_after_its_delay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeServer()
    pieces = [b"data: a", b"\xc3", b"\xa9\n\n", b"data: [DONE]\n\n"]
    fake.enqueue(
        "/s",
        Reply(
            head_delay=1.0,
            chunks=tuple(Chunk(data=p, delay=0.5 * i) for i, p in enumerate(pieces)),
        ),
    )
    async with fake.serving() as url, httpx.AsyncClient(base_url=url, timeout=None) as client:
        start = trio.current_time()
        async with client.stream("GET", "/s") as response:
            assert trio.current_time() - start >= 1.0  # the head delay
            arrivals: list[tuple[bytes, float]] = []
            async for raw in response.aiter_raw():
                arrivals.append((raw, trio.current_time() - start))
    assert [raw for raw, _ in arrivals] == pieces
    times = [at for _, at in arrivals]
    for i in range(1, len(times)):
        assert times[i] - times[i - 1] >= 0.5 * i


async def test_trio_mode_long_silent_gap_is_instant_with_autojump(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeServer()
    items: list[Item] = [("a", {"n": 1}), Gap(seconds=180.0), ("b", {"n": 2})]
    fake.enqueue("/s", sse_reply(items, Framing(split="whole")))
    async with (
        fake.serving() as url,
        httpx.AsyncClient(base_url=url, timeout=None) as client,
        client.stream("GET", "/s") as response,
    ):
        arrivals = [(raw, trio.current_time()) async for raw in response.aiter_raw()]
    assert [raw for raw, _ in arrivals] == [
        b'event: a\ndata: {"n":1}\n\n',
        b'event: b\ndata: {"n":2}\n\n',
    ]
    assert arrivals[1][1] - arrivals[0][1] >= 180.0


async def test_trio_mode_records_a_client_that_went_away(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeServer()
    chunks = tuple(Chunk(data=b"data: x\n\n", delay=1.0) for _ in range(6))
    fake.enqueue("/s", Reply(chunks=chunks))
    fake.set_default("/after", text_reply("still serving"))
    async with fake.serving() as url:
        async with (
            httpx.AsyncClient(base_url=url, timeout=None) as client,
            client.stream("GET", "/s") as response,
        ):
            async for _ in response.aiter_raw():
                break  # hang up after the first event
        await trio.sleep(10)  # virtual: lets the fake try the remaining chunks
        assert [r.path for r in fake.aborted] == ["/s"]
        async with httpx.AsyncClient(base_url=url, timeout=None) as client:
            assert (await client.get("/after")).text == "still serving"
