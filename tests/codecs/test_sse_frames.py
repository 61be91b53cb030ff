"""The SSE event framer used by passthrough relays."""

from __future__ import annotations

import pytest

from tokligence.wire.sse_frames import EventFramer

STREAM = (
    b'event: a\ndata: {"x":"\xe2\x80\xa8"}\n\n'
    b"data: two\r\n\r\n"
    b": comment\n\n"
    b"data: three\r\rdata: four\n\n"
)
FRAMES = [
    b'event: a\ndata: {"x":"\xe2\x80\xa8"}\n\n',
    b"data: two\r\n\r\n",
    b": comment\n\n",
    b"data: three\r\r",
    b"data: four\n\n",
]


@pytest.mark.parametrize("step", [None, 1, 2, 3, 7, 11])
def test_frames_are_exact_bytes_whatever_the_slicing(step: int | None) -> None:
    framer = EventFramer()
    frames: list[bytes] = []
    if step is None:
        frames = framer.feed(STREAM)
    else:
        for i in range(0, len(STREAM), step):
            frames += framer.feed(STREAM[i : i + step])
    assert frames == FRAMES
    assert framer.at_boundary and framer.flush() == b""


def test_crlf_split_between_slices_is_one_terminator() -> None:
    framer = EventFramer()
    assert framer.feed(b"data: x\r\n\r") == []
    assert framer.feed(b"\ndata: y\n\n") == [b"data: x\r\n\r\n", b"data: y\n\n"]


def test_cut_stream_leaves_its_tail() -> None:
    framer = EventFramer()
    assert framer.feed(b"data: whole\n\ndata: par") == [b"data: whole\n\n"]
    assert not framer.at_boundary
    assert framer.flush() == b"data: par"
