"""The SSE decoder and the event framer against a plain reading of the spec.

Both have a fast path for streams whose lines end in LF alone (nearly every
upstream) and a general path for CR and CRLF. Whatever the line endings and
however the bytes are sliced, they must give what the reference below gives
reading the whole stream at once: lines split on CRLF, CR or LF (a CR ends a line at once, the
decoder swallows an LF that follows it), each decoded
as UTF-8 with replacement, a leading BOM dropped, fields as the WHATWG
event-stream rules say; frames cut after two line terminators in a row (a
CR at the very end waits: it may be half a CRLF).
"""

from __future__ import annotations

import random
import re

import pytest

from tokligence.wire.sse_frames import EventFramer
from tokligence.wire.sse_read import SseComment, SseDecoder, SseEvent

LINE_END = re.compile(rb"\r\n|\r|\n")
TWO_LINE_ENDS = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")


def reference_decode(stream: bytes) -> list[SseEvent | SseComment]:
    out: list[SseEvent | SseComment] = []
    event: str | None = None
    data: list[str] = []
    last_id: str | None = None
    retry: int | None = None
    start = 0
    ends = LINE_END.finditer(stream)  # a CR ends a line at once; an LF after it is swallowed
    for number, end in enumerate(ends):
        line = stream[start : end.start()].decode("utf-8", errors="replace")
        start = end.end()
        if number == 0 and line.startswith("\ufeff"):
            line = line[1:]
        if not line:
            if data or event is not None:
                out.append(SseEvent(event=event, data="\n".join(data), id=last_id, retry=retry))
            event, data = None, []
        elif line[0] == ":":
            out.append(SseComment(text=line[1:].lstrip(" ")))
        else:
            name, sep, value = line.partition(":")
            if sep and value.startswith(" "):
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                last_id = value
            elif name == "retry" and value.isdigit():
                retry = int(value)
    return out


def reference_frames(stream: bytes) -> list[bytes]:
    frames, start = [], 0
    for match in TWO_LINE_ENDS.finditer(stream):
        if match.end() == len(stream) and stream.endswith(b"\r"):
            break
        frames.append(stream[start : match.end()])
        start = match.end()
    return frames


TEXTS = [
    b"{}",
    b'{"choices":[{"delta":{"content":"hi"}}]}',
    "caf\u00e9 \U0001f600 \u2028 end".encode(),
    b"bad \xff byte",
    b"cut \xe2\x82",
    b"",
    b" leading space",
    b"[DONE]",
]
FIELDS = [b"data: ", b"data:", b"event: ", b": ", b":", b"id: ", b"retry: ", b"retry: x", b"what: "]


def random_stream(rng: random.Random, endings: list[bytes]) -> bytes:
    parts = [b"\xef\xbb\xbf"] if rng.random() < 0.2 else []
    for _ in range(rng.randint(1, 12)):
        for _ in range(rng.randint(1, 3)):
            field = rng.choice(FIELDS)
            value = rng.choice(TEXTS) if field.startswith(b"data") else b"5"
            parts.append(field + value + rng.choice(endings))
        parts.append(rng.choice(endings))
    if rng.random() < 0.3:
        parts.append(b"data: unterminated")
    return b"".join(parts)


def slices(rng: random.Random, stream: bytes) -> list[bytes]:
    out, start = [], 0
    while start < len(stream):
        size = rng.choice([1, 2, 3, 7, 64, len(stream)])
        out.append(stream[start : start + size])
        start += size
    return out


@pytest.mark.parametrize(
    "endings",
    [[b"\n"], [b"\r\n"], [b"\r"], [b"\n", b"\r\n", b"\r"]],
    ids=["lf", "crlf", "cr", "mixed"],
)
def test_decoder_and_framer_match_the_reference_however_sliced(endings: list[bytes]) -> None:
    rng = random.Random(f"sse-{endings!r}")
    for _ in range(300):
        stream = random_stream(rng, endings)
        decoder, framer = SseDecoder(), EventFramer()
        items: list[SseEvent | SseComment] = []
        frames: list[bytes] = []
        for piece in slices(rng, stream):
            items += decoder.feed(piece)
            frames += framer.feed(piece)
        assert items == reference_decode(stream), stream
        assert frames == reference_frames(stream), stream
        assert b"".join(frames) + framer.flush() == stream


def test_a_crlf_split_across_slices_on_the_fast_path() -> None:
    # The first slice has no CR (fast path); the next one starts a CRLF.
    decoder = SseDecoder()
    items = decoder.feed(b"data: a\n") + decoder.feed(b"\r") + decoder.feed(b"\ndata: b\n\n")
    assert items == [SseEvent(event=None, data="a"), SseEvent(event=None, data="b")]
