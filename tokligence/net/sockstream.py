"""A TCP byte stream for trio that skips the scheduler when the kernel can
complete an operation at once.

Theory of operation
-------------------
``trio.SocketStream`` makes every ``send_all`` and ``receive_some`` a full
checkpoint: even when the kernel accepts the bytes (or has them) at once,
the task yields to the run loop before going on. A proxied request is four
such operations, and with loopback peers nearly all of them complete at once,
so a good share of a request's CPU went to scheduler round trips that wait
for nothing.

:class:`FastSocketStream` tries the system call first. If it would block, it
waits for readiness through ``trio.lowlevel.wait_readable``/``wait_writable``
(a real checkpoint). If it completes at once, the task checks for
cancellation (cheap, no yield) and yields only every ``YIELD_EVERY``
immediate completions, so a task relaying a fast upstream to a fast client
still lets the others run. Cancellation is honoured at the start of every
operation, as trio's own streams do.

The stream owns a plain non-blocking ``socket.socket`` (taken over from trio's
socket with ``detach``), sets ``TCP_NODELAY`` like trio's stream, and maps
OS errors to ``trio.BrokenResourceError`` and use after close to
``trio.ClosedResourceError``.

Timeouts: ``read_timeout`` and ``write_timeout`` (seconds, None for none)
bound each wait for readiness, i.e. the silence between two chunks; one that
runs out raises ``trio.TooSlowError``. An operation that completes at once
sets no timer, which is why the timeouts live here rather than in a cancel
scope around every call. Only one task may receive and one task may
send at a time; the server and the transport guarantee that themselves.
"""

from __future__ import annotations

import errno
import socket as stdlib_socket
from collections.abc import Awaitable, Callable

import trio

from .sizes import READ_SIZE

# Immediate completions between two yields to the scheduler: small enough to
# keep other tasks responsive during a long relay, large enough that a
# request/response exchange rarely pays one.
YIELD_EVERY = 8
_SEND_CHUNK = 1 << 20
_CLOSED_ERRNOS = frozenset({errno.EBADF, errno.ENOTSOCK})


class FastSocketStream(trio.abc.HalfCloseableStream):
    __slots__ = ("_immediate", "read_timeout", "socket", "write_timeout")

    def __init__(self, sock: stdlib_socket.socket) -> None:
        sock.setblocking(False)
        if sock.family in (stdlib_socket.AF_INET, stdlib_socket.AF_INET6):
            sock.setsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY, 1)
        self.socket = sock
        self._immediate = 0
        self.read_timeout: float | None = None
        self.write_timeout: float | None = None

    @classmethod
    def take_over(cls, stream: trio.SocketStream) -> FastSocketStream:
        """Move ``stream``'s connection into a new FastSocketStream."""
        sock = stream.socket
        return cls(stdlib_socket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach()))

    async def _after_immediate(self) -> None:
        self._immediate += 1
        if self._immediate >= YIELD_EVERY:
            self._immediate = 0
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint_if_cancelled()
        size = READ_SIZE if max_bytes is None else max_bytes
        if size < 1:
            raise ValueError("max_bytes must be >= 1")
        sock = self.socket
        while True:
            try:
                data = sock.recv(size)
            except BlockingIOError:
                self._immediate = 0
                await _wait(trio.lowlevel.wait_readable, sock, self.read_timeout)
                continue
            except OSError as exc:
                raise self._error(exc) from exc
            await self._after_immediate()
            return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        sock = self.socket
        with memoryview(data) as view:
            total = len(view)
            sent = 0
            while sent < total:
                try:
                    sent += sock.send(view[sent : sent + _SEND_CHUNK])
                except BlockingIOError:
                    self._immediate = 0
                    await _wait(trio.lowlevel.wait_writable, sock, self.write_timeout)
                except OSError as exc:
                    raise self._error(exc) from exc
        await self._after_immediate()

    async def wait_send_all_might_not_block(self) -> None:
        if self.socket.fileno() == -1:
            raise trio.ClosedResourceError("the stream is closed")
        await trio.lowlevel.wait_writable(self.socket)

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()
        try:
            self.socket.shutdown(stdlib_socket.SHUT_WR)
        except OSError as exc:
            raise self._error(exc) from exc

    def close(self) -> None:
        """Close at once (no checkpoint); tasks waiting on the socket are woken
        with ``ClosedResourceError``."""
        if self.socket.fileno() != -1:
            trio.lowlevel.notify_closing(self.socket)
            self.socket.close()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()

    def _error(self, exc: OSError) -> Exception:
        if self.socket.fileno() == -1 or exc.errno in _CLOSED_ERRNOS:
            return trio.ClosedResourceError("the stream is closed")
        return trio.BrokenResourceError(f"socket error: {exc}")


async def _wait(
    wait: Callable[[stdlib_socket.socket], Awaitable[None]],
    sock: stdlib_socket.socket,
    timeout: float | None,
) -> None:
    """``wait(sock)``, bounded by ``timeout`` seconds when there is one."""
    if timeout is None:
        await wait(sock)
        return
    with trio.move_on_after(timeout) as scope:
        await wait(sock)
    if scope.cancelled_caught:
        raise trio.TooSlowError(f"socket not ready within {timeout:g}s")
