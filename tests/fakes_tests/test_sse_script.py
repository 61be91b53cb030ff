"""The SSE script renderer: exact bytes, chunk boundaries, gaps and truncation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.sse_script import (
    Comment,
    Framing,
    Gap,
    Item,
    Raw,
    encode,
    sse_reply,
    to_chunks,
)
from tests.fakes.wire import Chunk
from tests.sse_util import events

SMILE_TEXT = "é😀\u2028x"
SCRIPT: list[Item] = [
    ("message_start", {"type": "message_start", "n": 1}),
    ("content_block_delta", {"type": "content_block_delta", "text": SMILE_TEXT}),
    (None, "[DONE]"),
]


def joined(chunks: tuple[Chunk, ...]) -> bytes:
    return b"".join(chunk.data for chunk in chunks)


@pytest.mark.parametrize(
    ("item", "framing", "expected"),
    [
        (("ping", {"type": "ping"}), Framing(), b'event: ping\ndata: {"type":"ping"}\n\n'),
        ((None, {"a": "é"}), Framing(), 'data: {"a":"é"}\n\n'.encode()),
        ((None, "[DONE]"), Framing(), b"data: [DONE]\n\n"),
        ((None, "a\nb"), Framing(), b"data: a\ndata: b\n\n"),
        (("e", {}), Framing(eol="\r\n"), b"event: e\r\ndata: {}\r\n\r\n"),
        (("e", {}), Framing(eol="\r"), b"event: e\rdata: {}\r\r"),
        (("e", {}), Framing(pad_json=3), b"event: e\ndata: {}   \n\n"),
        (("e", {}), Framing(space_after_colon=False), b"event:e\ndata:{}\n\n"),
        (Comment(), Framing(), b": keep-alive\n\n"),
        (Comment(text="", blank_line=False), Framing(eol="\r\n"), b":\r\n"),
        (Raw(data=b"garbage\n"), Framing(eol="\r\n"), b"garbage\n"),
    ],
)
def test_encode_items_exactly(item: Any, framing: Framing, expected: bytes) -> None:
    assert encode(item, framing) == expected


def test_one_chunk_per_event_by_default() -> None:
    chunks = to_chunks(SCRIPT)
    assert [chunk.data for chunk in chunks] == [encode(item) for item in SCRIPT]
    assert all(chunk.delay == 0 for chunk in chunks)


def test_whole_is_one_chunk() -> None:
    chunks = to_chunks(SCRIPT, Framing(split="whole"))
    assert len(chunks) == 1
    assert chunks[0].data == joined(to_chunks(SCRIPT))


@pytest.mark.parametrize("every", [1, 2, 3, 5, 7])
def test_split_every_cuts_inside_characters_and_lines_yet_decodes_the_same(every: int) -> None:
    chunks = to_chunks(SCRIPT, Framing(split_every=every))
    whole = joined(to_chunks(SCRIPT))
    assert joined(chunks) == whole
    assert all(len(chunk.data) <= every for chunk in chunks)
    if every > 1:
        undecodable = 0
        for chunk in chunks:
            try:
                chunk.data.decode()
            except UnicodeDecodeError:
                undecodable += 1
        assert undecodable > 0  # some cut really fell inside a multi-byte character
    names = [name for name, _ in events(whole)]
    assert names == ["message_start", "content_block_delta", None]
    assert events(whole, step=every) == events(whole)
    assert events(whole)[1][1]["text"] == SMILE_TEXT


def test_explicit_offsets() -> None:
    whole = joined(to_chunks(SCRIPT))
    chunks = to_chunks(SCRIPT, Framing(offsets=[3, 10, 10, 0, len(whole), 9999]))
    assert [chunk.data for chunk in chunks] == [whole[:3], whole[3:10], whole[10:]]


def test_gap_forces_a_boundary_and_delays_what_follows() -> None:
    items: list[Item] = [SCRIPT[0], Gap(seconds=3.0), SCRIPT[1], Gap(seconds=1.0), Gap(seconds=0.5)]
    chunks = to_chunks(items, Framing(split="whole"))
    assert [(chunk.data, chunk.delay) for chunk in chunks] == [
        (encode(SCRIPT[0]), 0.0),
        (encode(SCRIPT[1]), 3.0),
        (b"", 1.5),  # silence before the end of the stream
    ]


def test_gap_before_the_first_byte() -> None:
    chunks = to_chunks([Gap(seconds=2.0), SCRIPT[0]])
    assert [(chunk.data, chunk.delay) for chunk in chunks] == [(encode(SCRIPT[0]), 2.0)]


def test_insert_places_items_before_builder_positions() -> None:
    framing = Framing(insert={0: [Comment()], 2: [("ping", {"type": "ping"})], 3: [Raw(data=b"x")]})
    data = joined(to_chunks(SCRIPT, framing))
    assert data.startswith(b": keep-alive\n\nevent: message_start")
    assert [name for name, _ in events(data)] == [
        "message_start",
        "content_block_delta",
        "ping",
        None,
    ]
    assert data.endswith(b"data: [DONE]\n\nx")


def test_insert_outside_the_script_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        to_chunks(SCRIPT, Framing(insert={4: [Comment()]}))


def test_cut_after_keeps_the_first_items_and_their_insertions() -> None:
    framing = Framing(cut_after=1, insert={1: [Gap(seconds=9.0)], 2: [Comment()]})
    reply = sse_reply(SCRIPT, framing)
    assert reply.close_abruptly
    assert [(c.data, c.delay) for c in reply.chunks] == [(encode(SCRIPT[0]), 0.0), (b"", 9.0)]


def test_cut_at_byte_truncates_inside_a_line() -> None:
    whole = joined(to_chunks(SCRIPT))
    reply = sse_reply(SCRIPT, Framing(cut_at_byte=40))
    assert reply.close_abruptly
    assert reply.body == whole[:40]


def test_uncut_reply_is_a_clean_event_stream() -> None:
    reply = sse_reply(SCRIPT, headers=(("x-extra", "1"),))
    assert (reply.status, reply.chunked, reply.close_abruptly) == (200, True, False)
    assert ("content-type", "text/event-stream; charset=utf-8") in reply.headers
    assert ("x-extra", "1") in reply.headers
