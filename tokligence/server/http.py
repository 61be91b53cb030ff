"""HTTP/1.1 connections over trio with h11.

Theory of operation
-------------------
One task per connection runs a loop of request cycles:

1. Wait for the request head. Between requests the connection may sit idle
   for ``idle_timeout``; once the first byte of a request has arrived the
   whole head must arrive within ``header_timeout`` (slow-loris defence).
2. Read the body up to ``max_body_bytes``; a larger declared or streamed
   body is answered with 413 and the connection is closed (draining an
   unbounded body would defeat the limit).
3. Hand the :class:`HttpRequest` to the application handler with a
   :class:`Responder`. A request still running after ``WATCH_DELAY`` gets a
   watcher task that keeps reading the socket: end-of-file means the client
   went away, and the connection's cancel scope is cancelled, which stops
   the handler's work (an upstream stream, say) at once. Bytes of a pipelined next
   request are buffered in h11 and served after this response. Most answers
   take less than ``WATCH_DELAY``; they pay no task, timer or poller
   registration for this, only an entry in
   :class:`~tokligence.server.watch.DisconnectWatch` (see there).
4. Keep the connection for the next cycle unless either side asked to close
   or the server is shutting down.

Streaming responses are written event by event: every ``Responder.send``
is one ``send_all`` on the socket, never buffered, never compressed.

Shutdown (see :class:`ConnectionTracker`): idle connections are closed at
once; a connection inside a request cycle finishes it (with
``Connection: close``) unless the grace period runs out first.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import h11
import trio

from ..errors import ClientError, GatewayError, InternalError
from ..net.sizes import MAX_HEAD_BYTES, READ_SIZE
from .exchange import (
    NOSNIFF,
    ClientDisconnected,
    HttpRequest,
    Responder,
    log_access,
    reason_phrase,
    request_id_from,
)
from .framing import (
    coding_error_in_raw_head,
    path_in_raw_head,
    request_path,
    transfer_encoding_error,
    version_error,
)
from .watch import DisconnectWatch

log = logging.getLogger(__name__)

# The first bytes of a request kept to name its path in a head error.
_HEAD_SEEN_BYTES = 4096


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpLimits:
    max_body_bytes: int = 32 * 1024 * 1024
    header_timeout: float = 10.0  # the whole head, from its first byte
    idle_timeout: float = 15.0  # a keep-alive connection between requests
    # The body: this long, plus one second for every body_min_rate bytes
    # received (Apache's mod_reqtimeout rule): a client that drips a byte a
    # second never earns more time, a slow link with a large body does.
    body_timeout: float = 20.0
    body_min_rate: int = 500


Handler = Callable[[HttpRequest, Responder], Awaitable[None]]
ErrorRenderer = Callable[[str, GatewayError], tuple[int, list[tuple[str, str]], bytes]]
"""(request path, error) -> (status, headers, body): errors the server itself
raises (bad HTTP, 413) are rendered in the dialect the path belongs to."""


class ConnectionTracker:
    """Knows every live connection, so shutdown can close the idle ones and
    let the busy ones finish their current request."""

    def __init__(self) -> None:
        self.shutting_down = False
        self._idle_scopes: set[trio.CancelScope] = set()
        self.active = 0
        self._drained = trio.Event()
        self.watch = DisconnectWatch()

    def opened(self) -> None:
        self.active += 1

    def closed(self) -> None:
        self.active -= 1
        if self.active == 0 and self.shutting_down:
            self._drained.set()

    async def wait_drained(self) -> None:
        """Return once shutdown has begun and no connection is left."""
        if self.active == 0:
            return
        await self._drained.wait()

    def begin_shutdown(self) -> None:
        self.shutting_down = True
        for scope in list(self._idle_scopes):
            scope.cancel()

    def idle(self, scope: trio.CancelScope) -> None:
        if self.shutting_down:
            scope.cancel()
        self._idle_scopes.add(scope)

    def busy(self, scope: trio.CancelScope) -> None:
        self._idle_scopes.discard(scope)


class _Connection:
    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        client: str,
        handler: Handler,
        render_error: ErrorRenderer,
        limits: HttpLimits,
        tracker: ConnectionTracker,
    ) -> None:
        self.stream = stream
        self.client = client
        self.handler = handler
        self.render_error = render_error
        self.limits = limits
        self.tracker = tracker
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.disconnected = False
        self.closing = False  # send Connection: close and stop after this cycle
        self._method = b""  # the current request's method, once its head is read
        self._head_seen = b""  # the first bytes of the current request's head
        # The connection's one cancel scope (entered in run()): its deadline is
        # the idle timeout while waiting for a request and infinite otherwise;
        # shutdown cancels it while idle, the disconnect watch while a handler
        # runs. One scope re-armed costs less than a scope per phase.
        self.scope = trio.CancelScope()

    # ------------------------------------------------------------ transport
    # Only the handler's task writes (the disconnect watcher only reads), so
    # writes need no lock.

    def serialize(self, event: h11.Event) -> bytes:
        return self.conn.send(event) or b""

    async def write(self, data: bytes) -> None:
        if not data:
            return
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self.disconnected = True
            raise ClientDisconnected("client closed the connection") from exc

    async def send(self, event: h11.Event) -> None:
        await self.write(self.serialize(event))

    async def _receive(self) -> bytes:
        try:
            data = await self.stream.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""
        # Sockets give bytes already; only exotic streams give a bytearray.
        return data if isinstance(data, bytes) else bytes(data)

    async def read_ahead(self) -> int:
        """Read what arrives while a response is running (the disconnect
        watcher's read): bytes of a pipelined request go to h11 for later;
        0 means end-of-file, the client is gone."""
        data = await self._receive()
        if not data:
            self.disconnected = True
            return 0
        self.conn.receive_data(data)
        return len(data)

    async def _next_event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        """Next h11 event, reading from the socket as needed."""
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self._receive()
            if not data:
                self.disconnected = True
            self.conn.receive_data(data)

    # ------------------------------------------------------------ the cycle

    async def run(self) -> None:
        try:
            with self.scope:
                while not self.closing:
                    if not await self._one_cycle():
                        break
        except ClientDisconnected:
            pass
        finally:
            await self._close()

    async def _wait_for_request(self) -> h11.Request | None:
        """The next request head, or None if the connection should close."""
        self._head_seen = b""
        self.arrived_at = time.perf_counter()  # a pipelined request is here already
        event = self.conn.next_event()
        if event is h11.NEED_DATA:
            # Idle between requests: wait for a first byte, but let shutdown
            # (or the idle timeout) end the wait: either cancels the
            # connection's scope, which ends run().
            scope = self.scope
            scope.deadline = trio.current_time() + self.limits.idle_timeout
            self.tracker.idle(scope)
            try:
                data = await self._first_bytes()
            finally:
                self.tracker.busy(scope)
            self.arrived_at = time.perf_counter()  # the request's first bytes
            if scope.cancel_called:
                return None  # the bytes came just as the wait was ended
            scope.deadline = math.inf
            if not data:
                self.disconnected = True
                return None
            # Kept to render an error h11 finds in this head in the right
            # dialect (see framing.path_in_raw_head).
            self._head_seen = data[:_HEAD_SEEN_BYTES]
            self.conn.receive_data(data)
            event = self.conn.next_event()
        if event is h11.NEED_DATA:
            # The request has begun: its whole head must arrive in time. (A
            # head that came whole with its first read needs no timer.)
            with trio.move_on_after(self.limits.header_timeout) as head_scope:
                event = await self._next_event()
            if head_scope.cancelled_caught:
                error = ClientError("timeout", "request head not received in time", status=408)
                await self._error_and_close(path_in_raw_head(self._head_seen), error)
                return None
        if isinstance(event, h11.Request):
            return event
        return None  # ConnectionClosed

    async def _first_bytes(self) -> bytes:
        """The first bytes of the next request, b"" at end-of-file. Empty
        lines before a request line are ignored (RFC 9112 section 2.2),
        which h11 would refuse."""
        while True:
            data = await self._receive()
            if not data:
                return b""
            data = data.lstrip(b"\r\n")
            if data:
                return data

    async def _one_cycle(self) -> bool:
        self._method = b""  # the current request's, once its head is read
        try:
            head = await self._wait_for_request()
        except h11.RemoteProtocolError as exc:
            error = coding_error_in_raw_head(self._head_seen) or ClientError(
                "invalid_request", f"malformed HTTP request: {exc}", status=exc.error_status_hint
            )
            await self._error_and_close(path_in_raw_head(self._head_seen), error)
            return False
        if head is None:
            return False
        self._method = head.method
        # The request's time starts with its first bytes: reading and
        # parsing it is part of what the gateway does for it.
        started_at = self.arrived_at
        # h11 bounds only a head that is still incomplete; one that arrived
        # whole in a single read is measured here.
        head_size = len(head.target) + sum(len(k) + len(v) + 4 for k, v in head.headers)
        if head_size > MAX_HEAD_BYTES:
            error = ClientError("invalid_request", "request head too large", status=431)
            await self._error_and_close("/", error)
            return False
        target = request_path(head.target.decode("latin-1"))
        if target is None:
            error = ClientError(
                "invalid_request", "request target must be a path starting with '/'"
            )
            await self._error_and_close("/", error)
            return False
        path, _, query = target.partition("?")
        # h11 hands header names over lower-cased already.
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers)
        names = {name for name, _ in headers}
        framing = version_error(head.http_version) or transfer_encoding_error(
            head.http_version, headers
        )
        if framing is None and "transfer-encoding" in names and "content-length" in names:
            # Two framings disagree about where this body ends: a proxy behind
            # us could read a second, smuggled request inside it. Refused, and
            # the connection closed (RFC 9112 section 6.1), as nginx does.
            framing = ClientError(
                "invalid_request",
                "request has both Content-Length and Transfer-Encoding",
                code="ambiguous_framing",
            )
        if framing is not None:
            await self._error_and_close(path, framing)
            return False
        try:
            body = await self._read_body(path, headers)
        except h11.RemoteProtocolError as exc:
            await self._error_and_close(
                path, ClientError("invalid_request", f"malformed HTTP request body: {exc}")
            )
            return False
        if body is None:
            return False
        request = HttpRequest(
            method=head.method.decode("latin-1"),
            path=path,
            query=query,
            headers=headers,
            body=body,
            request_id=request_id_from(headers),
            client=self.client,
            http_version=head.http_version.decode("latin-1"),
        )
        if self.tracker.shutting_down:
            self.closing = True
        responder = Responder(self, request)
        responder.record.started_at = started_at
        try:
            await self._run_handler(request, responder)
        finally:
            # Also when the disconnect watch cancelled the connection.
            log_access(request, responder, started_at, disconnected=self.disconnected)
        if self.disconnected or not responder.ended:
            return False
        if self.conn.our_state is h11.MUST_CLOSE or self.conn.their_state is h11.MUST_CLOSE:
            return False
        try:
            self.conn.start_next_cycle()
        except h11.LocalProtocolError:
            return False
        return True

    async def _read_body(self, path: str, headers: tuple[tuple[str, str], ...]) -> bytes | None:
        limit = self.limits.max_body_bytes
        declared = next((v for k, v in headers if k == "content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(path, limit)
            return None
        if self.conn.client_is_waiting_for_100_continue:
            await self.send(h11.InformationalResponse(status_code=100, headers=[]))
        chunks: list[bytes] = []
        size = 0
        started = trio.current_time()
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                # Only a body still on its way needs a timer; most arrive
                # with their head.
                deadline = (
                    started + self.limits.body_timeout + size / max(self.limits.body_min_rate, 1)
                )
                with trio.move_on_at(deadline) as scope:
                    event = await self._next_event()
                if scope.cancelled_caught:
                    error = ClientError("timeout", "request body not received in time", status=408)
                    await self._error_and_close(path, error)
                    return None
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size + _chunk_still_due(self.conn) > limit:
                    await self._too_large(path, limit)
                    return None
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:  # ConnectionClosed mid-body
                self.disconnected = True
                return None

    async def _run_handler(self, request: HttpRequest, responder: Responder) -> None:
        failed = False
        # A client that goes away mid-request gets the connection's scope
        # cancelled: the handler's work stops, and so does the connection.
        watched = self.tracker.watch.begin(self, self.scope)
        # Exceptions are handled here so that no bug in one request can
        # take the server down.
        try:
            await self.handler(request, responder)
        except ClientDisconnected:
            self.disconnected = True
        except Exception:
            log.exception("request %s failed", request.request_id)
            failed = True
        finally:
            await self.tracker.watch.end(watched)
        if failed and responder.started:
            self.closing = True  # the response is broken mid-way: end the connection
            return
        if self.disconnected:
            return
        if not responder.started:
            # A handler that returns without answering is a bug; say so.
            error = InternalError("api_error", "the gateway produced no response")
            status, hdrs, body = self.render_error(request.path, error)
            await responder.respond(status, hdrs, body)
        elif not responder.ended:
            await responder.end()

    async def _too_large(self, path: str, limit: int) -> None:
        error = ClientError("request_too_large", f"request body exceeds the limit of {limit} bytes")
        await self._error_and_close(path, error)

    async def _error_and_close(self, path: str, error: GatewayError) -> None:
        """Answer a request we cannot go on reading, then close."""
        self.closing = True
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        status, headers, body = self.render_error(path, error)
        out = [(k.encode(), v.encode()) for k, v in headers]
        out += [
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            NOSNIFF,
        ]
        head_only = self._method == b"HEAD"
        try:
            await self.send(
                h11.Response(status_code=status, headers=out, reason=reason_phrase(status))
            )
            if not head_only:
                await self.send(h11.Data(data=body))
            await self.send(h11.EndOfMessage())
        except (ClientDisconnected, h11.LocalProtocolError):
            pass

    async def _close(self) -> None:
        with trio.move_on_after(1):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.stream.aclose()


def _chunk_still_due(conn: h11.Connection) -> int:
    """The bytes the current chunk of a chunked body still announces, so a
    chunk size past the body limit is refused at once (as nginx does), not
    waited for. h11 keeps the figure private (its ChunkedReader's
    ``_bytes_in_chunk``); the hostile corpus's chunk-size-huge case fails if
    a new h11 renames it."""
    return getattr(getattr(conn, "_reader", None), "_bytes_in_chunk", 0)


async def serve_connection(
    stream: trio.abc.Stream,
    *,
    handler: Handler,
    render_error: ErrorRenderer,
    limits: HttpLimits,
    tracker: ConnectionTracker,
    client: str = "-",
) -> None:
    """Serve HTTP/1.1 on one byte stream until it closes."""
    connection = _Connection(
        stream,
        client=client,
        handler=handler,
        render_error=render_error,
        limits=limits,
        tracker=tracker,
    )
    tracker.opened()
    try:
        await connection.run()
    finally:
        tracker.closed()
