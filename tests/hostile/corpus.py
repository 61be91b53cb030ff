"""The hostile-input corpus: every case, and the ones this gateway fails.

``CASES`` gathers the tables of the ``*_cases`` modules (raw HTTP/1.1 and
its framing, JSON, types and sizes); ``test_corpus.py`` sends each to a
live gateway.

``XFAIL`` is the to-do list: reason -> ids of the cases that show it. Each
reason names what is wrong now; the cases run under a strict xfail, so a
fix turns them into XPASS failures until their ids are taken out of here.
Expectations are never weakened to make a case pass.
"""

from __future__ import annotations

from collections import Counter

from . import framing_cases, http_cases, json_cases, size_cases, type_cases
from .case import Case, ids_unique

CASES: tuple[Case, ...] = tuple(
    ids_unique(
        [
            *http_cases.cases(),
            *framing_cases.cases(),
            *json_cases.cases(),
            *type_cases.cases(),
            *size_cases.cases(),
        ]
    )
)

ISSUE = "issue 12"

XFAIL: dict[str, tuple[str, ...]] = {
    # ---- raw HTTP/1.1
    (
        "Transfer-Encoding in an HTTP/1.0 request is honoured (200) instead of refused as "
        "faulty framing (400 and close)"
    ): (
        "http-te-in-http10-chat",
        "http-te-in-http10-messages",
    ),
    (
        "a malformed Transfer-Encoding (chunked not last, chunked twice, two TE headers) is "
        "answered 501 instead of 400 (the -messages cases also get the OpenAI envelope)"
    ): (
        "http-te-chunked-not-last-chat",
        "http-te-chunked-twice-chat",
        "http-te-two-headers-chat",
        "http-te-chunked-not-last-messages",
        "http-te-chunked-twice-messages",
        "http-te-two-headers-messages",
    ),
    (
        "errors found in the request head (bad Content-Length or Transfer-Encoding, bad "
        "header line) are rendered in the OpenAI envelope on Anthropic paths"
    ): (
        "http-content-length-letters-messages",
        "http-content-length-negative-messages",
        "http-content-length-decimal-messages",
        "http-content-length-plus-sign-messages",
        "http-content-length-hex-messages",
        "http-content-length-empty-messages",
        "http-content-length-inner-space-messages",
        "http-content-length-list-differing-messages",
        "http-content-length-two-differing-messages",
        "http-content-length-30-digits-messages",
        "http-te-gzip-messages",
        "http-te-gzip-then-chunked-messages",
        "http-te-identity-messages",
        "http-te-xchunked-messages",
        "http-te-space-before-colon-messages",
    ),
    (
        "a chunk size past the body limit is not refused at once: the server waits for the "
        "chunk and answers 408 when the idle timeout runs out"
    ): (
        "http-chunk-size-huge-chat",
        "http-chunk-size-huge-messages",
    ),
    (
        "obs-text (bytes 0x80-0xFF) in a header the relay forwards (anthropic-beta, "
        "anthropic-version, OpenAI-Beta) crashes the passthrough (the upstream client encodes"
        " headers as ASCII): 500"
    ): ("http-obs-text-messages-anthropic-version-passthrough",),
    ("a request line with HTTP/2.0 is served as HTTP/1.1 instead of 505"): (
        "http-request-line-http2-version",
    ),
    (
        "request targets: the absolute form (which RFC 9112 says a server MUST accept) and a "
        "target without a leading slash (400) both get 404"
    ): (
        "http-request-line-relative-target",
        "http-request-line-absolute-form",
    ),
    ("an empty line before the request line is refused (400) instead of ignored (RFC 9112 §2.2)"): (
        "http-request-line-leading-empty-line",
    ),
    # ---- types and sizes
    (
        "Messages: thinking.budget_tokens is not checked against max_tokens: the "
        "interleaved-thinking beta (anthropic-beta, which Claude Code sends) lets the budget "
        "exceed max_tokens, and the front's parse does not see the request's headers"
    ): ("messages-thinking-budget-tokens-above-max-tokens-loopback",),
}


def xfail_reason(case_id: str) -> str | None:
    for reason, ids in XFAIL.items():
        if case_id in ids:
            return f"{ISSUE}: {reason}"
    return None


def counts() -> Counter[str]:
    return Counter(case.category for case in CASES)
