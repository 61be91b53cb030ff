"""The HTTP layer over in-memory streams, driven by a real h11 client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import h11
import pytest
import trio
import trio.testing

from tokligence.errors import GatewayError
from tokligence.server.http import (
    ConnectionTracker,
    HttpLimits,
    HttpRequest,
    Responder,
    serve_connection,
)


def render_error(path: str, error: GatewayError) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"error": {"message": error.message, "type": error.kind}}).encode()
    return error.status, [("content-type", "application/json"), *error.headers], body


class App:
    """A test application recording what happened to each request."""

    def __init__(self) -> None:
        self.seen: list[HttpRequest] = []
        self.release = trio.Event()
        self.cancelled = trio.Event()
        self.stream_started = trio.Event()

    async def __call__(self, request: HttpRequest, responder: Responder) -> None:
        self.seen.append(request)
        if request.path == "/echo":
            await responder.respond(200, [("content-type", "text/plain")], request.body or b"empty")
        elif request.path == "/stream":
            await responder.start(200, [("content-type", "text/event-stream")])
            await responder.send(b"data: first\n\n")
            self.stream_started.set()
            try:
                await self.release.wait()
            except trio.Cancelled:
                self.cancelled.set()
                raise
            await responder.send(b"data: last\n\n")
            await responder.end()
        elif request.path == "/boom":
            raise RuntimeError("bug")
        else:
            await responder.respond(404, [], b"{}")


class Client:
    """A real h11 client over the client end of a memory stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def send(self, *events: h11.Event) -> None:
        for event in events:
            data = self.conn.send(event)
            if data:
                await self.stream.send_all(data)

    async def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        hdrs = [("host", "test"), *(headers or [])]
        if body or method == "POST":
            hdrs.append(("content-length", str(len(body))))
        await self.send(h11.Request(method=method, target=target, headers=hdrs))
        if body:
            await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())

    async def next(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
                continue
            return event

    async def response(self) -> tuple[h11.Response, bytes]:
        head = await self.next()
        while isinstance(head, h11.InformationalResponse):
            head = await self.next()
        assert isinstance(head, h11.Response), head
        body = b""
        while True:
            event = await self.next()
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return head, body
            else:
                raise AssertionError(f"unexpected {event!r}")

    def reset(self) -> None:
        self.conn.start_next_cycle()


LIMITS = HttpLimits(max_body_bytes=1024, header_timeout=5.0, idle_timeout=30.0)


@asynccontextmanager
async def connected(
    app: App, limits: HttpLimits = LIMITS
) -> AsyncIterator[tuple[Client, trio.abc.Stream]]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    tracker = ConnectionTracker()
    async with trio.open_nursery() as nursery:
        await nursery.start(tracker.watch.run)
        nursery.start_soon(
            lambda: serve_connection(
                server_stream,
                handler=app,
                render_error=render_error,
                limits=limits,
                tracker=tracker,
            )
        )
        yield Client(client_stream), client_stream
        nursery.cancel_scope.cancel()


def header(response: h11.Response, name: str) -> str | None:
    for key, value in response.headers:
        if key.decode() == name:
            return value.decode()
    return None


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    app = App()
    async with connected(app) as (client, _):
        for body in (b"one", b"two"):
            await client.request("POST", "/echo", body)
            response, data = await client.response()
            assert response.status_code == 200 and data == body
            client.reset()
    assert [r.body for r in app.seen] == [b"one", b"two"]


async def test_pipelined_requests_are_answered_in_order() -> None:
    app = App()
    async with connected(app) as (_client, raw):
        wire = (
            b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 1\r\n\r\nA"
            b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 1\r\n\r\nB"
        )
        await raw.send_all(wire)
        data = b""
        with trio.fail_after(5):
            while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"B"):
                data += await raw.receive_some(65536)
    assert data.index(b"\r\n\r\nA") < data.index(b"\r\n\r\nB")
    assert [r.body for r in app.seen] == [b"A", b"B"]


async def test_request_id_is_echoed_or_generated() -> None:
    app = App()
    async with connected(app) as (client, _):
        await client.request("POST", "/echo", b"x", [("x-request-id", "abc-123")])
        response, _ = await client.response()
        assert header(response, "x-request-id") == "abc-123"
        client.reset()
        await client.request("POST", "/echo", b"x", [("x-request-id", "bad id with spaces")])
        response, _ = await client.response()
        generated = header(response, "x-request-id")
        assert generated is not None and generated.startswith("req_")


async def test_declared_oversized_body_gets_413_and_close() -> None:
    app = App()
    async with connected(app) as (client, raw):
        await raw.send_all(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 5000\r\n\r\n")
        response, body = await client.response()
        assert response.status_code == 413
        assert header(response, "connection") == "close"
        assert "exceeds the limit of 1024 bytes" in json.loads(body)["error"]["message"]
    assert app.seen == []


async def test_chunked_oversized_body_gets_413() -> None:
    app = App()
    async with connected(app) as (client, raw):
        chunk = b"x" * 600
        wire = b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        wire += b"258\r\n" + chunk + b"\r\n" + b"258\r\n" + chunk + b"\r\n0\r\n\r\n"
        await raw.send_all(wire)
        response, _ = await client.response()
        assert response.status_code == 413
    assert app.seen == []


async def test_malformed_request_line_gets_400_json() -> None:
    app = App()
    async with connected(app) as (client, raw):
        await raw.send_all(b"THIS IS NOT HTTP\r\n\r\n")
        response, body = await client.response()
        assert response.status_code == 400
        assert header(response, "content-type") == "application/json"
        assert "malformed HTTP request" in json.loads(body)["error"]["message"]


async def test_oversized_head_is_refused() -> None:
    app = App()
    async with connected(app) as (client, raw):
        await raw.send_all(
            b"GET /echo HTTP/1.1\r\nhost: t\r\nx-big: " + b"a" * 70_000 + b"\r\n\r\n"
        )
        response, _ = await client.response()
        assert response.status_code == 431


async def test_slow_headers_time_out_with_408(autojump_clock: trio.testing.MockClock) -> None:
    app = App()
    async with connected(app) as (client, raw):
        await raw.send_all(b"GET /echo HTTP/1.1\r\nhost: t\r\n")  # never finished
        response, _ = await client.response()
        assert response.status_code == 408
        assert trio.current_time() >= LIMITS.header_timeout
    assert app.seen == []


async def test_idle_connection_is_closed_after_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = App()
    async with connected(app) as (_, raw):
        assert await raw.receive_some(10) == b""  # the server closed it
        assert trio.current_time() >= LIMITS.idle_timeout


async def test_expect_100_continue_is_honoured() -> None:
    app = App()
    async with connected(app) as (client, _raw):
        headers = [("host", "t"), ("content-length", "2"), ("expect", "100-continue")]
        await client.send(h11.Request(method="POST", target="/echo", headers=headers))
        informational = await client.next()
        assert isinstance(informational, h11.InformationalResponse)
        assert informational.status_code == 100
        await client.send(h11.Data(data=b"hi"), h11.EndOfMessage())
        response, body = await client.response()
        assert (response.status_code, body) == (200, b"hi")


async def test_client_disconnect_mid_stream_cancels_the_handler() -> None:
    app = App()
    async with connected(app) as (client, raw):
        await client.request("GET", "/stream")
        head = await client.next()
        assert isinstance(head, h11.Response)
        await app.stream_started.wait()
        await raw.aclose()
        with trio.fail_after(5):
            await app.cancelled.wait()
    assert not app.release.is_set()


async def test_a_bug_in_a_handler_is_a_500_and_the_connection_keeps_serving() -> None:
    app = App()
    async with connected(app) as (client, _):
        await client.request("GET", "/boom")
        response, _ = await client.response()
        assert response.status_code == 500
        client.reset()
        await client.request("POST", "/echo", b"still here")
        response, body = await client.response()
        assert body == b"still here"


@pytest.mark.parametrize("version", [b"HTTP/1.0"])
async def test_http_10_client_gets_a_closed_connection(version: bytes) -> None:
    app = App()
    async with connected(app) as (_, raw):
        await raw.send_all(b"POST /echo " + version + b"\r\ncontent-length: 2\r\n\r\nok")
        data = b""
        while chunk := await raw.receive_some(1000):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok")
