"""The least a gateway on this stack can do per request: the floor of the
figures in ``portkey_bench.py --floor``.

Two relays, neither of them a gateway (no routing, no JSON, no accounting,
no errors handled beyond dropping the connection):

* ``h11``:   trio + h11 on both sides, as the gateway is built: parse each
  request, take a kept-alive upstream connection from a pool, send the
  request on with its body, read the whole response, answer it. Streams
  are relayed event by event as the upstream's chunks arrive.
* ``h11fast``: the same with the gateway's own socket stream
  (``tokligence.net.sockstream``), which skips the scheduler when the kernel
  completes a send or receive at once: the floor with the best socket
  primitive this project has on trio.
* ``httptools``: ``h11fast`` with h11 replaced by llhttp, the C parser of
  Node's own HTTP server, through the ``httptools`` package (not one of the
  gateway's dependencies: ``pip install httptools`` to run this relay). It
  shows what the stack's HTTP parser costs, not something the gateway runs.
* ``bytes``: trio, no HTTP at all: each client connection gets its own
  upstream connection and bytes are copied both ways as they come.

Whatever the gateway costs above ``h11`` is the gateway's own work; what
``h11`` costs above ``bytes`` is the price of parsing HTTP with h11 and of
owning the request (pooling, framing) rather than splicing a connection.

    python bench/floor_relay.py h11|h11fast|httptools|bytes PORT UPSTREAM_PORT
"""

from __future__ import annotations

import sys

import h11
import trio

from tokligence.net.sockstream import FastSocketStream

Stream = trio.SocketStream | FastSocketStream

READ = 65536
HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"host"}


class Upstream:
    """A LIFO pool of kept-alive h11 client connections to one port."""

    def __init__(self, port: int, fast: bool) -> None:
        self.port = port
        self.fast = fast
        self.idle: list[tuple[Stream, h11.Connection]] = []

    async def take(self) -> tuple[Stream, h11.Connection]:
        if self.idle:
            return self.idle.pop()
        stream: Stream = await trio.open_tcp_stream("127.0.0.1", self.port)
        if self.fast:
            stream = FastSocketStream.take_over(stream)
        return stream, h11.Connection(h11.CLIENT)

    def give_back(self, stream: Stream, conn: h11.Connection) -> None:
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            self.idle.append((stream, conn))


async def next_event(stream: Stream, conn: h11.Connection) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await stream.receive_some(READ))


async def whole_body(stream: Stream, conn: h11.Connection) -> bytes:
    """The rest of the current message's body, up to its end."""
    body = bytearray()
    while True:
        event = await next_event(stream, conn)
        if isinstance(event, h11.EndOfMessage):
            return bytes(body)
        if isinstance(event, h11.Data):
            body += event.data


async def serve_h11(client: Stream, upstream: Upstream) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            request = await next_event(client, conn)
            if not isinstance(request, h11.Request):
                return
            body = await whole_body(client, conn)
            headers = [(k, v) for k, v in request.headers if k not in HOP_BY_HOP]
            headers += [(b"host", b"upstream"), (b"content-length", str(len(body)).encode())]
            up_stream, up = await upstream.take()
            await up_stream.send_all(
                up.send(h11.Request(method=request.method, target=request.target, headers=headers))
                + up.send(h11.Data(data=body))
                + up.send(h11.EndOfMessage())
            )
            response = await next_event(up_stream, up)
            assert isinstance(response, h11.Response)
            out_headers = [(k, v) for k, v in response.headers if k not in HOP_BY_HOP]
            streamed = any(k == b"content-type" and b"event-stream" in v for k, v in out_headers)
            if streamed:
                await client.send_all(
                    conn.send(h11.Response(status_code=response.status_code, headers=out_headers))
                )
                while True:
                    event = await next_event(up_stream, up)
                    if isinstance(event, h11.EndOfMessage):
                        break
                    if isinstance(event, h11.Data):
                        await client.send_all(conn.send(h11.Data(data=event.data)))
                await client.send_all(conn.send(h11.EndOfMessage()))
            else:
                answer = await whole_body(up_stream, up)
                out_headers.append((b"content-length", str(len(answer)).encode()))
                await client.send_all(
                    conn.send(h11.Response(status_code=response.status_code, headers=out_headers))
                    + conn.send(h11.Data(data=answer))
                    + conn.send(h11.EndOfMessage())
                )
            upstream.give_back(up_stream, up)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        return
    finally:
        await client.aclose()


class Parsed:
    """One HTTP message as httptools' callbacks report it."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.chunks: list[bytes] = []  # body pieces not yet relayed (streams)
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


def head_bytes(first_line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    return first_line + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"


async def serve_httptools(client: FastSocketStream, upstream_port: int) -> None:
    import httptools  # only this relay needs it

    idle: list[FastSocketStream] = []
    try:
        while True:
            request = Parsed()
            parser = httptools.HttpRequestParser(request)
            while not request.complete:
                data = await client.receive_some(READ)
                if not data:
                    return
                parser.feed_data(data)
            body = b"".join(request.chunks)
            headers = [(k, v) for k, v in request.headers if k not in HOP_BY_HOP]
            headers += [(b"host", b"upstream"), (b"content-length", str(len(body)).encode())]
            method = parser.get_method()
            if idle:
                up = idle.pop()
            else:
                up = FastSocketStream.take_over(
                    await trio.open_tcp_stream("127.0.0.1", upstream_port)
                )
            await up.send_all(
                head_bytes(method + b" " + request.url + b" HTTP/1.1\r\n", headers) + body
            )
            response = Parsed()
            response_parser = httptools.HttpResponseParser(response)
            sent_head = False
            streamed = False
            while not response.complete:
                data = await up.receive_some(READ)
                if not data:
                    return
                response_parser.feed_data(data)
                status = response_parser.get_status_code()
                out_headers = [(k, v) for k, v in response.headers if k not in HOP_BY_HOP]
                if not sent_head and response.headers:
                    streamed = any(
                        k == b"content-type" and b"event-stream" in v for k, v in out_headers
                    )
                if streamed:
                    out = b""
                    if not sent_head:
                        sent_head = True
                        out = head_bytes(
                            b"HTTP/1.1 %d OK\r\n" % status,
                            [*out_headers, (b"transfer-encoding", b"chunked")],
                        )
                    pieces, response.chunks = response.chunks, []
                    out += b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in pieces if c)
                    if response.complete:
                        out += b"0\r\n\r\n"
                    if out:
                        await client.send_all(out)
            if not streamed:
                answer = b"".join(response.chunks)
                out_headers = [(k, v) for k, v in response.headers if k not in HOP_BY_HOP]
                out_headers.append((b"content-length", str(len(answer)).encode()))
                status = response_parser.get_status_code()
                await client.send_all(
                    head_bytes(b"HTTP/1.1 %d OK\r\n" % status, out_headers) + answer
                )
            # (should_keep_alive() reads false once the message is complete.)
            if not any(k == b"connection" and b"close" in v.lower() for k, v in response.headers):
                idle.append(up)
            else:
                await up.aclose()
            if not parser.should_keep_alive():
                return
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return
    finally:
        await client.aclose()
        for up in idle:
            await up.aclose()


async def copy(source: trio.SocketStream, sink: trio.SocketStream) -> None:
    try:
        while data := await source.receive_some(READ):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await sink.aclose()


async def serve_bytes(client: trio.SocketStream, upstream_port: int) -> None:
    up = await trio.open_tcp_stream("127.0.0.1", upstream_port)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(copy, client, up)
        nursery.start_soon(copy, up, client)


async def main(kind: str, port: int, upstream_port: int) -> None:
    if kind in ("h11", "h11fast"):
        fast = kind == "h11fast"
        pool = Upstream(upstream_port, fast)

        async def handler(client: trio.SocketStream) -> None:
            await serve_h11(FastSocketStream.take_over(client) if fast else client, pool)
    elif kind == "httptools":

        async def handler(client: trio.SocketStream) -> None:
            await serve_httptools(FastSocketStream.take_over(client), upstream_port)
    elif kind == "bytes":

        async def handler(client: trio.SocketStream) -> None:
            await serve_bytes(client, upstream_port)
    else:
        raise SystemExit(f"unknown relay {kind!r}: h11, h11fast, httptools or bytes")
    await trio.serve_tcp(handler, port, host="127.0.0.1")


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
