"""Listening sockets, the connection cap, and graceful shutdown.

Theory of operation
-------------------
Every listener (one in single-port mode, one per port in multi-port mode)
has an accept loop; all accept loops live in one cancel scope and all
connections in one nursery. :meth:`Server.shutdown` (called on SIGINT or
SIGTERM) cancels the accept loops and closes the sockets — no new
connections — then closes idle keep-alive connections at once and gives
connections with a request in flight ``grace`` seconds to finish before
cancelling them. A second signal skips the grace period.

The connection cap is a semaphore taken before ``accept``: at the cap we
stop accepting and the kernel's backlog holds newcomers, instead of
accepting sockets we cannot serve.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import trio

from ..net.sockstream import FastSocketStream
from ..supervise import Supervisor, supervised
from .http import ConnectionTracker, ErrorRenderer, Handler, HttpLimits, serve_connection

log = logging.getLogger(__name__)

# accept() errors that mean "out of resources for now": back off and retry
# rather than crash the server (trio's own serve_listeners does the same).
_TRANSIENT_ACCEPT_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
ACCEPT_BACKOFF = 0.1


async def open_shared_listeners(port: int, host: str) -> list[trio.SocketListener]:
    """Listeners on ``host``:``port`` that other processes may bind too
    (SO_REUSEPORT), as trio's own would be otherwise (SO_REUSEADDR, IPv6
    sockets IPv6 only, the system's largest backlog)."""
    infos = await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    listeners = []
    try:
        for family, kind, proto, _, address in infos:
            sock = trio.socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                await sock.bind(address)
                sock.listen(socket.SOMAXCONN)
            except BaseException:
                sock.close()
                raise
            listeners.append(trio.SocketListener(sock))
    except BaseException:
        for listener in listeners:
            listener.socket.close()
        raise
    return listeners


@dataclass(frozen=True, kw_only=True, slots=True)
class ListenerSpec:
    name: str  # "gateway", "openai", "anthropic", "admin"
    host: str
    port: int
    keys: frozenset[str]  # endpoint keys this listener serves
    # Share the port with the other worker processes (SO_REUSEPORT): the
    # kernel spreads new connections over them.
    reuse_port: bool = False


# The setting that gives each listener its port, for the error that says how
# to choose another.
PORT_SETTING = {
    "gateway": "--port or TOKLIGENCE_FACADE_PORT",
    "openai": "TOKLIGENCE_OPENAI_PORT",
    "anthropic": "TOKLIGENCE_ANTHROPIC_PORT",
    "admin": "TOKLIGENCE_ADMIN_PORT",
    "directory": "--port or TOKLIGENCE_TRADE_DIRECTORY_PORT",
}


class CannotListen(OSError):
    """A listener's address cannot be bound: one line naming the cause and
    the fix, for the start-up error."""

    def __init__(self, spec: ListenerSpec, cause: OSError) -> None:
        where = f"{spec.host}:{spec.port}"
        choose = PORT_SETTING.get(spec.name, "its port setting")
        if cause.errno == errno.EADDRINUSE:
            why = (
                "the port is in use, perhaps by another gateway ('tokligence stop' ends one "
                f"started in the background); choose another port with {choose}"
            )
        elif cause.errno == errno.EACCES:
            why = (
                "permission denied (ports below 1024 need privileges); "
                f"choose another port with {choose}"
            )
        elif cause.errno == errno.EADDRNOTAVAIL:
            why = "no interface of this machine has that address; check the host setting"
        else:
            why = f"{cause.strerror or cause}; check the host setting and {choose}"
        super().__init__(cause.errno, f"cannot listen on {where}: {why}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Bound:
    name: str
    host: str
    port: int  # the real port (differs from the spec when it asked for 0)


class Server:
    def __init__(
        self,
        *,
        specs: list[ListenerSpec],
        supervisor: Supervisor | None = None,
        render_error: ErrorRenderer,
        limits: HttpLimits,
        max_connections: int,
        grace: float,
    ) -> None:
        self.specs = specs
        self.render_error = render_error
        self.limits = limits
        self.grace = grace
        self.supervisor = supervisor or Supervisor()
        self.tracker = ConnectionTracker()
        self._slots = trio.Semaphore(max_connections)
        self._stop = trio.Event()
        self._force = trio.Event()

    def shutdown(self) -> None:
        """Begin a graceful shutdown; a second call skips the grace period."""
        if self._stop.is_set():
            self._force.set()
        self._stop.set()

    async def serve(
        self,
        make_handler: Callable[[frozenset[str]], Handler],
        *,
        task_status: trio.TaskStatus[list[Bound]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen and answer with ``make_handler(endpoint keys)`` per
        listener until :meth:`shutdown` and its grace period are over."""
        listeners: list[tuple[ListenerSpec, trio.SocketListener]] = []
        bound: list[Bound] = []
        for spec in self.specs:
            try:
                if spec.reuse_port:
                    opened = await open_shared_listeners(spec.port, spec.host)
                else:
                    opened = await trio.open_tcp_listeners(spec.port, host=spec.host)
            except OSError as exc:
                raise CannotListen(spec, exc) from None
            for listener in opened:
                listeners.append((spec, listener))
                host, port = listener.socket.getsockname()[:2]
                bound.append(Bound(name=spec.name, host=host, port=port))
        async with trio.open_nursery() as connections:
            await connections.start(
                supervised, "disconnect watch", self.tracker.watch.run, self.supervisor
            )
            async with trio.open_nursery() as accepting:
                for spec, listener in listeners:
                    handler = make_handler(spec.keys)
                    accepting.start_soon(self._accept_loop, listener, handler, connections)
                task_status.started(bound)
                await self._stop.wait()
                accepting.cancel_scope.cancel()
            for _, listener in listeners:
                await listener.aclose()
            log.info(
                "shutting down: %d connection(s) open, grace %.1fs", self.tracker.active, self.grace
            )
            self.tracker.begin_shutdown()
            with trio.move_on_after(self.grace):
                async with trio.open_nursery() as waiting:
                    waiting.start_soon(
                        _set_then_cancel, self.tracker.wait_drained, waiting.cancel_scope
                    )
                    waiting.start_soon(_set_then_cancel, self._force.wait, waiting.cancel_scope)
            connections.cancel_scope.cancel()

    async def _accept_loop(
        self, listener: trio.SocketListener, handler: Handler, connections: trio.Nursery
    ) -> None:
        while True:
            await self._slots.acquire()
            try:
                stream = await listener.accept()
            except OSError as exc:
                self._slots.release()
                if exc.errno in _TRANSIENT_ACCEPT_ERRORS:
                    log.error(
                        "accept failed (%s); backing off", errno.errorcode.get(exc.errno or 0, exc)
                    )
                    await trio.sleep(ACCEPT_BACKOFF)
                    continue
                raise
            except BaseException:
                self._slots.release()
                raise
            connections.start_soon(self._connection, stream, handler)

    async def _connection(self, accepted: trio.SocketStream, handler: Handler) -> None:
        client = "-"
        stream: FastSocketStream | None = None
        try:
            stream = FastSocketStream.take_over(accepted)
            with contextlib.suppress(OSError):
                peer = stream.socket.getpeername()
                client = f"{peer[0]}:{peer[1]}"
            await serve_connection(
                stream,
                handler=handler,
                render_error=self.render_error,
                limits=self.limits,
                tracker=self.tracker,
                client=client,
            )
        except Exception:
            # Handlers' exceptions are answered inside serve_connection; one
            # that escapes is a bug met by this connection. It ends this
            # connection, never the nursery of all the others (and the server).
            log.exception("connection from %s failed", client)
            if stream is not None:
                stream.close()  # the connection now owns the socket
            else:
                accepted.socket.close()
        finally:
            self._slots.release()


async def _set_then_cancel(wait: Callable[[], object], scope: trio.CancelScope) -> None:
    await wait()  # type: ignore[misc]
    scope.cancel()
