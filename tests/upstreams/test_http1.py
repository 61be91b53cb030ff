"""The upstream HTTP/1.1 client codec, fed the same bytes whole, one byte at a
time and in 7-byte slices: the events must agree, whatever the split."""

from __future__ import annotations

from collections.abc import Iterator

import h11
import pytest

from tokligence.upstreams.http1 import (
    END,
    MAX_HEAD_BYTES,
    NEED_DATA,
    Http1Client,
    LocalProtocolError,
    RemoteProtocolError,
    ResponseHead,
    encode_head,
)


def splits(wire: bytes) -> Iterator[list[bytes]]:
    yield [wire]
    yield [wire[i : i + 1] for i in range(len(wire))]
    yield [wire[i : i + 7] for i in range(0, len(wire), 7)]


def read(
    wire: bytes, pieces: list[bytes], *, method: bytes = b"GET", eof: bool = True
) -> tuple[ResponseHead | None, bytes, bool, bool]:
    """(head, body, ended, reusable) after feeding ``pieces`` (then EOF)."""
    client = Http1Client()
    client.start_request(method)
    head: ResponseHead | None = None
    body = b""
    feed = iter([*pieces, b""] if eof else pieces)
    while True:
        event = client.next_event()
        if event is NEED_DATA:
            try:
                client.receive_data(next(feed))
            except StopIteration:
                return head, body, False, client.reusable
        elif isinstance(event, ResponseHead):
            if event.status_code >= 200:
                head = event
        elif event is END:
            return head, body, True, client.reusable
        else:
            assert isinstance(event, bytes) and event
            body += event


# (name, wire, method, expected body, reusable without EOF)
GOOD = [
    (
        "content-length",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
        b'{"ok": 1} ',
        b"GET",
        b'{"ok": 1} ',
        False,  # 11 bytes declared, 10 sent: incomplete until more arrive
    ),
    (
        "exact length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"POST",
        b"hello",
        True,
    ),
    (
        "chunked with extensions and trailers",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
        b"POST",
        b"hello world",
        True,
    ),
    (
        "chunked, LF-only line ends",
        b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n",
        b"POST",
        b"abc",
        True,
    ),
    (
        "sse in chunks, utf-8 split across chunks",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"8\r\ndata: \xe2\x80\r\n4\r\n\xa8x\n\n\r\n0\r\n\r\n",
        b"POST",
        "data: \u2028x\n\n".encode(),
        True,
    ),
    (
        "no body on 204",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        b"DELETE",
        b"",
        True,
    ),
    (
        "no body on HEAD though a length is declared",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
        b"HEAD",
        b"",
        True,
    ),
    (
        "1xx heads are skipped",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"POST",
        b"ok",
        True,
    ),
    (
        "obsolete folding is unfolded",
        b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 2\r\n\r\nok",
        b"GET",
        b"ok",
        True,
    ),
]


@pytest.mark.parametrize(
    ("name", "wire", "method", "body", "reusable"), GOOD, ids=[g[0] for g in GOOD]
)
def test_good_responses_in_every_split(
    name: str, wire: bytes, method: bytes, body: bytes, reusable: bool
) -> None:
    for pieces in splits(wire):
        head, got, ended, reuse = read(wire, pieces, method=method, eof=False)
        assert head is not None and head.status_code in (200, 204)
        assert got == body
        assert ended is reusable
        assert reuse is reusable


def test_headers_keep_their_case_and_order() -> None:
    wire = b"HTTP/1.1 201 Created\r\nX-A: 1\r\nx-b:2\r\nX-A:  3 \r\nContent-Length: 0\r\n\r\n"
    head, _, _, _ = read(wire, [wire], eof=False)
    headers = [(b"X-A", b"1"), (b"x-b", b"2"), (b"X-A", b"3"), (b"Content-Length", b"0")]
    assert head == ResponseHead(201, b"Created", headers, b"1.1")


def test_close_delimited_body_ends_at_eof_and_is_not_reused() -> None:
    wire = b"HTTP/1.1 200 OK\r\n\r\nall of it"
    for pieces in splits(wire):
        assert read(wire, pieces)[1:] == (b"all of it", True, False)
        # Without EOF the body is not over yet.
        assert read(wire, pieces, eof=False)[2] is False


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        # Chunked with a length too: read by chunks, then never reused.
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n",
        # Bytes after the response answer no request: a broken peer.
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    ],
)
def test_complete_but_not_reusable(wire: bytes) -> None:
    _, body, ended, reusable = read(wire, [wire], eof=False)
    assert body == b"ok" and ended and not reusable


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"", "without sending a response"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "complete response head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "complete message body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "complete message body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", "complete message"),
        (b"HTTP/2 200\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "malformed status line"),
        (b"<html>oops</html>\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\n folded-first: x\r\n\r\n", "continuation line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx", "conflicting content-length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "conflicting"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid content-length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported transfer-encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "longer than"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),
    ],
)
def test_broken_responses_are_protocol_errors(wire: bytes, message: str) -> None:
    for pieces in splits(wire) if wire else [[]]:
        with pytest.raises(RemoteProtocolError, match=message):
            read(wire, pieces)


def test_an_endless_head_is_refused_before_it_fills_memory() -> None:
    client = Http1Client()
    client.start_request(b"GET")
    client.receive_data(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * MAX_HEAD_BYTES)
    with pytest.raises(RemoteProtocolError, match="too large"):
        client.next_event()


def test_a_connection_serves_one_response_after_another() -> None:
    client = Http1Client()
    for text in (b"one", b"two"):
        client.start_request(b"POST")
        client.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" + text)
        assert isinstance(client.next_event(), ResponseHead)
        assert client.next_event() == text
        assert client.next_event() is END
        assert client.reusable
    with pytest.raises(LocalProtocolError):
        client.start_request(b"GET")
        client.start_request(b"GET")  # the first response never came


def test_encoded_request_is_what_h11_parses() -> None:
    head = encode_head(
        b"POST",
        b"/v1/chat/completions?x=1",
        [(b"Host", b"api.example"), (b"Content-Length", b"999"), (b"X-Key", b" v ")],
        4,
    )
    server = h11.Connection(h11.SERVER)
    server.receive_data(head + b"body")
    request = server.next_event()
    assert isinstance(request, h11.Request)
    assert request.method == b"POST" and request.target == b"/v1/chat/completions?x=1"
    # Our own framing replaced the caller's stale length.
    assert list(request.headers) == [
        (b"host", b"api.example"),
        (b"x-key", b"v"),
        (b"content-length", b"4"),
    ]
    assert server.next_event() == h11.Data(data=b"body")
    assert isinstance(server.next_event(), h11.EndOfMessage)


def test_get_without_body_has_no_length_but_an_empty_post_has_one() -> None:
    assert b"Content-Length" not in encode_head(b"GET", b"/", [(b"host", b"h")], 0)
    assert b"Content-Length: 0\r\n" in encode_head(b"POST", b"/", [(b"host", b"h")], 0)


@pytest.mark.parametrize(
    ("method", "target", "headers", "message"),
    [
        (b"POST", b"/", [(b"X-Evil", b"a\r\nInjected: 1"), (b"host", b"h")], "invalid value"),
        (b"POST", b"/", [(b"X-Nul", b"a\x00"), (b"host", b"h")], "invalid value"),
        (b"POST", b"/", [(b"Bad Name", b"v"), (b"host", b"h")], "invalid header name"),
        (b"POST", b"/a b", [(b"host", b"h")], "request line"),
        (b"PO ST", b"/", [(b"host", b"h")], "request line"),
        (b"POST", b"/", [(b"x", b"y")], "Host"),
    ],
)
def test_invalid_requests_are_refused(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], message: str
) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        encode_head(method, target, headers, 0)
