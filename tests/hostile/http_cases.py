"""Raw HTTP/1.1 over a socket: request lines, headers and methods no HTTP
client library would send (message framing is in ``framing_cases``).

RFC 9112 is the reference: a malformed request line or header line is a
400, and so is a second ``Host`` or whitespace before a colon; a head past
the server's limit is a 431 (a long target may be a 414). RFC 9110: a
wrong method is a 405 with ``Allow``; HEAD is answered as GET without the
body. Obs-text (bytes 0x80-0xFF) is legal in a header value, so a request
carrying one is served, or refused with a 400, never failed with a 500.
"""

from __future__ import annotations

from typing import Any

from .case import BAD, NOT_ALLOWED, OK, RID, TOO_LARGE, Case

CHAT = b'{"model":"loopback","messages":[{"role":"user","content":"hi"}]}'
MSGS = b'{"model":"loopback","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
SMUGGLED = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
HEAD_LIMIT = 64 * 1024  # the gateway's head limit; anything well past it is refused

EITHER = frozenset({200, 400})
UNKNOWN_CODING = frozenset({400, 501})  # RFC 9112 §6.1: 501 for a coding it does not know


def http(
    method: bytes,
    target: bytes,
    *headers: bytes,
    body: bytes = b"",
    length: bool = True,
    version: bytes = b"HTTP/1.1",
    host: bool = True,
) -> bytes:
    lines = [method + b" " + target + b" " + version]
    if host:
        lines.append(b"Host: 127.0.0.1")
    lines.append(b"X-Request-Id: " + RID)
    lines.extend(headers)
    if length and (body or method == b"POST"):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def raw_case(id: str, path: str, raw: bytes, statuses: frozenset[int], **flags: Any) -> Case:
    return Case(id=f"http-{id}", category="http", path=path, raw=raw, statuses=statuses, **flags)


def _request_lines() -> list[Case]:
    h = b"Host: 127.0.0.1\r\n"
    return [
        raw_case("request-line-garbage", "", b"GARBAGE\r\n\r\n", BAD),
        raw_case("request-line-method-only", "", b"GET\r\n" + h + b"\r\n", BAD),
        raw_case("request-line-http09", "", b"GET /health\r\n\r\n", frozenset({400, 505})),
        raw_case(
            "request-line-http2-version",
            "/health",
            b"GET /health HTTP/2.0\r\n" + h + b"\r\n",
            frozenset({400, 505}),
        ),
        raw_case(
            "request-line-version-garbage",
            "/health",
            b"GET /health HTTP/1.x\r\n" + h + b"\r\n",
            BAD,
        ),
        raw_case(
            "request-line-extra-token", "/health", b"GET /health HTTP/1.1 x\r\n" + h + b"\r\n", BAD
        ),
        raw_case(
            "request-line-lowercase-version",
            "/health",
            b"GET /health http/1.1\r\n" + h + b"\r\n",
            BAD,
        ),
        raw_case("request-line-nul-in-target", "/health", http(b"GET", b"/hea\x00lth"), BAD),
        raw_case("request-line-space-in-target", "/health", http(b"GET", b"/he alth"), BAD),
        raw_case(
            "request-line-non-ascii-target",
            "/health",
            http(b"GET", b"/h\xe9alth"),
            frozenset({400, 404}),
        ),
        raw_case("request-line-relative-target", "/health", http(b"GET", b"health"), BAD),
        raw_case(
            "request-line-asterisk-on-get", "/health", http(b"GET", b"*"), frozenset({400, 404})
        ),
        # RFC 9112 §3.2.2: a server MUST accept the absolute form.
        raw_case(
            "request-line-absolute-form", "/health", http(b"GET", b"http://127.0.0.1/health"), OK
        ),
        raw_case(
            "request-line-too-long",
            "/health",
            http(b"GET", b"/" + b"a" * (HEAD_LIMIT + 4096)),
            frozenset({414, 431}),
        ),
        # Methods are case-sensitive: "get" is not GET.
        raw_case(
            "request-line-lowercase-method",
            "/health",
            http(b"get", b"/health"),
            frozenset({405, 501}),
            allow="GET",
        ),
        raw_case(
            "request-line-unknown-method",
            "/v1/chat/completions",
            http(b"BREW", b"/v1/chat/completions"),
            frozenset({405, 501}),
            allow="POST",
        ),
        # RFC 9112 §2.2: a recipient MAY accept a bare LF as a line end.
        raw_case(
            "request-line-bare-lf", "/health", b"GET /health HTTP/1.1\nHost: 127.0.0.1\n\n", EITHER
        ),
        # RFC 9112 §2.2: a server SHOULD ignore an empty line before the request line.
        raw_case(
            "request-line-leading-empty-line", "/health", b"\r\n" + http(b"GET", b"/health"), OK
        ),
    ]


def _headers() -> list[Case]:
    get = b"GET /health HTTP/1.1\r\n"
    h = b"Host: 127.0.0.1\r\n"
    many = b"".join(b"X-%d: v\r\n" % i for i in range(20_000))
    some = b"".join(b"a%d:b\r\n" % i for i in range(3_000))
    return [
        raw_case("header-missing-host", "/health", get + b"\r\n", BAD),
        raw_case("header-duplicate-host", "/health", get + h + b"Host: other.test\r\n\r\n", BAD),
        raw_case("header-without-colon", "/health", get + h + b"Broken header\r\n\r\n", BAD),
        raw_case("header-space-before-colon", "/health", get + h + b"X-A : b\r\n\r\n", BAD),
        raw_case("header-empty-name", "/health", get + h + b": b\r\n\r\n", BAD),
        raw_case("header-bad-name-char", "/health", get + h + b"X(A): b\r\n\r\n", BAD),
        raw_case("header-nul-in-value", "/health", get + h + b"X-A: a\x00b\r\n\r\n", BAD),
        raw_case("header-nul-in-name", "/health", get + h + b"X-\x00A: b\r\n\r\n", BAD),
        raw_case("header-bare-cr-in-value", "/health", get + h + b"X-A: a\rb\r\n\r\n", BAD),
        # RFC 9112 §5.2: obs-fold is refused, or read as a space.
        raw_case("header-obs-fold", "/health", get + h + b"X-A: a\r\n b\r\n\r\n", EITHER),
        raw_case(
            "header-oversized-value",
            "/health",
            get + h + b"X-A: " + b"v" * (HEAD_LIMIT + 4096) + b"\r\n\r\n",
            frozenset({431}),
        ),
        raw_case(
            "header-oversized-name",
            "/health",
            get + h + b"X-" + b"n" * (HEAD_LIMIT + 4096) + b": v\r\n\r\n",
            frozenset({431}),
        ),
        raw_case("header-count-20000", "/health", get + h + many + b"\r\n", frozenset({431})),
        # Under the byte limit; a server may still cap the count.
        raw_case(
            "header-count-3000-small", "/health", get + h + some + b"\r\n", frozenset({200, 431})
        ),
        raw_case(
            "header-latin1-value-on-health",
            "/health",
            get + h + b"anthropic-beta: kit-caf\xe9\r\n\r\n",
            OK,
        ),
    ]


def _non_ascii_headers() -> list[Case]:
    """Obs-text in header values of a valid model request: served or refused, never a 500."""
    chat_gpt = CHAT.replace(b"loopback", b"gpt-4o")
    chat_claude = CHAT.replace(b"loopback", b"claude-sonnet-4-5")
    msgs_claude = MSGS.replace(b"loopback", b"claude-sonnet-4-5")
    resp_gpt = b'{"model":"gpt-4o","input":"hi"}'
    count_claude = b'{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}'
    embed_gpt = b'{"model":"text-embedding-3-small","input":"hi"}'
    auth = frozenset({200, 400, 401})
    rows: list[tuple[str, str, bytes, bytes, frozenset[int]]] = [
        (
            "messages-anthropic-beta-loopback",
            "/v1/messages",
            b"anthropic-beta: kit-caf\xe9",
            MSGS,
            EITHER,
        ),
        (
            "messages-anthropic-beta-passthrough",
            "/v1/messages",
            b"anthropic-beta: kit-caf\xe9",
            msgs_claude,
            EITHER,
        ),
        (
            "messages-anthropic-beta-utf8-passthrough",
            "/v1/messages",
            b"anthropic-beta: kit-caf\xc3\xa9",
            msgs_claude,
            EITHER,
        ),
        (
            "messages-anthropic-version-passthrough",
            "/v1/messages",
            b"anthropic-version: 2023-06-01\xe9",
            msgs_claude,
            EITHER,
        ),
        (
            "messages-x-api-key-passthrough",
            "/v1/messages",
            b"x-api-key: sk-caf\xe9",
            msgs_claude,
            auth,
        ),
        (
            "count-tokens-anthropic-beta-passthrough",
            "/v1/messages/count_tokens",
            b"anthropic-beta: kit-caf\xe9",
            count_claude,
            EITHER,
        ),
        (
            "chat-anthropic-beta-translated",
            "/v1/chat/completions",
            b"anthropic-beta: kit-caf\xe9",
            chat_claude,
            EITHER,
        ),
        (
            "chat-authorization-passthrough",
            "/v1/chat/completions",
            b"Authorization: Bearer sk-caf\xe9",
            chat_gpt,
            auth,
        ),
        (
            "chat-user-agent-passthrough",
            "/v1/chat/completions",
            b"User-Agent: caf\xe9/1.0",
            chat_gpt,
            EITHER,
        ),
        (
            "chat-x-trace-id-loopback",
            "/v1/chat/completions",
            b"X-Trace-Id: caf\xe9",
            CHAT,
            EITHER,
        ),
        (
            "chat-content-type-charset-loopback",
            "/v1/chat/completions",
            b"Content-Type: application/json; charset=caf\xe9",
            CHAT,
            frozenset({200, 400, 415}),
        ),
        (
            "responses-openai-beta-passthrough",
            "/v1/responses",
            b"OpenAI-Beta: caf\xe9",
            resp_gpt,
            EITHER,
        ),
        (
            "embeddings-authorization-passthrough",
            "/v1/embeddings",
            b"Authorization: Bearer sk-caf\xe9",
            embed_gpt,
            auth,
        ),
    ]
    return [
        raw_case(
            f"obs-text-{id}",
            path,
            http(b"POST", path.encode(), header, body=body),
            statuses,
            ledger=True,
        )
        for id, path, header, body, statuses in rows
    ]


POST_ROUTES = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/anthropic/v1/messages",
    "/anthropic/v1/messages/count_tokens",
)
# Path -> the methods it allows (a stored response may also be deleted).
GET_ROUTES = {
    "/health": ("GET",),
    "/v1/models": ("GET",),
    "/v1/models/loopback": ("GET",),
    "/v1/responses/resp_unknown": ("DELETE", "GET"),
}


def _methods() -> list[Case]:
    out: list[Case] = []
    for path in POST_ROUTES:
        name = path.strip("/").replace("/", "-")
        for method in ("GET", "HEAD", "PUT", "DELETE", "PATCH"):
            raw = http(method.encode(), path.encode())
            out.append(
                raw_case(f"{method.lower()}-on-{name}", path, raw, NOT_ALLOWED, allow="POST")
            )
        # A CORS preflight may be answered 200/204; either way with Allow.
        raw = http(b"OPTIONS", path.encode())
        out.append(
            raw_case(f"options-on-{name}", path, raw, frozenset({200, 204, 405}), allow="POST")
        )
    for path, allowed in GET_ROUTES.items():
        name = path.strip("/").replace("/", "-")
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            if method in allowed:
                continue
            raw = http(method.encode(), path.encode(), body=b"{}")
            out.append(raw_case(f"{method.lower()}-on-{name}", path, raw, NOT_ALLOWED, allow="GET"))
    # Nothing stored under that id: the same 404 as a GET gets.
    raw = http(b"DELETE", b"/v1/responses/resp_unknown")
    out.append(raw_case("delete-on-unknown-response", "/v1/responses", raw, frozenset({404})))
    out += [
        raw_case("head-on-health", "/health", http(b"HEAD", b"/health"), OK),
        raw_case("head-on-v1-models", "/v1/models", http(b"HEAD", b"/v1/models"), OK),
        raw_case(
            "head-on-v1-models-anthropic-shape",
            "/v1/models",
            http(b"HEAD", b"/v1/models", b"anthropic-version: 2023-06-01"),
            OK,
        ),
        raw_case(
            "head-on-unknown-stored-response",
            "/v1/responses/resp_unknown",
            http(b"HEAD", b"/v1/responses/resp_unknown"),
            frozenset({404}),
        ),
        raw_case("head-on-unknown-path", "/nope", http(b"HEAD", b"/nope"), frozenset({404})),
    ]
    return out


def _get_bodies_and_paths() -> list[Case]:
    return [
        raw_case(
            "get-health-with-body",
            "/health",
            http(b"GET", b"/health", body=b"hello"),
            OK,
            lone=True,
        ),
        raw_case(
            "get-health-body-is-a-request",
            "/health",
            http(b"GET", b"/health", body=SMUGGLED),
            OK,
            lone=True,
        ),
        raw_case(
            "get-models-with-json-body",
            "/v1/models",
            http(b"GET", b"/v1/models", body=CHAT),
            OK,
            lone=True,
        ),
        raw_case(
            "get-health-chunked-body",
            "/health",
            http(
                b"GET",
                b"/health",
                b"Transfer-Encoding: chunked",
                body=chunked(b"hello"),
                length=False,
            ),
            OK,
            lone=True,
        ),
        raw_case(
            "get-health-declares-a-huge-body",
            "/health",
            http(b"GET", b"/health", b"Content-Length: 10000000000", length=False),
            TOO_LARGE,
        ),
        raw_case(
            "post-chat-path-typo",
            "/v1/chat/completion",
            http(b"POST", b"/v1/chat/completion", body=CHAT),
            frozenset({404}),
        ),
        raw_case(
            "post-messages-unknown-subpath",
            "/v1/messages/bogus",
            http(b"POST", b"/v1/messages/bogus", body=MSGS),
            frozenset({404}),
        ),
        raw_case(
            "dot-segments-in-path",
            "/health",
            http(b"GET", b"/v1/../health"),
            frozenset({200, 400, 404}),
        ),
        raw_case(
            "encoded-nul-in-path",
            "/v1/chat/completions",
            http(b"POST", b"/v1/chat/completions%00", body=CHAT),
            frozenset({400, 404}),
        ),
    ]


def cases() -> list[Case]:
    return [
        *_request_lines(),
        *_headers(),
        *_non_ascii_headers(),
        *_methods(),
        *_get_bodies_and_paths(),
    ]
