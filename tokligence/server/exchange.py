"""One HTTP exchange as the application sees it: the parsed request, the
responder that writes the answer, and the access-log record of both.

The responder writes through its connection (``server/http.py``), which owns
h11 and the socket; this module holds no socket state of its own.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol

import h11

from ..canonical import Usage
from ..timing import UpstreamClock, server_timing
from ..wire.text import storable

JSON_HEADERS = [("content-type", "application/json")]
# On every response: a JSON error or an SSE stream is never to be sniffed
# into something a browser would run.
NOSNIFF = (b"x-content-type-options", b"nosniff")
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_access_log = logging.getLogger("tokligence.access")


class Sender(Protocol):
    """What a responder needs of its connection."""

    closing: bool
    disconnected: bool

    def serialize(self, event: h11.Event) -> bytes: ...

    async def write(self, data: bytes) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpRequest:
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]  # names lower-cased
    body: bytes
    request_id: str
    client: str
    http_version: str = "1.1"

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class ClientDisconnected(Exception):
    """The client closed the connection while we were answering."""


@dataclass(kw_only=True, slots=True)
class AccessRecord:
    """What one request came to: handlers fill it in, the access log and the
    ledger read it when the request is over."""

    model: str | None = None  # as the client asked for it
    upstream_model: str | None = None  # after aliases, when an upstream was called
    provider: str | None = None
    mode: str | None = None  # native | passthrough | translation
    dialect: str | None = None  # the client's dialect
    stream: bool = False
    status: int = 0
    error: str | None = None  # an ErrorKind, or "client_disconnect"
    usage: Usage | None = None
    user_id: int | None = None
    api_key_id: int | None = None
    started_at: float = field(default_factory=time.perf_counter)
    first_byte_at: float | None = None
    notes: dict[str, str] = field(default_factory=dict)
    # A model call's: its upstream's time, and the gateway's own share of the
    # time to the response head (set when the head goes out).
    clock: UpstreamClock | None = None
    gateway_ms: float | None = None
    session_id: str | None = None
    counted_input_tokens: int | None = None
    counted_output_tokens: int | None = None
    refusal: str | None = None  # a policy refusal's code (a rate limit's or a budget's)

    def upstream_ms(self) -> float | None:
        seconds = self.clock.seconds() if self.clock is not None else None
        return seconds * 1000 if seconds is not None else None

    def upstream_first_byte_ms(self) -> float | None:
        seconds = self.clock.first_byte_seconds() if self.clock is not None else None
        return seconds * 1000 if seconds is not None else None


class Responder:
    """Writes one response. ``start`` once, ``send`` any number of times,
    ``end`` once; or ``respond`` for a whole body."""

    def __init__(self, conn: Sender, request: HttpRequest) -> None:
        self._conn = conn
        self._request = request
        self.started = False
        self.ended = False
        self.record = AccessRecord()
        # HEAD: the head a GET would get (content-length included), no body.
        self._head_only = request.method == "HEAD"
        # The head waits to go out with the first body bytes: one write (one
        # syscall, one TCP segment) instead of two.
        self._pending = b""

    @property
    def disconnected(self) -> bool:
        return self._conn.disconnected

    async def start(
        self, status: int, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]
    ) -> None:
        if self.started:
            raise RuntimeError("response already started")
        self.started = True
        self.record.status = status
        out = [(k.encode(), v.encode()) for k, v in headers]
        out.append((b"x-request-id", self._request.request_id.encode()))
        record = self.record
        if record.clock is not None:  # a model call: where its time went
            upstream_ms = record.upstream_ms()
            elapsed_ms = (time.perf_counter() - record.started_at) * 1000
            record.gateway_ms = max(elapsed_ms - (upstream_ms or 0.0), 0.0)
            timing = server_timing(record.gateway_ms, upstream_ms, stream=record.stream)
            out.append((b"server-timing", timing.encode()))
        out.append(NOSNIFF)
        if self._conn.closing:
            out.append((b"connection", b"close"))
        self._pending = self._conn.serialize(
            h11.Response(status_code=status, headers=out, reason=reason_phrase(status))
        )

    async def send(self, data: bytes) -> None:
        if data and not self._head_only:
            out = self._pending + self._conn.serialize(h11.Data(data=data))
            self._pending = b""
            if self.record.first_byte_at is None:
                self.record.first_byte_at = time.perf_counter()
            await self._conn.write(out)

    async def flush(self) -> None:
        """Send the head now even without body bytes (e.g. before a long wait)."""
        if self._pending:
            out, self._pending = self._pending, b""
            await self._conn.write(out)

    async def end(self) -> None:
        if not self.ended:
            self.ended = True
            if self.record.first_byte_at is None:
                self.record.first_byte_at = time.perf_counter()
            out = self._pending + self._conn.serialize(h11.EndOfMessage())
            self._pending = b""
            await self._conn.write(out)

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        await self.start(status, [*headers, ("content-length", str(len(body)))])
        await self.send(body)
        await self.end()


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:  # 529 and other non-standard codes
        return b"Site Overloaded" if status == 529 else b""


def request_id_from(headers: tuple[tuple[str, str], ...]) -> str:
    for key, value in headers:
        if key == "x-request-id" and _REQUEST_ID_OK.match(value):
            return value
    # Unique, not secret: the seeded generator (reseeded in forked children)
    # costs no system call, unlike os.urandom.
    return f"req_{random.getrandbits(96):024x}"


def log_access(
    request: HttpRequest, responder: Responder, started_at: float, *, disconnected: bool
) -> None:
    if not _access_log.isEnabledFor(logging.INFO):
        return
    record = responder.record
    duration_ms = (time.perf_counter() - started_at) * 1000
    usage = record.usage
    tokens = (
        f" in={usage.prompt_tokens} out={usage.output_tokens}{'~' if usage.estimated else ''}"
        if usage is not None
        else ""
    )
    upstream_ms = record.upstream_ms()
    fields = {
        "gateway_ms": f"{record.gateway_ms:.2f}" if record.gateway_ms is not None else None,
        "upstream_ms": f"{upstream_ms:.2f}" if upstream_ms is not None else None,
        "session": record.session_id,
        "provider": record.provider,
        "mode": record.mode,
        "upstream": record.upstream_model if record.upstream_model != record.model else None,
        "error": record.error,
        **record.notes,
    }
    notes = "".join(f" {k}={storable(str(v))}" for k, v in fields.items() if v)
    _access_log.info(
        "req=%s %s %s model=%s status=%s dur=%.1fms stream=%s client=%s%s%s%s",
        request.request_id,
        request.method,
        request.path,
        storable(record.model or "-"),
        record.status or "-",
        duration_ms,
        "true" if record.stream else "false",
        request.client,
        tokens,
        notes,
        " disconnected" if disconnected else "",
    )
