"""The RFC 9112 rules the server applies on top of h11 (framing.py)."""

from __future__ import annotations

import pytest

from tokligence.server.framing import (
    coding_error_in_raw_head,
    path_in_raw_head,
    request_path,
    transfer_encoding_error,
    version_error,
)


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/v1/messages?beta=true", "/v1/messages?beta=true"),
        ("http://127.0.0.1:8081/v1/messages", "/v1/messages"),
        ("HTTPS://example.test/health?x=1", "/health?x=1"),
        ("http://example.test", "/"),
        ("http://example.test?x", "/?x"),
        ("v1/messages", None),
        ("*", None),
        ("ftp://example.test/x", None),
    ],
)
def test_request_targets(target: str, path: str | None) -> None:
    assert request_path(target) == path


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b"POST /v1/messages HTTP/1.1\r\nContent-Length: x\r\n", "/v1/messages"),
        (b"\r\nPOST /anthropic/v1/messages?x=1 HTTP/1.1\r\n", "/anthropic/v1/messages"),
        (b"POST http://h/v1/messages HTTP/1.1\r\n", "/v1/messages"),
        (b"", "/"),
        (b"\x00\x01garbage", "/"),
        (b"GET relative HTTP/1.1\r\n", "/"),
    ],
)
def test_the_path_of_a_head_h11_refused(raw: bytes, path: str) -> None:
    assert path_in_raw_head(raw) == path


def test_only_http_1_is_spoken() -> None:
    assert version_error(b"1.1") is None
    assert version_error(b"1.0") is None
    error = version_error(b"2.0")
    assert error is not None and error.status == 505


@pytest.mark.parametrize(
    ("values", "faulty"),
    [
        (["chunked"], False),
        (["gzip, chunked"], False),
        (["gzip"], False),  # unknown coding: h11's 501, not ours
        (["chunked, gzip"], True),
        (["chunked, chunked"], True),
        (["chunked", "chunked"], True),
        (["Chunked ,gzip"], True),
    ],
)
def test_chunked_must_be_last_and_once(values: list[str], faulty: bool) -> None:
    headers = tuple(("transfer-encoding", v) for v in values)
    error = transfer_encoding_error(b"1.1", headers)
    assert (error is not None) is faulty
    raw = b"POST / HTTP/1.1\r\n" + b"".join(
        b"Transfer-Encoding: %s\r\n" % v.encode() for v in values
    )
    assert (coding_error_in_raw_head(raw) is not None) is faulty
    if faulty:
        assert error is not None and error.status == 400


def test_transfer_encoding_in_http_1_0_is_faulty_framing() -> None:
    error = transfer_encoding_error(b"1.0", (("transfer-encoding", "chunked"),))
    assert error is not None and error.status == 400
    assert transfer_encoding_error(b"1.0", (("content-length", "3"),)) is None
