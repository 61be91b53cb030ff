"""A lean HTTP/1.1 transport for httpx, on trio sockets and :mod:`.http1`.

Theory of operation
-------------------
httpx's default transport (httpcore over anyio) is built for arbitrary
clients; on every request it polls each pooled connection for readability (a
``select`` syscall per connection) and wraps every step in anyio locks and
shield scopes. A gateway talks to a handful of origins with high concurrency,
so this transport keeps only what that case needs:

* **One pool per origin** ``(scheme, host, port)``: a LIFO stack of idle
  connections (the most recently used one is the warmest: its TCP window is
  open and the peer has not timed it out) and a ``trio.Semaphore`` counting
  the connections in use. A connection is opened only when the stack is empty,
  so ``in use + idle <= max_connections`` always holds. At most ``max_idle``
  connections wait on the stack; the oldest are closed first.
* **Expiry without syscalls**: a connection is stamped with
  ``trio.current_time()`` when it goes idle. Because the stack is LIFO, if the
  top is older than ``keepalive_expiry`` everything under it is too.
* **Stale keep-alive retry**: a peer may close an idle connection at any time;
  we only notice when the request fails. If a *reused* connection fails
  before a single byte of the response arrived (send error, or EOF / reset on
  the first read), the peer never processed the request, so it is sent once
  more on a fresh connection. Once response bytes arrived, never.
* **The response body streams**: each ``receive_some`` is yielded as soon as
  the HTTP/1.1 reader turns it into data (SSE flows event by event), under
  the read timeout, which is therefore also the stream idle timeout. The connection returns to
  the pool only after a complete, reusable response; a partial read, an
  error or a cancellation closes the socket instead (see ``transport_pool``).

Sockets are closed synchronously (``socket.close()``, no TLS close_notify):
that is what makes every failure and cancellation path safe, since nothing in
a ``finally`` block has to await.
"""

from __future__ import annotations

import math
import ssl
from typing import TYPE_CHECKING

import httpx
import trio

from ..net.sizes import READ_SIZE
from ..net.sockstream import FastSocketStream
from ..timing import CLOCK, UpstreamClock
from . import http1
from .transport_pool import Connection, Origin

if TYPE_CHECKING:
    from collections.abc import Mapping

# Requests up to this size go out in one send (one syscall, one small copy);
# bigger bodies are sent as they are rather than copied behind the head.
COALESCE_LIMIT = 256 * 1024
DEFAULT_PORTS = {b"http": 80, b"https": 443}
_HTTP_VERSION = b"HTTP/1.1"


class _StaleConnection(Exception):
    """A reused connection died before the response began: safe to resend."""


def _reason(exc: BaseException) -> str:
    # trio wraps OS and TLS errors in a message-less BrokenResourceError.
    if isinstance(exc, trio.BrokenResourceError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def _scope(seconds: float | None) -> trio.CancelScope:
    return trio.move_on_after(math.inf if seconds is None else seconds)


class PooledTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` over trio sockets (HTTP/1.1 only).

    ``ssl_context`` is used for https origins (default:
    ``ssl.create_default_context()``, made on first use); its ALPN protocols
    are set to ``http/1.1`` because this transport speaks nothing else.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 512,
        max_idle: int = 64,
        keepalive_expiry: float = 30.0,
    ) -> None:
        if max_connections < 1 or max_idle < 0 or keepalive_expiry < 0:
            raise ValueError("max_connections >= 1, max_idle >= 0, keepalive_expiry >= 0")
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["http/1.1"])
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._origins: dict[tuple[bytes, bytes, int], Origin] = {}
        self._closed = False

    # ------------------------------------------------------------ public

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("PooledTransport is closed")
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout") or {}
        clock: UpstreamClock | None = request.extensions.get(CLOCK)
        body = await request.aread()
        origin = self._origin(request)
        await self._acquire(origin, timeouts.get("pool"), request)
        conn: Connection | None = None
        try:
            conn = origin.take(trio.current_time())
            if conn is None:
                if clock is not None:  # a new connection is the upstream's time
                    clock.sent()
                    clock = None
                conn = await self._connect(origin, timeouts.get("connect"), request)
            try:
                head = await _exchange(conn, request, body, timeouts, clock)
            except _StaleConnection:
                conn.close()
                conn = await self._connect(origin, timeouts.get("connect"), request)
                head = await _exchange(conn, request, body, timeouts, None)
        except BaseException:
            # Any failure, cancellation included: the socket is in an unknown
            # state, so it is closed, never pooled.
            origin.release(conn, reusable=False)
            raise
        return httpx.Response(
            status_code=head.status_code,
            headers=head.headers,
            stream=ResponseStream(origin, conn, request),
            extensions={"http_version": _HTTP_VERSION, "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        origins, self._origins = self._origins, {}
        for origin in origins.values():
            origin.close()
        await trio.lowlevel.checkpoint()

    def connection_counts(self) -> dict[str, tuple[int, int]]:
        """``"scheme://host:port" -> (in use, idle)``, for health pages and tests."""
        return {
            f"{o.scheme}://{o.host}:{o.port}": (o.in_use, len(o.idle))
            for o in self._origins.values()
        }

    # ------------------------------------------------------------ pool

    def _origin(self, request: httpx.Request) -> Origin:
        url = request.url
        scheme = url.raw_scheme
        port = url.port or DEFAULT_PORTS.get(scheme)
        if port is None:
            raise httpx.UnsupportedProtocol(
                f"PooledTransport speaks http and https, not {scheme!r}", request=request
            )
        key = (scheme, url.raw_host, port)
        origin = self._origins.get(key)
        if origin is None:
            origin = Origin(
                scheme=scheme.decode("ascii"),
                host=url.raw_host.decode("ascii"),
                port=port,
                max_connections=self._max_connections,
                max_idle=self._max_idle,
                keepalive_expiry=self._keepalive_expiry,
            )
            self._origins[key] = origin
        return origin

    async def _acquire(self, origin: Origin, timeout: float | None, request: httpx.Request) -> None:
        try:
            origin.slots.acquire_nowait()
            return
        except trio.WouldBlock:
            pass
        with _scope(timeout):
            await origin.slots.acquire()
            return
        raise httpx.PoolTimeout("timed out waiting for a connection slot", request=request)

    async def _connect(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> Connection:
        tcp: FastSocketStream | None = None
        try:
            with _scope(timeout):
                tcp = FastSocketStream.take_over(
                    await trio.open_tcp_stream(origin.host, origin.port)
                )
                if origin.scheme != "https":
                    return Connection(tcp, tcp)
                tls = trio.SSLStream(
                    tcp, self._tls_context(), server_hostname=origin.host, https_compatible=True
                )
                await tls.do_handshake()
                return Connection(tls, tcp)
        except (OSError, trio.BrokenResourceError) as exc:
            if tcp is not None:
                tcp.close()
            raise httpx.ConnectError(
                f"cannot connect to {origin.host}:{origin.port}: {_reason(exc)}", request=request
            ) from exc
        except BaseException:
            if tcp is not None:
                tcp.close()
            raise
        if tcp is not None:
            tcp.close()
        raise httpx.ConnectTimeout(
            f"timed out connecting to {origin.host}:{origin.port}", request=request
        )

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            # Loading the system CA store takes milliseconds: only when needed.
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return self._ssl_context


# ---------------------------------------------------------------- one exchange


async def _exchange(
    conn: Connection,
    request: httpx.Request,
    body: bytes,
    timeouts: Mapping[str, float | None],
    clock: UpstreamClock | None,
) -> http1.ResponseHead:
    """Send the request and read the response head on ``conn``; ``clock``
    (if not marked already) is marked as the bytes go out and the first
    bytes of the answer come in."""
    reused = conn.reused
    conn.reused = True
    machine = conn.http
    method = request.method.encode("ascii")
    try:
        head = http1.encode_head(method, request.url.raw_path, request.headers.raw, len(body))
        machine.start_request(method)
    except http1.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    wire = [head + body] if len(body) <= COALESCE_LIMIT else [head, body]
    # The socket enforces both timeouts on each wait (see sockstream): an
    # exchange whose bytes move at once sets no timer at all.
    conn.tcp.write_timeout = timeouts.get("write")
    conn.tcp.read_timeout = timeouts.get("read")
    if clock is not None:
        clock.sent()
    try:
        for data in wire:
            await conn.stream.send_all(data)
    except trio.TooSlowError:
        raise httpx.WriteTimeout("timed out sending the request", request=request) from None
    except (OSError, trio.BrokenResourceError) as exc:
        if reused:
            raise _StaleConnection from exc
        raise httpx.WriteError(
            f"error sending the request: {_reason(exc)}", request=request
        ) from exc
    started = False
    while True:
        try:
            event = machine.next_event()
        except http1.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        if event is http1.NEED_DATA:
            try:
                chunk = await _receive(conn, request)
            except httpx.ReadError:
                if reused and not started:
                    raise _StaleConnection from None
                raise
            if not chunk and not started:
                if reused:
                    raise _StaleConnection
                raise httpx.RemoteProtocolError(
                    "server disconnected without sending a response", request=request
                )
            if not started:
                heard_from(request)
            started = True
            machine.receive_data(chunk)
        elif type(event) is http1.ResponseHead:
            if event.status_code >= 200:  # 1xx heads are skipped
                return event
        else:
            raise httpx.RemoteProtocolError(f"unexpected {event!r}", request=request)


def heard_from(request: httpx.Request) -> None:
    """The upstream's first bytes of its answer to ``request`` came in."""
    clock: UpstreamClock | None = request.extensions.get(CLOCK)
    if clock is not None:
        clock.heard()


async def _receive(conn: Connection, request: httpx.Request) -> bytes:
    """One read under the socket's read timeout; ``b""`` is EOF."""
    try:
        # The reader copies it into its own buffer: a bytearray (TLS) is fine.
        return await conn.stream.receive_some(READ_SIZE)  # type: ignore[return-value]
    except trio.TooSlowError:
        raise httpx.ReadTimeout("timed out reading the response", request=request) from None
    except (OSError, trio.BrokenResourceError) as exc:
        raise httpx.ReadError(
            f"error reading the response: {_reason(exc)}", request=request
        ) from exc


class ResponseStream(httpx.AsyncByteStream):
    """The response body: chunks as they arrive; owns the connection until closed."""

    __slots__ = ("_conn", "_origin", "_request")

    def __init__(
        self,
        origin: Origin,
        conn: Connection,
        request: httpx.Request,
    ) -> None:
        self._origin = origin
        self._conn: Connection | None = conn
        self._request = request

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise StopAsyncIteration
        try:
            while True:
                event = conn.http.next_event()
                if type(event) is bytes:
                    return event
                if event is http1.NEED_DATA:
                    conn.http.receive_data(await _receive(conn, self._request))
                elif event is http1.END:
                    # Back to the pool now, not at aclose(): the next request
                    # may start before the caller gets round to closing.
                    self._conn = None
                    self._origin.release(conn, reusable=True)
                    raise StopAsyncIteration
                else:
                    raise httpx.RemoteProtocolError(f"unexpected {event!r}", request=self._request)
        except http1.RemoteProtocolError as exc:
            self._abort(conn)
            raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc
        except StopAsyncIteration:
            raise
        except BaseException:
            self._abort(conn)
            raise

    def _abort(self, conn: Connection) -> None:
        self._conn = None
        self._origin.release(conn, reusable=False)

    async def aclose(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            # Whatever is still unread is dropped; if the end of the message
            # is already buffered the connection is still good to reuse.
            self._origin.release(conn, reusable=conn.drain_buffered())
