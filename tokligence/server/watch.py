"""Noticing that a client went away while its request is being handled.

Theory of operation: see :class:`DisconnectWatch`. A connection registers
each request it hands to the application; one task per server spawns a
watcher only for requests that outlive ``WATCH_DELAY``. The watcher reads
ahead on the connection (:meth:`Watchable.read_ahead`): end-of-file cancels
the scope the handler runs in (the connection's), bytes of a pipelined
request are kept for later, up to ``MAX_PIPELINE_BUFFER`` (then TCP
backpressure does the rest).
"""

from __future__ import annotations

from typing import Protocol

import trio

# How long a request runs before we start watching its socket for the client
# going away; a disconnect is noticed at most about 1.5x this much later.
WATCH_DELAY = 0.02
# How much of a pipelined next request we buffer while a response is running.
MAX_PIPELINE_BUFFER = 256 * 1024


class Watchable(Protocol):
    """What the watcher needs of a connection."""

    async def read_ahead(self) -> int:
        """Bytes read and kept for the next request; 0 at end-of-file."""
        ...


class _Watched:
    """One request in its handler, as :class:`DisconnectWatch` sees it."""

    __slots__ = ("connection", "done", "handler_scope", "started", "watcher")

    def __init__(self, connection: Watchable, handler_scope: trio.CancelScope) -> None:
        self.connection = connection
        self.handler_scope = handler_scope
        self.started = trio.current_time()
        self.watcher: trio.CancelScope | None = None
        self.done: trio.Event | None = None


class DisconnectWatch:
    """Watches the sockets of requests that run longer than ``WATCH_DELAY``.

    A per-request watcher task with its own timer would cost every request a
    task, a nursery and a timer, though nearly all end before the timer
    fires. Instead requests register here (a dict insert) and one task per
    server (:meth:`run`) wakes every half ``WATCH_DELAY`` while any request is
    running, and spawns a watcher only for those that have outlived the delay.
    A watcher reads the socket until EOF (then cancels the handler) or until
    the request ends and :meth:`end` cancels it; the connection waits for its
    watcher to stop before it reads again, so only one task reads at a time.
    """

    def __init__(self) -> None:
        # Insertion order is start order: the oldest unwatched request first.
        self._pending: dict[_Watched, None] = {}
        self._wakeup = trio.Event()
        self._nursery: trio.Nursery | None = None

    def begin(self, connection: Watchable, handler_scope: trio.CancelScope) -> _Watched:
        # While run() is down (restarting after a failure) requests still
        # begin: they wait in _pending and are watched once it is back.
        watched = _Watched(connection, handler_scope)
        self._pending[watched] = None
        if not self._wakeup.is_set():
            self._wakeup.set()
        return watched

    async def end(self, watched: _Watched) -> None:
        if watched.watcher is None:
            del self._pending[watched]
            return
        watched.watcher.cancel()
        assert watched.done is not None
        # The watcher was cancelled and stops at once; wait for it even while
        # this connection is being cancelled, so that it never reads a socket
        # the connection is about to reuse or close.
        with trio.CancelScope(shield=True):
            await watched.done.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                while True:
                    if not self._pending:
                        self._wakeup = trio.Event()
                        await self._wakeup.wait()
                    await trio.sleep(WATCH_DELAY / 2)
                    horizon = trio.current_time() - WATCH_DELAY
                    while self._pending:
                        watched = next(iter(self._pending))
                        if watched.started > horizon:
                            break
                        del self._pending[watched]
                        watched.watcher = trio.CancelScope()
                        watched.done = trio.Event()
                        nursery.start_soon(_watch_for_disconnect, watched)
            finally:
                self._nursery = None


async def _watch_for_disconnect(watched: _Watched) -> None:
    # The request is complete; anything more is either EOF (client gone:
    # cancel the work) or a pipelined request (kept for later).
    assert watched.watcher is not None and watched.done is not None
    try:
        with watched.watcher:
            buffered = 0
            while buffered < MAX_PIPELINE_BUFFER:
                read = await watched.connection.read_ahead()
                if not read:
                    watched.handler_scope.cancel()
                    return
                buffered += read
            await trio.sleep_forever()
    finally:
        watched.done.set()
