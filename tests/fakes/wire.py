"""A tiny scripted HTTP/1.1 server that plays fake upstream replies byte for byte.

Theory of operation
-------------------
The gateway's upstream client must meet a real socket, so the fakes are a real
server on ``127.0.0.1`` with an ephemeral port. Requests are parsed with h11
(one fresh ``h11.Connection`` per request, carrying over pipelined bytes, so
keep-alive works without h11 owning the response side). Responses are written
by hand, because the point of a fake is to send what a real upstream sends,
including what h11 would refuse to produce: every ``Chunk`` of a ``Reply`` goes
out with its own ``send_all`` (in chunked mode as its own HTTP chunk), after
``Chunk.delay`` seconds of silence slept with ``trio.sleep`` — so an
``autojump_clock`` makes a "three-minute silent gap" instant in trio tests. A
``Reply`` with ``close_abruptly`` closes the socket without the terminating
zero-length chunk (or short of the declared ``Content-Length``).

Reply selection for a request path (the query string is ignored): the next
reply queued for that path (FIFO, ``enqueue``), else the path's default
(``set_default``: a ``Reply`` or a factory of the ``Received`` request), else
a 404 in the dialect's own envelope (Anthropic for ``/v1/messages…``, OpenAI
otherwise). Every request is recorded as a ``Received`` before it is answered.

Two ways to run it, both cleanly shut down on exit:

* in a trio test: ``async with fake.serving() as base_url`` (tasks live in a
  nursery, delays follow the test's clock);
* from synchronous tests (official SDK clients): ``with
  fake.running_in_thread() as base_url`` runs ``trio.run`` in a daemon thread.

``base_url`` is ``http://127.0.0.1:PORT`` without ``/v1`` (the OpenAI SDK wants
``base_url + "/v1"``, the Anthropic SDK the bare URL). A failure inside the
fake itself (a factory raising) is answered with a 500 and re-raised when the
server stops, so a broken script never passes silently.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
import trio

# Big enough for any test request body; h11's default (16 KiB) covers only headers.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
RECEIVE_SIZE = 65536
# The thread mode waits this long for the server to come up or go down.
THREAD_TIMEOUT_S = 10.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Chunk:
    """Bytes written with one ``send_all`` after ``delay`` seconds of silence.

    Empty ``data`` only sleeps (a silence before the close or the end)."""

    data: bytes
    delay: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted HTTP response."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    chunks: tuple[Chunk, ...] = ()
    # Transfer-Encoding: chunked (streams) or Content-Length (JSON bodies).
    chunked: bool = True
    # End the TCP connection after the chunks without finishing the message.
    close_abruptly: bool = False
    # Silence before the status line: a slow upstream / first-byte timeout.
    head_delay: float = 0.0
    # Content-Length to announce in non-chunked mode; only a truncated body
    # (close_abruptly) may announce more than it sends.
    declared_length: int | None = None

    def __post_init__(self) -> None:
        if self.declared_length is not None and self.chunked:
            raise ValueError("declared_length only applies to non-chunked replies")
        if (
            self.declared_length is not None
            and not self.close_abruptly
            and self.declared_length != len(self.body)
        ):
            raise ValueError("declared_length differs from the body: the client would hang")

    @property
    def body(self) -> bytes:
        return b"".join(chunk.data for chunk in self.chunks)


@dataclass(frozen=True, kw_only=True)
class Received:
    """One request as the fake saw it."""

    method: str
    path: str  # without the query string
    query: str  # raw query string, "" when absent
    headers: Mapping[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes
    json: Any  # parsed body, None when empty or not JSON
    connection: int  # serial number of the TCP connection (keep-alive checks)


ReplyFactory = Callable[[Received], Reply]


class FakeServerError(RuntimeError):
    """The fake itself failed while answering (e.g. a reply factory raised)."""


def json_reply(
    payload: Any, *, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> Reply:
    """A JSON body sent in one piece with Content-Length."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Reply(
        status=status,
        headers=(("content-type", "application/json"), *headers),
        chunks=(Chunk(data=body),),
        chunked=False,
    )


def html_error(status: int = 502, body: str | None = None) -> Reply:
    """An HTML error page, as a reverse proxy in front of an upstream sends."""
    if body is None:
        phrase = _phrase(status)
        body = (
            f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
    return Reply(
        status=status,
        headers=(("content-type", "text/html"),),
        chunks=(Chunk(data=body.encode()),),
        chunked=False,
    )


def by_stream(stream: Reply | ReplyFactory, non_stream: Reply | ReplyFactory) -> ReplyFactory:
    """A factory answering with ``stream`` when the request body says ``"stream": true``."""

    def choose(received: Received) -> Reply:
        wants_stream = isinstance(received.json, dict) and received.json.get("stream") is True
        chosen = stream if wants_stream else non_stream
        return chosen if isinstance(chosen, Reply) else chosen(received)

    return choose


def default_not_found(received: Received) -> Reply:
    """404 in the envelope of the dialect the path belongs to."""
    message = f"fake upstream: nothing scripted for {received.method} {received.path}"
    if received.path.startswith("/v1/messages"):
        payload: dict[str, Any] = {
            "type": "error",
            "error": {"type": "not_found_error", "message": message},
            "request_id": "req_fake_not_found",
        }
    else:
        payload = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "unknown_url",
            }
        }
    return json_reply(payload, status=404)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Overloaded" if status == 529 else "Unknown"


class _Thread:
    """Handles shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.url: str | None = None
        self.token: trio.lowlevel.TrioToken | None = None
        self.scope: trio.CancelScope | None = None
        self.error: BaseException | None = None


class FakeServer:
    """A scripted upstream. Thread-safe: script it from any thread."""

    def __init__(
        self,
        *,
        defaults: Mapping[str, Reply | ReplyFactory] | None = None,
        not_found: ReplyFactory = default_not_found,
    ) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Reply | ReplyFactory]] = {}
        self._defaults: dict[str, Reply | ReplyFactory] = dict(defaults or {})
        self._not_found = not_found
        self._received: list[Received] = []
        self._aborted: list[Received] = []
        self._errors: list[BaseException] = []
        self._connections = 0
        self.url: str | None = None

    # -- scripting --------------------------------------------------------

    def enqueue(self, path: str, *replies: Reply | ReplyFactory) -> None:
        """Answer the next requests to ``path`` with ``replies`` (or factories), in order."""
        with self._lock:
            self._queues.setdefault(path, deque()).extend(replies)

    def set_default(self, path: str, reply: Reply | ReplyFactory) -> None:
        """Answer ``path`` with ``reply`` whenever its queue is empty."""
        with self._lock:
            self._defaults[path] = reply

    def pending(self, path: str | None = None) -> int:
        """Queued replies not yet used (for ``path`` or in total)."""
        with self._lock:
            if path is not None:
                return len(self._queues.get(path, ()))
            return sum(len(queue) for queue in self._queues.values())

    def reset(self) -> None:
        """Forget recorded requests, queued replies and errors; defaults stay."""
        with self._lock:
            self._queues.clear()
            self._received.clear()
            self._aborted.clear()
            self._errors.clear()

    # -- recording --------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        """Every request so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._received)

    @property
    def aborted(self) -> list[Received]:
        """Requests whose reply was cut short because the client went away."""
        with self._lock:
            return list(self._aborted)

    @property
    def errors(self) -> list[BaseException]:
        with self._lock:
            return list(self._errors)

    def requests(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def last(self, path: str | None = None) -> Received:
        found = self.received if path is None else self.requests(path)
        if not found:
            raise AssertionError(f"fake upstream received no request for {path or 'any path'}")
        return found[-1]

    def last_json(self, path: str | None = None) -> Any:
        return self.last(path).json

    # -- running ----------------------------------------------------------

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Serve inside the current trio run; yields the base URL."""
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            port = listeners[0].socket.getsockname()[1]
            nursery.start_soon(trio.serve_listeners, self._connection, listeners)
            self.url = f"http://127.0.0.1:{port}"
            try:
                yield self.url
            finally:
                nursery.cancel_scope.cancel()
        self._raise_errors()

    @contextmanager
    def running_in_thread(self) -> Iterator[str]:
        """Serve from a background thread with its own trio run; yields the base URL."""
        handles = _Thread()

        async def main() -> None:
            with trio.CancelScope() as scope:
                async with self.serving() as url:
                    handles.token = trio.lowlevel.current_trio_token()
                    handles.scope = scope
                    handles.url = url
                    handles.ready.set()
                    await trio.sleep_forever()

        def run() -> None:
            try:
                trio.run(main)
            except BaseException as exc:  # handed to the test thread below
                handles.error = exc
            finally:
                handles.ready.set()

        thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        thread.start()
        if not handles.ready.wait(THREAD_TIMEOUT_S) or handles.url is None:
            raise FakeServerError(f"fake upstream did not start: {handles.error!r}")
        try:
            yield handles.url
        finally:
            if handles.token is not None and handles.scope is not None:
                with suppress(trio.RunFinishedError):
                    trio.from_thread.run_sync(handles.scope.cancel, trio_token=handles.token)
            thread.join(THREAD_TIMEOUT_S)
        if handles.error is not None:
            raise handles.error
        self._raise_errors()  # serving() skipped it: it ended by cancellation

    def _raise_errors(self) -> None:
        errors = self.errors
        if errors:
            raise FakeServerError(f"fake upstream failed {len(errors)} time(s)") from errors[0]

    # -- one connection ---------------------------------------------------

    async def _connection(self, stream: trio.SocketStream) -> None:
        with self._lock:
            self._connections += 1
            serial = self._connections
        leftover = b""
        try:
            while True:
                conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
                if leftover:  # h11 reads b"" as end of stream
                    conn.receive_data(leftover)
                received = await self._read_request(conn, stream, serial)
                if received is None:
                    return
                leftover, _ = conn.trailing_data
                reply = self._select(received)
                try:
                    await self._send(stream, reply)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    with self._lock:
                        self._aborted.append(received)
                    return
                wants_close = received.headers.get("connection", "").lower() == "close"
                if reply.close_abruptly or wants_close or _closes(reply):
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            return
        except Exception as exc:  # the fake's own bug: keep serving, re-raise on stop
            with self._lock:
                self._errors.append(exc)
        finally:
            await stream.aclose()

    async def _read_request(
        self, conn: h11.Connection, stream: trio.SocketStream, serial: int
    ) -> Received | None:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(RECEIVE_SIZE))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                return self._record(request, bytes(body), serial)
            else:  # ConnectionClosed (or PAUSED, impossible before EndOfMessage)
                return None

    def _record(self, request: h11.Request, body: bytes, serial: int) -> Received:
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers: dict[str, str] = {}
        for name, value in request.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        received = Received(
            method=request.method.decode("ascii"),
            path=path,
            query=query,
            headers=headers,
            body=body,
            json=parsed,
            connection=serial,
        )
        with self._lock:
            self._received.append(received)
        return received

    def _select(self, received: Received) -> Reply:
        with self._lock:
            queue = self._queues.get(received.path)
            scripted: Reply | ReplyFactory | None = (
                queue.popleft() if queue else self._defaults.get(received.path)
            )
        try:
            if scripted is None:
                return self._not_found(received)
            return scripted if isinstance(scripted, Reply) else scripted(received)
        except Exception as exc:  # the fake's own bug: answer 500, re-raise on stop
            with self._lock:
                self._errors.append(exc)
            text = f"fake upstream error: {exc!r}".encode()
            return Reply(status=500, chunks=(Chunk(data=text),), chunked=False)

    async def _send(self, stream: trio.SocketStream, reply: Reply) -> None:
        if reply.head_delay:
            await trio.sleep(reply.head_delay)
        lines = [f"HTTP/1.1 {reply.status} {_phrase(reply.status)}"]
        lines += [f"{name}: {value}" for name, value in reply.headers]
        if reply.chunked:
            lines.append("transfer-encoding: chunked")
        else:
            length = reply.declared_length
            lines.append(f"content-length: {len(reply.body) if length is None else length}")
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        for chunk in reply.chunks:
            if chunk.delay:
                await trio.sleep(chunk.delay)
            if not chunk.data:
                continue  # an empty HTTP chunk would end the body
            framed = (
                b"%x\r\n%s\r\n" % (len(chunk.data), chunk.data) if reply.chunked else chunk.data
            )
            await stream.send_all(framed)
        if reply.chunked and not reply.close_abruptly:
            await stream.send_all(b"0\r\n\r\n")


def _closes(reply: Reply) -> bool:
    return any(
        name.lower() == "connection" and value.lower() == "close" for name, value in reply.headers
    )
