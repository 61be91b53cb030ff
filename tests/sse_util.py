"""Decode rendered SSE bytes in tests, whole and one byte at a time."""

from __future__ import annotations

import json
from typing import Any

from tokligence.wire.sse_read import SseComment, SseDecoder, SseEvent


def decode(data: bytes, *, step: int | None = None) -> list[SseEvent | SseComment]:
    """Decode ``data`` fed in slices of ``step`` bytes (whole when None)."""
    decoder = SseDecoder()
    out: list[SseEvent | SseComment] = []
    if step is None:
        out.extend(decoder.feed(data))
    else:
        for i in range(0, len(data), step):
            out.extend(decoder.feed(data[i : i + step]))
    out.extend(decoder.close())
    return out


def events(data: bytes, *, step: int | None = None) -> list[tuple[str | None, Any]]:
    """(event name, parsed JSON or raw string) for every event; comments dropped."""
    result: list[tuple[str | None, Any]] = []
    for item in decode(data, step=step):
        if isinstance(item, SseEvent):
            try:
                payload: Any = json.loads(item.data)
            except json.JSONDecodeError:
                payload = item.data
            result.append((item.event, payload))
    return result


def assert_byte_stable(data: bytes) -> list[tuple[str | None, Any]]:
    """Decoding whole and byte by byte must give the same events."""
    whole = events(data)
    assert events(data, step=1) == whole
    assert events(data, step=7) == whole
    return whole
