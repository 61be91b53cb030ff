"""A raw HTTP/1.1 exchange over a socket, and a small response reader.

The reader does not trust what it reads: it takes every response the
server writes on the connection (a second one is a smuggled request being
served), notes whether the server closed the connection, and stops at the
first complete response unless the caller wants to see what follows.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

# After the first answer, how long to listen for a second one (or the close).
LINGER = 0.25


@dataclass(kw_only=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


@dataclass(kw_only=True)
class Exchange:
    answers: list[Answer] = field(default_factory=list)
    closed: bool = False  # the server closed the connection
    error: str | None = None  # the socket failed (reset) before an answer
    leftover: bytes = b""  # bytes that are not a complete response


def _parse(data: bytes, method: str) -> tuple[Answer, int] | None:
    """The first complete response in ``data`` and its length; None if
    incomplete (a response delimited by the close counts once closed)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    start = end + 4
    answer = Answer(status=status, headers=headers, body=b"")
    if 100 <= status < 200:
        return _parse(data[start:], method) if len(data) > start else None
    if method == "HEAD" or status in (204, 304):
        return answer, start
    length = answer.header("content-length")
    if length is not None:
        size = int(length)
        if len(data) < start + size:
            return None
        answer.body = data[start : start + size]
        return answer, start + size
    if (answer.header("transfer-encoding") or "").lower() == "chunked":
        body, pos = b"", start
        while True:
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(data[pos:line_end].split(b";")[0], 16)
            pos = line_end + 2
            if size == 0:
                trailer_end = data.find(b"\r\n", pos)
                if trailer_end < 0:
                    return None
                answer.body = body
                return answer, trailer_end + 2
            if len(data) < pos + size + 2:
                return None
            body += data[pos : pos + size]
            pos += size + 2
    return None  # delimited by the close: read_all handles it


def exchange(
    port: int,
    data: bytes,
    *,
    method: str,
    wait: float,
    half_close: bool = False,
    follow: bool = False,
) -> Exchange:
    """Send ``data``, read the answer. With ``follow``, go on reading after
    it for ``LINGER`` seconds (a second answer, or the close)."""
    result = Exchange()
    sock = socket.create_connection(("127.0.0.1", port), timeout=wait)
    try:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:  # the server may refuse before reading it all
            result.error = f"send: {exc}"
        buffer = b""
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError as exc:
                result.error = f"recv: {exc}"
                break
            if not chunk:
                result.closed = True
                break
            buffer += chunk
            while (parsed := _parse(buffer, method)) is not None:
                answer, used = parsed
                result.answers.append(answer)
                buffer = buffer[used:]
            if result.answers and not follow:
                break
            if result.answers and follow:
                deadline = min(deadline, time.monotonic() + LINGER)
        if result.closed and buffer and not result.answers:
            # A response delimited by the close.
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = _parse(buffer[: end + 4] + b"", "HEAD")
                if head is not None:
                    answer = head[0]
                    answer.body = buffer[end + 4 :]
                    result.answers.append(answer)
                    buffer = b""
        result.leftover = buffer
        return result
    finally:
        sock.close()
