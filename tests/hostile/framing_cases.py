"""Raw HTTP/1.1 message framing: ``Content-Length`` and ``Transfer-Encoding``
that are malformed, conflicting or unknown, chunked bodies that lie, and
bodies that stop short.

RFC 9112 §6 is the reference. ``Content-Length`` must be one decimal
number (RFC 9110 §8.6 lets identical repeated values through); a request
with both headers may be refused, or read as chunked and then the
connection closed (§6.1) so that no byte after it is taken for a second
request; chunked must be the final coding, and Transfer-Encoding in an
HTTP/1.0 request means the framing is faulty. A client that stops sending
gets a 408 when the server's timeout runs out; one that goes away may get
no answer at all.
"""

from __future__ import annotations

from .case import BAD, OK, Case
from .http_cases import CHAT, EITHER, MSGS, SMUGGLED, UNKNOWN_CODING, chunked, http, raw_case


def _content_lengths() -> list[Case]:
    out: list[Case] = []
    values: list[tuple[str, list[bytes], frozenset[int]]] = [
        ("letters", [b"Content-Length: abc"], BAD),
        ("negative", [b"Content-Length: -1"], BAD),
        ("decimal", [b"Content-Length: 1.5"], BAD),
        ("plus-sign", [b"Content-Length: +5"], BAD),
        ("hex", [b"Content-Length: 0x10"], BAD),
        ("empty", [b"Content-Length: "], BAD),
        ("inner-space", [b"Content-Length: 1 0"], BAD),
        ("list-differing", [b"Content-Length: 5, 6"], BAD),
        ("two-differing", [b"Content-Length: 5", b"Content-Length: 6"], BAD),
        # RFC 9110 §8.6: identical repeated values may be accepted or refused.
        ("two-equal", [b"Content-Length: @LEN@"] * 2, EITHER),
        ("30-digits", [b"Content-Length: " + b"9" * 30], frozenset({400, 413})),
    ]
    for path, body in (("/v1/chat/completions", CHAT), ("/v1/messages", MSGS)):
        where = "chat" if "chat" in path else "messages"
        for tag, headers, statuses in values:
            lengths = [h.replace(b"@LEN@", b"%d" % len(body)) for h in headers]
            raw = http(b"POST", path.encode(), *lengths, body=body, length=False)
            out.append(raw_case(f"content-length-{tag}-{where}", path, raw, statuses))
    return out


def _transfer_encodings() -> list[Case]:
    out: list[Case] = []
    for path, body in (("/v1/chat/completions", CHAT), ("/v1/messages", MSGS)):
        where = "chat" if "chat" in path else "messages"
        p = path.encode()
        te = b"Transfer-Encoding: chunked"
        rows: list[tuple[str, bytes, frozenset[int], dict[str, object]]] = [
            # Both framings at once, then a second request that must not be served.
            (
                "cl-and-te-smuggle",
                http(
                    b"POST", p, b"Content-Length: 5", te, body=b"0\r\n\r\n" + SMUGGLED, length=False
                ),
                BAD,
                {"closes": True, "lone": True},
            ),
            (
                "te-and-cl-smuggle",
                http(
                    b"POST",
                    p,
                    te,
                    b"Content-Length: %d" % len(body),
                    body=chunked(body) + SMUGGLED,
                    length=False,
                ),
                EITHER,
                {"closes": True, "lone": True},
            ),
            (
                "cl-zero-and-te",
                http(b"POST", p, b"Content-Length: 0", te, body=chunked(body), length=False),
                EITHER,
                {"closes": True, "lone": True},
            ),
            # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
            (
                "te-in-http10",
                http(b"POST", p, te, body=chunked(body), length=False, version=b"HTTP/1.0"),
                BAD,
                {"closes": True, "lone": True},
            ),
            (
                "te-gzip",
                http(b"POST", p, b"Transfer-Encoding: gzip", body=body, length=False),
                UNKNOWN_CODING,
                {},
            ),
            (
                "te-chunked-not-last",
                http(
                    b"POST",
                    p,
                    b"Transfer-Encoding: chunked, gzip",
                    body=chunked(body),
                    length=False,
                ),
                BAD,
                {},
            ),
            (
                "te-gzip-then-chunked",
                http(
                    b"POST",
                    p,
                    b"Transfer-Encoding: gzip, chunked",
                    body=chunked(body),
                    length=False,
                ),
                UNKNOWN_CODING,
                {},
            ),
            (
                "te-identity",
                http(b"POST", p, b"Transfer-Encoding: identity", body=body, length=False),
                UNKNOWN_CODING,
                {},
            ),
            (
                "te-xchunked",
                http(b"POST", p, b"Transfer-Encoding: xchunked", body=chunked(body), length=False),
                UNKNOWN_CODING,
                {},
            ),
            (
                "te-chunked-twice",
                http(
                    b"POST",
                    p,
                    b"Transfer-Encoding: chunked, chunked",
                    body=chunked(chunked(body)),
                    length=False,
                ),
                BAD,
                {},
            ),
            (
                "te-two-headers",
                http(b"POST", p, te, te, body=chunked(chunked(body)), length=False),
                BAD,
                {},
            ),
            (
                "te-space-before-colon",
                http(b"POST", p, b"Transfer-Encoding : chunked", body=chunked(body), length=False),
                BAD,
                {"lone": True},
            ),
            (
                "te-obs-fold",
                http(
                    b"POST", p, b"Transfer-Encoding:\r\n chunked", body=chunked(body), length=False
                ),
                EITHER,
                {"lone": True},
            ),
            # Coding names are case-insensitive and OWS may be a tab: served.
            (
                "te-uppercase",
                http(b"POST", p, b"Transfer-Encoding: CHUNKED", body=chunked(body), length=False),
                OK,
                {"ledger": True},
            ),
            (
                "te-tab",
                http(b"POST", p, b"Transfer-Encoding:\tchunked", body=chunked(body), length=False),
                OK,
                {"ledger": True},
            ),
            (
                "chunk-extension",
                http(
                    b"POST",
                    p,
                    te,
                    body=b"%x;ext=1\r\n%s\r\n0\r\n\r\n" % (len(body), body),
                    length=False,
                ),
                OK,
                {"ledger": True},
            ),
            (
                "chunk-trailer",
                http(
                    b"POST", p, te, body=chunked(body)[:-2] + b"X-Trailer: t\r\n\r\n", length=False
                ),
                OK,
                {"ledger": True},
            ),
            (
                "chunk-size-letters",
                http(b"POST", p, te, body=b"zz\r\n" + body + b"\r\n0\r\n\r\n", length=False),
                BAD,
                {},
            ),
            (
                "chunk-size-negative",
                http(b"POST", p, te, body=b"-5\r\n" + body + b"\r\n0\r\n\r\n", length=False),
                BAD,
                {},
            ),
            (
                "chunk-size-huge",
                http(
                    b"POST", p, te, body=b"f" * 20 + b"\r\n" + body + b"\r\n0\r\n\r\n", length=False
                ),
                frozenset({400, 413}),
                {},
            ),
            (
                "chunk-missing-crlf",
                http(b"POST", p, te, body=b"%x\r\n%sX0\r\n\r\n" % (len(body), body), length=False),
                BAD,
                {},
            ),
        ]
        for tag, raw, statuses, flags in rows:
            out.append(raw_case(f"{tag}-{where}", path, raw, statuses, **flags))
    out.append(
        raw_case(
            "cl-and-te-smuggle-on-get-health",
            "/health",
            http(
                b"GET",
                b"/health",
                b"Content-Length: 5",
                b"Transfer-Encoding: chunked",
                body=b"0\r\n\r\n" + SMUGGLED,
                length=False,
            ),
            EITHER,
            closes=True,
            lone=True,
        )
    )
    return out


def _truncated() -> list[Case]:
    cut = b"Content-Length: 100"
    return [
        raw_case(
            "truncated-body-then-eof",
            "/v1/chat/completions",
            http(b"POST", b"/v1/chat/completions", cut, body=CHAT[:10], length=False),
            BAD,
            half_close=True,
            may_drop=True,
        ),
        raw_case(
            "truncated-chunk-then-eof",
            "/v1/chat/completions",
            http(
                b"POST",
                b"/v1/chat/completions",
                b"Transfer-Encoding: chunked",
                body=b"40\r\n" + CHAT[:10],
                length=False,
            ),
            BAD,
            half_close=True,
            may_drop=True,
        ),
        raw_case(
            "truncated-head-then-eof",
            "/health",
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            BAD,
            half_close=True,
            may_drop=True,
        ),
        # The client stays: the server gives up with a 408 when its timeout runs out.
        raw_case(
            "truncated-body-waits-chat",
            "/v1/chat/completions",
            http(b"POST", b"/v1/chat/completions", cut, body=CHAT[:10], length=False),
            frozenset({408}),
            wait=6.0,
        ),
        raw_case(
            "truncated-body-waits-messages",
            "/v1/messages",
            http(b"POST", b"/v1/messages", cut, body=MSGS[:10], length=False),
            frozenset({408}),
            wait=6.0,
        ),
        raw_case(
            "truncated-head-waits",
            "/health",
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            frozenset({408}),
            wait=6.0,
        ),
    ]


def cases() -> list[Case]:
    return [*_content_lengths(), *_transfer_encodings(), *_truncated()]
