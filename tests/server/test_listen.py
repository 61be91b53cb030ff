"""Listeners over real loopback sockets: connection cap and graceful shutdown."""

from __future__ import annotations

import functools

import pytest
import trio

from tokligence.server.http import HttpLimits
from tokligence.server.listen import Bound, ListenerSpec, Server

from .test_http import App, render_error


def make_server(app: App, *, grace: float = 10.0, max_connections: int = 16) -> Server:
    server = Server(
        specs=[ListenerSpec(name="gateway", host="127.0.0.1", port=0, keys=frozenset())],
        render_error=render_error,
        limits=HttpLimits(max_body_bytes=1024, header_timeout=5, idle_timeout=30),
        max_connections=max_connections,
        grace=grace,
    )
    return server


def serving(server: Server, app: App) -> functools.partial[object]:
    """``server.serve`` answering with ``app`` on every listener, for ``nursery.start``."""
    return functools.partial(server.serve, lambda keys: app)


async def read_until(stream: trio.SocketStream, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    return data


async def read_to_eof(stream: trio.SocketStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


async def test_graceful_shutdown_lets_a_stream_in_flight_finish() -> None:
    app = App()
    server = make_server(app)
    async with trio.open_nursery() as nursery:
        bound: list[Bound] = await nursery.start(serving(server, app))
        port = bound[0].port
        streaming = await trio.open_tcp_stream("127.0.0.1", port)
        await streaming.send_all(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        assert b"data: first" in await read_until(streaming, b"data: first")

        idle = await trio.open_tcp_stream("127.0.0.1", port)
        await idle.send_all(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\nhi")
        assert (await read_until(idle, b"hi")).endswith(b"hi")

        server.shutdown()
        with trio.fail_after(5):
            assert await read_to_eof(idle) == b""  # idle keep-alive closed at once
        # New connections are refused once the listener is closed.
        for _ in range(100):
            try:
                probe = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                break
            await probe.aclose()
            await trio.sleep(0)
        else:
            raise AssertionError("listener still accepting after shutdown")
        assert not app.cancelled.is_set()
        app.release.set()
        with trio.fail_after(5):
            rest = await read_to_eof(streaming)
        assert b"data: last" in rest
    assert not app.cancelled.is_set()


async def test_grace_period_expiry_cancels_the_stream() -> None:
    app = App()
    server = make_server(app, grace=0.2)
    async with trio.open_nursery() as nursery:
        bound: list[Bound] = await nursery.start(serving(server, app))
        streaming = await trio.open_tcp_stream("127.0.0.1", bound[0].port)
        await streaming.send_all(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        await read_until(streaming, b"data: first")
        server.shutdown()
        with trio.fail_after(5):
            await app.cancelled.wait()
    assert not app.release.is_set()


async def test_second_shutdown_skips_the_grace_period() -> None:
    app = App()
    server = make_server(app, grace=3600)
    async with trio.open_nursery() as nursery:
        bound: list[Bound] = await nursery.start(serving(server, app))
        streaming = await trio.open_tcp_stream("127.0.0.1", bound[0].port)
        await streaming.send_all(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        await read_until(streaming, b"data: first")
        server.shutdown()
        server.shutdown()
        with trio.fail_after(5):
            await app.cancelled.wait()


async def test_connection_cap_holds_newcomers_until_a_slot_frees() -> None:
    app = App()
    server = make_server(app, max_connections=1)
    async with trio.open_nursery() as nursery:
        bound: list[Bound] = await nursery.start(serving(server, app))
        port = bound[0].port
        first = await trio.open_tcp_stream("127.0.0.1", port)
        await first.send_all(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        await read_until(first, b"data: first")
        second = await trio.open_tcp_stream("127.0.0.1", port)  # sits in the backlog
        await second.send_all(
            b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
        )
        with trio.move_on_after(0.3) as waited:
            await second.receive_some(100)
        assert waited.cancelled_caught, "second connection was served beyond the cap"
        await first.aclose()  # frees the slot
        with trio.fail_after(5):
            assert (await read_to_eof(second)).endswith(b"ok")
        server.shutdown()


async def test_a_bug_that_escapes_one_connection_ends_only_that_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tokligence.server.listen as listen

    real = listen.serve_connection
    calls = {"n": 0}

    async def first_one_breaks(stream: trio.abc.Stream, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug outside every handler")
        await real(stream, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(listen, "serve_connection", first_one_breaks)
    app = App()
    server = make_server(app, max_connections=1)
    async with trio.open_nursery() as nursery:
        bound: list[Bound] = await nursery.start(serving(server, app))
        port = bound[0].port
        broken = await trio.open_tcp_stream("127.0.0.1", port)
        with trio.fail_after(5):
            assert await read_to_eof(broken) == b""  # closed, nothing served
        # The server still serves, and the broken connection gave its slot back.
        fine = await trio.open_tcp_stream("127.0.0.1", port)
        await fine.send_all(
            b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
        )
        with trio.fail_after(5):
            assert (await read_to_eof(fine)).endswith(b"ok")
        server.shutdown()
