"""The client side of one HTTP/1.1 connection: requests out, responses in.

Theory of operation
-------------------
The upstream transport needs a small part of HTTP/1.1: write a request whose
body is already in memory, then read one response head and its body as the
bytes arrive. h11 does this with a general state machine that validates every
header of every event on both sides; for a gateway relaying to a few trusted
origins that was a tenth of a request's CPU. This module does only the
client's part, and is strict where it matters:

* **Request**: :func:`encode_head` writes the head with ``Content-Length``
  framing (the body is whole in memory, so never chunked).
  Header names must be tokens and values must not contain CR, LF or NUL: no
  header injection through a client-supplied value.
* **Response head**: status line ``HTTP/1.x NNN reason``; header lines
  ``name: value`` (obsolete line folding is unfolded); LF-only line ends are
  accepted as RFC 9112 allows. A head larger than ``MAX_HEAD_BYTES`` is an
  error. 1xx heads are skipped (``101`` is refused: we never ask to switch).
* **Body framing** (RFC 9112 §6.3): none for ``HEAD``, 204 and 304;
  ``Transfer-Encoding: chunked`` (any other coding is refused, and with it the
  connection is not reused when a ``Content-Length`` came along); else equal
  ``Content-Length`` values; else the body runs to end-of-file. Body bytes
  are handed out as soon as they arrive, within chunks too, so SSE streams
  flow event by event.
* **Reuse**: only after a complete response, framed by length or chunks, on
  HTTP/1.1 without ``Connection: close``, with no bytes left over (bytes
  after a response answer no request: a broken peer).

Events from :meth:`Http1Client.next_event`: a :class:`ResponseHead`, body
``bytes``, ``END`` (the message is complete) or ``NEED_DATA``. Errors raise
:class:`RemoteProtocolError` (the peer broke the protocol) or
:class:`LocalProtocolError` (we were asked to send something invalid). Pure:
no I/O, so the tests feed it bytes in every split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from ..net.sizes import MAX_HEAD_BYTES

MAX_CHUNK_LINE = 4096

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n]*))?")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?")
_FORBIDDEN_IN_VALUE = re.compile(rb"[\r\n\x00]")


class RemoteProtocolError(Exception):
    """The peer sent something that is not HTTP/1.1."""


class LocalProtocolError(Exception):
    """We were asked to send something that is not valid HTTP/1.1."""


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA: Final = _Marker("NEED_DATA")
END: Final = _Marker("END")


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status_code: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    http_version: bytes


Event = ResponseHead | bytes | _Marker
_State = Literal["idle", "head", "length", "chunk_size", "chunk_data", "chunk_crlf", "trailers",
                 "close", "done"]  # fmt: skip


def encode_head(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]], body_length: int
) -> bytes:
    """The request head, framed by ``Content-Length`` (the body is whole)."""
    if not _TOKEN.fullmatch(method) or b" " in target or _FORBIDDEN_IN_VALUE.search(target):
        raise LocalProtocolError("invalid request line")
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    host = False
    for name, value in headers:
        lowered = name.lower()
        if lowered in (b"content-length", b"transfer-encoding"):
            continue  # we frame the body ourselves
        host = host or lowered == b"host"
        if not _TOKEN.fullmatch(name):
            raise LocalProtocolError(f"invalid header name {name[:40]!r}")
        if _FORBIDDEN_IN_VALUE.search(value):
            raise LocalProtocolError(f"invalid value for header {name.decode('ascii')}")
        lines += (name, b": ", value.strip(b" \t"), b"\r\n")
    if not host:
        raise LocalProtocolError("an HTTP/1.1 request needs a Host header")
    if body_length or method not in (b"GET", b"HEAD"):
        lines += (b"Content-Length: ", str(body_length).encode("ascii"), b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class Http1Client:
    """One connection's response reader (see the module docstring)."""

    __slots__ = ("_buffer", "_eof", "_head_request", "_keep_alive", "_remaining", "_state")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._state: _State = "idle"
        self._remaining = 0
        self._keep_alive = True
        self._head_request = False

    def start_request(self, method: bytes) -> None:
        """Expect the response to a request just sent with ``method``."""
        if self._state not in ("idle", "done"):
            raise LocalProtocolError("the previous response is not complete")
        self._state = "head"
        self._head_request = method == b"HEAD"

    def receive_data(self, data: bytes | bytearray) -> None:
        """Bytes from the peer; ``b""`` is end-of-file."""
        if data:
            self._buffer += data
        else:
            self._eof = True

    @property
    def complete(self) -> bool:
        return self._state == "done"

    @property
    def reusable(self) -> bool:
        """May the next request go out on this connection?"""
        return self._state == "done" and self._keep_alive and not self._buffer and not self._eof

    def next_event(self) -> Event:
        state = self._state
        if state == "head":
            return self._head()
        if state == "length":
            return self._length_body()
        if state == "close":
            return self._close_body()
        if state in ("chunk_size", "chunk_data", "chunk_crlf", "trailers"):
            return self._chunked_body()
        if state == "done":
            return END
        raise LocalProtocolError("no request is in flight")

    # ------------------------------------------------------------ the head

    def _head(self) -> Event:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head_end, body_start = end, end + 4
        else:
            found = _HEAD_END.search(buffer)
            if found is None:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise RemoteProtocolError("response head too large")
                if self._eof:
                    raise RemoteProtocolError(
                        "server disconnected without sending a complete response head"
                        if buffer
                        else "server disconnected without sending a response"
                    )
                return NEED_DATA
            head_end, body_start = found.start(), found.end()
        if head_end > MAX_HEAD_BYTES:
            raise RemoteProtocolError("response head too large")
        lines = _LINE_END.split(bytes(buffer[:head_end]))
        del buffer[:body_start]
        status = _STATUS_LINE.fullmatch(lines[0])
        if status is None:
            raise RemoteProtocolError(f"malformed status line {lines[0][:80]!r}")
        minor, code, reason = status.group(1), int(status.group(2)), status.group(3) or b""
        headers = _parse_headers(lines[1:])
        if 100 <= code < 200:
            if code == 101:
                raise RemoteProtocolError("unexpected 101 Switching Protocols")
            return ResponseHead(code, reason, headers, b"1." + minor)
        self._keep_alive = minor == b"1" and not _has_token(headers, b"connection", b"close")
        self._frame(code, headers)
        return ResponseHead(code, reason, headers, b"1." + minor)

    def _frame(self, code: int, headers: list[tuple[bytes, bytes]]) -> None:
        if self._head_request or code in (204, 304):
            self._state = "done"
            return
        codings = _values(headers, b"transfer-encoding")
        lengths = _values(headers, b"content-length")
        if codings:
            if [c.strip().lower() for c in b",".join(codings).split(b",")] != [b"chunked"]:
                raise RemoteProtocolError("unsupported transfer-encoding in the response")
            if lengths:  # a smuggling shape: read this one, then close
                self._keep_alive = False
            self._state = "chunk_size"
            return
        if lengths:
            values = {v.strip() for v in b",".join(lengths).split(b",")}
            if len(values) != 1:
                raise RemoteProtocolError("conflicting content-length values in the response")
            (value,) = values
            if not value.isdigit() or len(value) > 18:
                raise RemoteProtocolError("invalid content-length in the response")
            self._remaining = int(value)
            self._state = "length" if self._remaining else "done"
            return
        self._keep_alive = False
        self._state = "close"

    # ------------------------------------------------------------ bodies

    def _length_body(self) -> Event:
        buffer = self._buffer
        if not buffer:
            if self._eof:
                raise RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            return NEED_DATA
        take = min(len(buffer), self._remaining)
        data = bytes(buffer[:take])
        del buffer[:take]
        self._remaining -= take
        if not self._remaining:
            self._state = "done"
        return data

    def _close_body(self) -> Event:
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        if self._eof:
            self._state = "done"
            return END
        return NEED_DATA

    def _chunked_body(self) -> Event:
        buffer = self._buffer
        while True:
            state = self._state
            if state == "chunk_data":
                if not buffer:
                    return self._need_more()
                take = min(len(buffer), self._remaining)
                data = bytes(buffer[:take])
                del buffer[:take]
                self._remaining -= take
                if not self._remaining:
                    self._state = "chunk_crlf"
                return data
            line = self._line()
            if line is None:
                return self._need_more()
            if state == "chunk_size":
                size = _CHUNK_SIZE.fullmatch(line)
                if size is None:
                    raise RemoteProtocolError(f"malformed chunk size line {line[:40]!r}")
                self._remaining = int(size.group(1), 16)
                self._state = "chunk_data" if self._remaining else "trailers"
            elif state == "chunk_crlf":
                if line:
                    raise RemoteProtocolError("chunk data longer than its declared size")
                self._state = "chunk_size"
            elif not line:  # trailers: an empty line ends the message
                self._state = "done"
                return END
            elif b":" not in line:
                raise RemoteProtocolError("malformed trailer line")

    def _line(self) -> bytes | None:
        buffer = self._buffer
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) > MAX_CHUNK_LINE:
                raise RemoteProtocolError("chunk header line too long")
            return None
        line = bytes(buffer[: end - 1 if end and buffer[end - 1] == 0x0D else end])
        del buffer[: end + 1]
        return line

    def _need_more(self) -> Event:
        if self._eof:
            raise RemoteProtocolError(
                "peer closed connection without sending complete message body (chunked)"
            )
        return NEED_DATA


def _parse_headers(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):  # obsolete line folding: part of the previous value
            if not headers:
                raise RemoteProtocolError("response head starts with a continuation line")
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise RemoteProtocolError(f"malformed header line {line[:80]!r}")
        if b"\x00" in value:
            raise RemoteProtocolError("NUL in a response header value")
        headers.append((name, value.strip(b" \t")))
    return headers


def _values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key.lower() == name]


def _has_token(headers: list[tuple[bytes, bytes]], name: bytes, token: bytes) -> bool:
    return any(
        part.strip().lower() == token
        for value in _values(headers, name)
        for part in value.split(b",")
    )
