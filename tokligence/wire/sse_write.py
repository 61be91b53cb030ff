"""Writing Server-Sent Events.

One event is ``event: NAME`` (optional), ``data: JSON``, blank line. JSON
never contains a raw CR or LF, so one ``data:`` line always suffices.
"""

from __future__ import annotations

from typing import Any

from .json_body import dumps

SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "text/event-stream; charset=utf-8"),
    # no-transform: proxies must neither compress nor re-chunk the stream.
    ("cache-control", "no-cache, no-transform"),
    # nginx and friends buffer responses unless told not to.
    ("x-accel-buffering", "no"),
)

COMMENT_KEEPALIVE = b": keep-alive\n\n"


def event(name: str | None, payload: Any) -> bytes:
    data = dumps(payload)
    if name is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def raw_data(data: bytes) -> bytes:
    """A ``data:`` line with a literal payload such as ``[DONE]``."""
    return b"data: " + data + b"\n\n"
