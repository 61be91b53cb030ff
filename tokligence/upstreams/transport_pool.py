"""Connections and per-origin pools for :mod:`tokligence.upstreams.transport`.

Theory of operation
-------------------
Everything here is synchronous: trio runs one task at a time, so taking and
returning a connection needs no lock, and closing one needs no ``await``
(``socket.close()`` wakes any task blocked on it). The only waiting point is
``Origin.slots``, the semaphore a request holds from before it takes a
connection until its response is finished with, whatever task finishes it.
"""

from __future__ import annotations

from collections import deque

import trio

from ..net.sockstream import FastSocketStream
from .http1 import END, Http1Client, LocalProtocolError, RemoteProtocolError


class Connection:
    """One HTTP/1.1 connection: a byte stream (plain, or TLS over ``tcp``), its
    TCP stream, its HTTP/1.1 client state."""

    __slots__ = ("http", "idle_since", "reused", "stream", "tcp")

    def __init__(self, stream: trio.abc.Stream, tcp: FastSocketStream) -> None:
        self.stream = stream
        self.tcp = tcp
        self.http = Http1Client()
        self.idle_since = 0.0
        self.reused = False

    def close(self) -> None:
        self.tcp.close()

    def drain_buffered(self) -> bool:
        """Skip body data already received; True if the message end was among it."""
        try:
            while True:
                event = self.http.next_event()
                if event is END:
                    return True
                if type(event) is not bytes:
                    return False
        except (RemoteProtocolError, LocalProtocolError):
            return False


class Origin:
    """The pool of one ``(scheme, host, port)``: a slot semaphore and a LIFO idle stack."""

    __slots__ = (
        "closed",
        "host",
        "idle",
        "keepalive_expiry",
        "max_connections",
        "max_idle",
        "port",
        "scheme",
        "slots",
    )

    def __init__(
        self,
        *,
        scheme: str,
        host: str,
        port: int,
        max_connections: int,
        max_idle: int,
        keepalive_expiry: float,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.max_idle = max_idle
        self.keepalive_expiry = keepalive_expiry
        # Counts connections in use; idle ones hold no slot. A connection is
        # opened only when `idle` is empty, so in use + idle <= max_connections.
        self.slots = trio.Semaphore(max_connections)
        # Right end is the most recently used connection.
        self.idle: deque[Connection] = deque()
        self.closed = False

    @property
    def in_use(self) -> int:
        return self.max_connections - self.slots.value

    def take(self, now: float) -> Connection | None:
        """The warmest idle connection, or None if a new one must be opened."""
        idle = self.idle
        if idle and now - idle[-1].idle_since <= self.keepalive_expiry:
            return idle.pop()
        # The top is the youngest: if it expired, so did everything below it.
        while idle:
            idle.pop().close()
        return None

    def release(self, conn: Connection | None, *, reusable: bool) -> None:
        """Give back the slot; pool ``conn`` if its exchange ended cleanly, else close it."""
        if conn is not None:
            if reusable and self._recycle(conn):
                now = trio.current_time()
                conn.idle_since = now
                idle = self.idle
                idle.append(conn)
                expired = now - self.keepalive_expiry
                while idle and (len(idle) > self.max_idle or idle[0].idle_since < expired):
                    idle.popleft().close()
            else:
                conn.close()
        self.slots.release()

    def _recycle(self, conn: Connection) -> bool:
        # Only a complete response on a keep-alive connection with nothing
        # left over (bytes after a response answer no request) is reusable.
        return not self.closed and conn.http.reusable

    def close(self) -> None:
        self.closed = True
        while self.idle:
            self.idle.popleft().close()
