"""PooledTransport against a real scripted server on 127.0.0.1 (plain TCP and TLS).

The server parses requests with h11 and writes responses by hand, so a test can
cut a response anywhere, stay silent, or close an idle keep-alive connection.
It counts accepted and currently open connections: that is how pooling, caps,
reuse and "the socket was closed, not leaked" are observed from the outside.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import h11
import httpx
import pytest
import trio

from tokligence.upstreams.transport import PooledTransport

WAIT_S = 5.0  # upper bound for anything a test waits on; hitting it is a failure
SHORT_S = 0.2  # timeouts the tests expect to fire

# A throwaway CA and a leaf for localhost/127.0.0.1 it signed (EC P-256, valid
# until 2126), generated once with openssl: TLS tests need no network and no
# certificate package. The key protects nothing.
TEST_CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBbjCCAROgAwIBAgIBATAKBggqhkjOPQQDAjAdMRswGQYDVQQDDBJ0b2tsaWdl
bmNlIHRlc3QgQ0EwIBcNMjYxMTI2MDcwMTQ4WhgPMjEyNjExMDIwNzAxNDhaMB0x
GzAZBgNVBAMMEnRva2xpZ2VuY2UgdGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABMX5/oV7u5fJh/W9xe5i2mu32BbnLi2mL5Fcvajtq8nxllm2UB7XBQ1r
lhnjdvYmCXwl4KxgCRQwW5L/cTs33kqjQjBAMA8GA1UdEwEB/wQFMAMBAf8wDgYD
VR0PAQH/BAQDAgEGMB0GA1UdDgQWBBQ6qMpz8jtPZDxO2d3FqvS51BXR7jAKBggq
hkjOPQQDAgNJADBGAiEAvaxXKpbfXMA1rFjUmEpwXYbiw8tiax1YBg6smyjaXcsC
IQDvRojAsgKoodEy/3GTLesvrHr9e9Ab2PS8MCm+wtDgmQ==
-----END CERTIFICATE-----
"""
TEST_LEAF_PEM = """-----BEGIN CERTIFICATE-----
MIIBtjCCAVugAwIBAgIBAjAKBggqhkjOPQQDAjAdMRswGQYDVQQDDBJ0b2tsaWdl
bmNlIHRlc3QgQ0EwIBcNMjYxMTI2MDcwMTQ4WhgPMjEyNjExMDIwNzAxNDhaMBQx
EjAQBgNVBAMMCWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABBcK
4KZopx6OPoYbuHC0WiIrQxrytrGiyA2rKWCOVZ3x+ybc+cgn/6BzLHUMngAW3V7k
HuhnWLlvQSIW+5OtwRqjgZIwgY8wDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMC
B4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwGgYDVR0RBBMwEYIJbG9jYWxob3N0hwR/
AAABMB0GA1UdDgQWBBTrMBLr6DCFHO8R0zS/quDjbc4GOzAfBgNVHSMEGDAWgBQ6
qMpz8jtPZDxO2d3FqvS51BXR7jAKBggqhkjOPQQDAgNJADBGAiEA0/29mVkQtsQK
J0CSnvvudyX/UTWQowVCFB8D34ooKEYCIQD5HZcrWOJAbIIrxFv86n1L/Y7bDx1/
2wG8T6fIWAJNtQ==
-----END CERTIFICATE-----
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJ7fgTXtneMlXbH+8
8ucI2VHqcyyy8EfZtuTMPKl3I2qhRANCAAQXCuCmaKcejj6GG7hwtFoiK0Ma8rax
osgNqylgjlWd8fsm3PnIJ/+gcyx1DJ4AFt1e5B7oZ1i5b0EiFvuTrcEa
-----END PRIVATE KEY-----
"""

# ---------------------------------------------------------------- the server


@dataclass(kw_only=True)
class Exchange:
    """One request as the server saw it, and the socket to answer on."""

    stream: trio.abc.Stream
    conn_id: int
    request: h11.Request
    body: bytes

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def wait_for_client_close(self) -> None:
        while await self.stream.receive_some(65536):
            pass


# Answers one exchange; returns False to close the connection afterwards.
Responder = Callable[[Exchange], Awaitable[bool]]


@dataclass(kw_only=True)
class Server:
    respond: Responder
    port: int = 0
    accepted: int = 0
    open: int = 0
    max_open: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    _changed: trio.Event = field(default_factory=trio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        with trio.fail_after(WAIT_S):
            while not predicate():
                await self._changed.wait()

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.accepted += 1
        conn_id = self.accepted
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self._notify()
        try:
            pending = b""
            while True:
                parsed = await read_request(stream, pending)
                if parsed is None:
                    return
                request, body, pending = parsed
                exchange = Exchange(stream=stream, conn_id=conn_id, request=request, body=body)
                self.exchanges.append(exchange)
                self._notify()
                if not await self.respond(exchange):
                    return
        except (trio.BrokenResourceError, h11.RemoteProtocolError):
            pass  # the client went away: exactly what several tests provoke
        finally:
            self.open -= 1
            self._notify()
            await trio.aclose_forcefully(stream)


async def read_request(
    stream: trio.abc.Stream, pending: bytes
) -> tuple[h11.Request, bytes, bytes] | None:
    machine = h11.Connection(h11.SERVER)
    if pending:  # b"" would mean EOF to h11
        machine.receive_data(pending)
    request: h11.Request | None = None
    body = b""
    while True:
        event = machine.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            if not data:
                return None
            machine.receive_data(data)
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, body, machine.trailing_data[0]
        else:
            raise AssertionError(f"unexpected {event!r}")


async def serve(nursery: trio.Nursery, respond: Responder) -> Server:
    server = Server(respond=respond)
    listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
    server.port = listeners[0].socket.getsockname()[1]
    return server


def head(status: int = 200, *headers: tuple[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Whatever'}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reply(body: bytes = b'{"ok":true}', *headers: tuple[str, str]) -> bytes:
    return (
        head(
            200, ("content-type", "application/json"), *headers, ("content-length", str(len(body)))
        )
        + body
    )


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def ok(exchange: Exchange) -> bool:
    await exchange.send(reply())
    return True


def client(server: Server, transport: PooledTransport, **timeouts: float) -> httpx.AsyncClient:
    timeout = httpx.Timeout(WAIT_S, **timeouts)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=server.url, timeout=timeout)


def origin_counts(transport: PooledTransport) -> tuple[int, int]:
    (counts,) = transport.connection_counts().values()
    return counts


# ---------------------------------------------------------------- basics


async def test_json_post_roundtrip(nursery: trio.Nursery) -> None:
    async def echo(exchange: Exchange) -> bool:
        await exchange.send(reply(exchange.body, ("x-upstream", "yes")))
        return True

    server = await serve(nursery, echo)
    async with client(server, PooledTransport()) as http:
        response = await http.post("/v1/chat/completions?x=1", json={"model": "m", "n": 1})
    assert response.status_code == 200
    assert response.json() == {"model": "m", "n": 1}
    assert response.headers["x-upstream"] == "yes"
    assert response.http_version == "HTTP/1.1"
    assert response.reason_phrase == "OK"
    seen = server.exchanges[0]
    assert (seen.request.method, seen.request.target) == (b"POST", b"/v1/chat/completions?x=1")
    sent_headers = dict(seen.request.headers)
    assert sent_headers[b"host"] == f"127.0.0.1:{server.port}".encode()
    assert sent_headers[b"content-length"] == str(len(seen.body)).encode()
    assert seen.body == b'{"model":"m","n":1}'


async def test_sse_chunks_flow_one_at_a_time(nursery: trio.Nursery) -> None:
    events = [f'data: {{"i":{i}}}\n\n'.encode() for i in range(5)]
    received = [trio.Event() for _ in events]

    async def sse(exchange: Exchange) -> bool:
        await exchange.send(
            head(200, ("content-type", "text/event-stream"), ("transfer-encoding", "chunked"))
        )
        for event, delivered in zip(events, received, strict=True):
            await exchange.send(chunk(event))
            # The next event is only written once the client has this one: a
            # transport that buffered would deadlock here and fail on WAIT_S.
            with trio.fail_after(WAIT_S):
                await delivered.wait()
        await exchange.send(b"0\r\n\r\n")
        return True

    server = await serve(nursery, sse)
    got: list[bytes] = []
    async with (
        client(server, PooledTransport()) as http,
        http.stream("POST", "/s", json={}) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        async for piece in response.aiter_raw():
            got.append(piece)
            received[len(got) - 1].set()
    assert got == events


async def test_keep_alive_reuses_one_connection(nursery: trio.Nursery) -> None:
    server = await serve(nursery, ok)
    transport = PooledTransport()
    async with client(server, transport) as http:
        for _ in range(10):
            assert (await http.post("/", content=b"x")).json() == {"ok": True}
        assert origin_counts(transport) == (0, 1)
    assert server.accepted == 1
    assert len(server.exchanges) == 10


async def test_fifty_concurrent_requests(nursery: trio.Nursery) -> None:
    cap = 20
    all_slots_busy = trio.Event()

    async def gated(exchange: Exchange) -> bool:
        if len(server.exchanges) == cap:
            all_slots_busy.set()
        await all_slots_busy.wait()  # answers start once the pool is full
        await exchange.send(reply(exchange.body))
        return True

    server = await serve(nursery, gated)
    results: dict[int, bytes] = {}
    transport = PooledTransport(max_connections=cap)
    async with client(server, transport) as http:

        async def one(i: int) -> None:
            results[i] = (await http.post("/", content=str(i).encode())).content

        async with trio.open_nursery() as requests:
            for i in range(50):
                requests.start_soon(one, i)
        assert origin_counts(transport) == (0, cap)
    assert results == {i: str(i).encode() for i in range(50)}
    assert server.accepted == cap
    assert server.max_open == cap


async def test_pool_cap_limits_connections(nursery: trio.Nursery) -> None:
    server = await serve(nursery, ok)
    async with (
        client(server, PooledTransport(max_connections=2)) as http,
        trio.open_nursery() as requests,
    ):
        for _ in range(5):
            requests.start_soon(http.get, "/")
    assert len(server.exchanges) == 5
    assert server.accepted == 2
    assert server.max_open == 2


async def test_pool_timeout(nursery: trio.Nursery) -> None:
    release = trio.Event()

    async def held(exchange: Exchange) -> bool:
        await release.wait()
        return await ok(exchange)

    server = await serve(nursery, held)
    async with client(server, PooledTransport(max_connections=1), pool=SHORT_S) as http:
        async with trio.open_nursery() as first:
            first.start_soon(http.get, "/")
            await server.wait_for(lambda: len(server.exchanges) == 1)
            with pytest.raises(httpx.PoolTimeout) as caught:
                await http.get("/second")
            assert caught.value.request.url.path == "/second"
            release.set()
        assert (await http.get("/third")).status_code == 200
    assert server.accepted == 1


async def test_most_recently_used_connection_is_reused_first(nursery: trio.Nursery) -> None:
    answer = {1: trio.Event(), 2: trio.Event()}

    async def in_order(exchange: Exchange) -> bool:
        if exchange.conn_id in answer and len(server.exchanges) <= 2:
            await answer[exchange.conn_id].wait()
        return await ok(exchange)

    server = await serve(nursery, in_order)
    async with client(server, PooledTransport()) as http:
        done = {1: trio.Event(), 2: trio.Event()}

        async def request(conn_id: int) -> None:
            await http.get("/")
            done[conn_id].set()

        async with trio.open_nursery() as requests:
            requests.start_soon(request, 1)
            await server.wait_for(lambda: len(server.exchanges) == 1)
            requests.start_soon(request, 2)
            await server.wait_for(lambda: len(server.exchanges) == 2)
            for conn_id in (1, 2):  # connection 2 goes idle last
                answer[conn_id].set()
                await done[conn_id].wait()
        await http.get("/")
    assert [e.conn_id for e in server.exchanges] == [1, 2, 2]


async def test_idle_expiry_and_max_idle(nursery: trio.Nursery) -> None:
    server = await serve(nursery, ok)
    async with client(server, PooledTransport(keepalive_expiry=0)) as http:
        await http.get("/")
        await http.get("/")
    assert server.accepted == 2  # the first connection had expired

    gate = trio.Event()

    async def gated(exchange: Exchange) -> bool:
        await gate.wait()
        return await ok(exchange)

    server = await serve(nursery, gated)
    transport = PooledTransport(max_idle=1)
    async with client(server, transport) as http:
        async with trio.open_nursery() as requests:
            for _ in range(3):
                requests.start_soon(http.get, "/")
            await server.wait_for(lambda: len(server.exchanges) == 3)
            gate.set()
        await server.wait_for(lambda: server.open == 1)  # two surplus idle ones closed
        assert origin_counts(transport) == (0, 1)
        await http.get("/")
    assert server.accepted == 3


async def test_aclose_closes_pooled_connections(nursery: trio.Nursery) -> None:
    server = await serve(nursery, ok)
    transport = PooledTransport()
    async with client(server, transport) as http:
        await http.get("/")
        assert server.open == 1
    await server.wait_for(lambda: server.open == 0)
    with pytest.raises(RuntimeError):
        await transport.handle_async_request(httpx.Request("GET", server.url))


# ---------------------------------------------------------------- bodies and framing


@pytest.mark.parametrize(
    ("raw", "reused"),
    [
        pytest.param(reply(b"0123456789"), True, id="content-length"),
        pytest.param(
            head(200, ("transfer-encoding", "chunked"))
            + chunk(b"01234")
            + chunk(b"56789")
            + b"0\r\n\r\n",
            True,
            id="chunked",
        ),
        pytest.param(head(200, ("connection", "close")) + b"0123456789", False, id="until-eof"),
    ],
)
async def test_response_framings(nursery: trio.Nursery, raw: bytes, reused: bool) -> None:
    async def framed(exchange: Exchange) -> bool:
        await exchange.send(raw)
        return b"connection: close" not in raw

    server = await serve(nursery, framed)
    async with client(server, PooledTransport()) as http:
        for _ in range(2):
            assert (await http.get("/")).content == b"0123456789"
    assert server.accepted == (1 if reused else 2)


async def test_streaming_request_body_and_head(nursery: trio.Nursery) -> None:
    async def answer(exchange: Exchange) -> bool:
        if exchange.request.method == b"HEAD":
            await exchange.send(head(200, ("content-length", "10")))  # no body follows
        else:
            await exchange.send(reply(exchange.body))
        return True

    async def parts() -> AsyncIterator[bytes]:
        for piece in (b"ab", b"cd", b"ef"):
            yield piece

    server = await serve(nursery, answer)
    async with client(server, PooledTransport()) as http:
        assert (await http.post("/", content=parts())).content == b"abcdef"
        response = await http.head("/")
        assert (response.status_code, response.content) == (200, b"")
        assert (await http.post("/", content=b"")).content == b""
    assert server.accepted == 1


# ---------------------------------------------------------------- stale connections


@pytest.mark.parametrize("abort", [False, True], ids=["fin", "reset"])
async def test_stale_keep_alive_is_retried_on_a_fresh_connection(
    nursery: trio.Nursery, abort: bool
) -> None:
    async def answer_then_hang_up(exchange: Exchange) -> bool:
        await exchange.send(reply(exchange.body))
        if abort:
            reset_on_close(exchange)
        return exchange.conn_id > 1

    server = await serve(nursery, answer_then_hang_up)
    async with client(server, PooledTransport()) as http:
        assert (await http.post("/", content=b"one")).content == b"one"
        await server.wait_for(lambda: server.open == 0)  # the pooled connection is now dead
        assert (await http.post("/", content=b"two")).content == b"two"
    assert server.accepted == 2
    assert [e.body for e in server.exchanges] == [b"one", b"two"]


def reset_on_close(exchange: Exchange) -> None:
    """Linger 0: closing sends RST, so the client's next send or read fails hard."""
    assert isinstance(exchange.stream, trio.SocketStream)
    exchange.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize(
    ("partial", "abort", "error"),
    [
        pytest.param(
            head(200, ("content-length", "10")) + b"01234",
            False,
            httpx.RemoteProtocolError,
            id="cut-body",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\ncontent-le", False, httpx.RemoteProtocolError, id="cut-head"
        ),
        # Loopback delivers the bytes before the RST: the read after them fails.
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-le", True, httpx.ReadError, id="reset-head"),
    ],
)
async def test_no_retry_once_response_bytes_arrived(
    nursery: trio.Nursery, partial: bytes, abort: bool, error: type[Exception]
) -> None:
    async def second_is_cut(exchange: Exchange) -> bool:
        if len(server.exchanges) == 1:
            return await ok(exchange)
        await exchange.send(partial)
        if abort:
            reset_on_close(exchange)
        return False

    server = await serve(nursery, second_is_cut)
    transport = PooledTransport()
    async with client(server, transport) as http:
        await http.get("/")
        with pytest.raises(error) as caught:
            await http.get("/cut")
        assert caught.value.request.url.path == "/cut"  # type: ignore[attr-defined]
        assert origin_counts(transport) == (0, 0)
    assert len(server.exchanges) == 2
    assert server.accepted == 1


async def test_fresh_connection_closed_without_answer_is_not_retried(nursery: trio.Nursery) -> None:
    async def hang_up(exchange: Exchange) -> bool:
        return False

    server = await serve(nursery, hang_up)
    async with client(server, PooledTransport()) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await http.get("/")
    assert len(server.exchanges) == 1


async def test_cut_body_message(nursery: trio.Nursery) -> None:
    async def cut(exchange: Exchange) -> bool:
        await exchange.send(head(200, ("transfer-encoding", "chunked")) + chunk(b"data: 1\n\n"))
        return False

    server = await serve(nursery, cut)
    async with client(server, PooledTransport()) as http, http.stream("GET", "/") as response:
        with pytest.raises(
            httpx.RemoteProtocolError,
            match="peer closed connection without sending complete message body",
        ):
            async for _ in response.aiter_raw():
                pass


# ---------------------------------------------------------------- timeouts and errors


async def test_read_timeout_on_a_silent_server(nursery: trio.Nursery) -> None:
    async def silent(exchange: Exchange) -> bool:
        await exchange.wait_for_client_close()
        return False

    server = await serve(nursery, silent)
    transport = PooledTransport()
    async with client(server, transport, read=SHORT_S) as http:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await http.get("/silent")
        assert caught.value.request.url.path == "/silent"
        await server.wait_for(lambda: server.open == 0)
        assert origin_counts(transport) == (0, 0)


async def test_read_timeout_mid_body(nursery: trio.Nursery) -> None:
    async def stalls(exchange: Exchange) -> bool:
        await exchange.send(head(200, ("transfer-encoding", "chunked")) + chunk(b"data: 1\n\n"))
        await exchange.wait_for_client_close()
        return False

    server = await serve(nursery, stalls)
    async with client(server, PooledTransport(), read=SHORT_S) as http:
        async with http.stream("GET", "/") as response:
            pieces = response.aiter_raw()
            assert await pieces.__anext__() == b"data: 1\n\n"
            started = trio.current_time()
            with pytest.raises(httpx.ReadTimeout):
                await pieces.__anext__()
            assert trio.current_time() - started >= SHORT_S
        await server.wait_for(lambda: server.open == 0)


async def test_write_timeout(nursery: trio.Nursery) -> None:
    async def never_reads(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    listeners = await nursery.start(partial(trio.serve_tcp, never_reads, 0, host="127.0.0.1"))
    # A small receive window on the server side (inherited by accepted sockets)
    # keeps the body needed to fill both socket buffers modest.
    listeners[0].socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    port = listeners[0].socket.getsockname()[1]
    body = b"x" * (16 * 1024 * 1024)
    async with httpx.AsyncClient(
        transport=PooledTransport(), timeout=httpx.Timeout(WAIT_S, write=SHORT_S)
    ) as http:
        with pytest.raises(httpx.WriteTimeout):
            await http.post(f"http://127.0.0.1:{port}/", content=body)


async def test_connect_error_on_a_closed_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = PooledTransport()
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.get(f"http://127.0.0.1:{port}/x")
        assert caught.value.request.url.port == port
        assert origin_counts(transport) == (0, 0)


async def test_content_length_added_when_missing(nursery: trio.Nursery) -> None:
    async def echo(exchange: Exchange) -> bool:
        await exchange.send(reply(exchange.body))
        return True

    server = await serve(nursery, echo)
    transport = PooledTransport()
    # With an explicit stream httpx prepares no headers: no Host, no length.
    hostless = httpx.Request("POST", server.url, stream=httpx.ByteStream(b"abc"))
    with pytest.raises(httpx.LocalProtocolError, match="Host"):
        await transport.handle_async_request(hostless)
    assert origin_counts(transport) == (0, 0)
    bare = httpx.Request("POST", server.url, headers={"host": "x"}, stream=httpx.ByteStream(b"abc"))
    assert "content-length" not in bare.headers
    response = await transport.handle_async_request(bare)
    assert await response.aread() == b"abc"
    assert dict(server.exchanges[0].request.headers)[b"content-length"] == b"3"
    await transport.aclose()


async def test_connect_timeout_covers_the_tls_handshake(nursery: trio.Nursery) -> None:
    async def never_answers_hello(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    listeners = await nursery.start(
        partial(trio.serve_tcp, never_answers_hello, 0, host="127.0.0.1")
    )
    port = listeners[0].socket.getsockname()[1]
    transport = PooledTransport(ssl_context=ssl.create_default_context(cadata=TEST_CA_PEM))
    timeout = httpx.Timeout(WAIT_S, connect=SHORT_S)
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.get(f"https://localhost:{port}/")
        assert origin_counts(transport) == (0, 0)


async def test_unsupported_scheme() -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        await PooledTransport().handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))


# ---------------------------------------------------------------- abandoned responses


def stream_forever(first: bytes) -> Responder:
    """Head + one chunk, then the rest only after the client hangs up (i.e. never)."""

    async def respond(exchange: Exchange) -> bool:
        if exchange.request.target != b"/stream":
            return await ok(exchange)
        await exchange.send(head(200, ("transfer-encoding", "chunked")) + chunk(first))
        await exchange.wait_for_client_close()
        return False

    return respond


async def test_partially_read_response_is_not_reused(nursery: trio.Nursery) -> None:
    server = await serve(nursery, stream_forever(b"data: 1\n\n"))
    transport = PooledTransport()
    async with client(server, transport) as http:
        async with http.stream("GET", "/stream") as response:
            async for _ in response.aiter_raw():
                break
        assert origin_counts(transport) == (0, 0)
        await server.wait_for(lambda: server.open == 0)
        await http.get("/")
    assert server.accepted == 2


async def test_closing_early_after_the_whole_body_arrived_keeps_the_connection(
    nursery: trio.Nursery,
) -> None:
    async def whole_in_one_send(exchange: Exchange) -> bool:
        body = chunk(b"data: 1\n\n") + chunk(b"data: 2\n\n") + b"0\r\n\r\n"
        await exchange.send(head(200, ("transfer-encoding", "chunked")) + body)
        return True

    server = await serve(nursery, whole_in_one_send)
    transport = PooledTransport()
    async with client(server, transport) as http:
        async with http.stream("GET", "/") as response:
            async for _ in response.aiter_raw():
                break  # the rest, end included, is already in the buffer
        assert origin_counts(transport) == (0, 1)
        await http.get("/")
    assert server.accepted == 1


async def test_cancellation_mid_stream_closes_the_connection(nursery: trio.Nursery) -> None:
    server = await serve(nursery, stream_forever(b"data: 1\n\n"))
    transport = PooledTransport()
    got: list[bytes] = []
    async with client(server, transport) as http:
        with trio.CancelScope() as scope:
            async with http.stream("GET", "/stream") as response:
                async for piece in response.aiter_raw():
                    got.append(piece)
                    scope.cancel()  # the caller's client went away
        assert scope.cancelled_caught
        assert got == [b"data: 1\n\n"]
        assert origin_counts(transport) == (0, 0)
        await server.wait_for(lambda: server.open == 0)
        await http.get("/")
    assert server.accepted == 2


async def test_cancellation_while_waiting_for_the_head(nursery: trio.Nursery) -> None:
    async def silent(exchange: Exchange) -> bool:
        await exchange.wait_for_client_close()
        return False

    server = await serve(nursery, silent)
    transport = PooledTransport(max_connections=1)
    async with client(server, transport) as http:
        async with trio.open_nursery() as tasks:
            tasks.start_soon(http.get, "/")
            await server.wait_for(lambda: len(server.exchanges) == 1)
            tasks.cancel_scope.cancel()
        await server.wait_for(lambda: server.open == 0)
        assert origin_counts(transport) == (0, 0)  # the slot came back too


# ---------------------------------------------------------------- TLS


@pytest.fixture
def tls_server_context(tmp_path: Path) -> ssl.SSLContext:
    chain = tmp_path / "leaf.pem"
    chain.write_text(TEST_LEAF_PEM)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


async def serve_tls(
    nursery: trio.Nursery, context: ssl.SSLContext, respond: Responder = ok
) -> Server:
    server = Server(respond=respond)

    def record_sni(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        server.sni.append(name)

    context.sni_callback = record_sni  # type: ignore[assignment]
    listeners = await nursery.start(
        partial(trio.serve_ssl_over_tcp, server.handle, 0, context, host="127.0.0.1")
    )
    server.port = listeners[0].transport_listener.socket.getsockname()[1]
    return server


@pytest.mark.parametrize("given_context", [True, False], ids=["given-context", "default-context"])
async def test_https_roundtrip(
    nursery: trio.Nursery,
    tls_server_context: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
    given_context: bool,
) -> None:
    server = await serve_tls(nursery, tls_server_context)
    create_default_context = ssl.create_default_context
    trusting = create_default_context(cadata=TEST_CA_PEM)
    if given_context:
        transport = PooledTransport(ssl_context=trusting)
    else:
        # The stdlib default context, made to trust the test CA: the transport's
        # own default path (lazy creation, ALPN) is what runs.
        monkeypatch.setattr(ssl, "create_default_context", lambda: trusting)
        transport = PooledTransport()
    async with httpx.AsyncClient(transport=transport) as http:
        for _ in range(3):
            response = await http.get(f"https://localhost:{server.port}/")
            assert response.json() == {"ok": True}
        alpn = server.exchanges[0].stream.selected_alpn_protocol()  # type: ignore[attr-defined]
    assert alpn == "http/1.1"  # the server preferred h2; we offered only http/1.1
    assert server.sni == ["localhost"]
    assert server.accepted == 1


async def test_https_untrusted_certificate_is_a_connect_error(
    nursery: trio.Nursery, tls_server_context: ssl.SSLContext
) -> None:
    server = await serve_tls(nursery, tls_server_context)
    transport = PooledTransport()  # system trust store: does not know the test CA
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"https://localhost:{server.port}/")
        assert origin_counts(transport) == (0, 0)


async def test_https_read_timeout_mid_body(
    nursery: trio.Nursery, tls_server_context: ssl.SSLContext
) -> None:
    """The read timeout lives in the TCP stream under TLS: a TLS upstream that
    goes silent mid-body is a ReadTimeout too, and its connection is closed."""

    async def stalls(exchange: Exchange) -> bool:
        await exchange.send(head(200, ("transfer-encoding", "chunked")) + chunk(b"data: 1\n\n"))
        await exchange.wait_for_client_close()
        return False

    server = await serve_tls(nursery, tls_server_context, stalls)
    transport = PooledTransport(ssl_context=ssl.create_default_context(cadata=TEST_CA_PEM))
    timeout = httpx.Timeout(WAIT_S, read=SHORT_S)
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
        async with http.stream("GET", f"https://localhost:{server.port}/") as response:
            pieces = response.aiter_raw()
            assert await pieces.__anext__() == b"data: 1\n\n"
            with pytest.raises(httpx.ReadTimeout):
                await pieces.__anext__()
        await server.wait_for(lambda: server.open == 0)
        assert origin_counts(transport) == (0, 0)
