"""The upstream fault matrix as data: every path x every fault x stream and
non-stream, and the answer each must get (issue 12).

Theory of operation
-------------------
A :class:`Fault` says what a broken upstream does (:attr:`Fault.reply`
builds the reply in the upstream's own dialect; ``None`` means nothing
listens on its port) and what the client must get, as an :class:`Answer`,
for a non-stream and a stream request. :data:`CASES` crosses the faults
with the six client -> upstream paths of the issue (the ``tests/translation``
paths a, b, c, e, f and g); ``test_matrix.py`` plays each case through one
gateway and checks the answer. The expectations are the issue's, not what
the gateway does today: a case that fails now is listed in :data:`XFAIL`
under what is wrong, which makes that dict the fix's to-do list (the marks
are strict, so a fixed case fails as XPASS until its entry is removed).

The answers (the rig allows one retry, so "retried" is two attempts):

==========================  ==========================  ==========================
fault                       before the first byte       after it (streams)
==========================  ==========================  ==========================
can't connect               503, retried                --
reset / EOF / garbage head  502, retried                --
body cut short              502, retried                in-stream error
2xx body not the dialect's  502, retried                --
no terminal event           --                          in-stream error
OpenAI Chat: no ``[DONE]``  --                          accepted (a success)
no head in time             504, not retried            --
silence between bytes       504, not retried            in-stream error
upstream 400, 401, 404      its status, not retried     --
upstream 429                429 + retry-after, retried  --
upstream 500, 503, 529      its status, retried         --
==========================  ==========================  ==========================

An upstream's error status comes in its own envelope (which a passthrough
relays byte for byte) or as an HTML page from a proxy in front of it
(which every path turns into the client's envelope, with the same status).
After the first byte nothing is retried: the client gets its dialect's
in-stream error (Chat: a ``data: {"error": ...}`` line and no ``[DONE]``;
Messages: an ``error`` event and no ``message_stop``; Responses:
``error`` then ``response.failed``) and a clean end of the HTTP body. The
ledger row has the status the client saw (200 once a stream began) and the
fault's error kind. A passthrough gives no false 200: a 2xx whose body is
not what the dialect promises (HTML, nothing, JSON cut off, a stream that
is not SSE) is a 502 like any other broken answer.

Choices where the issue is silent
---------------------------------
* **529 for an OpenAI client stays 529** (Chat or Responses client, Anthropic
  upstream), as it does for an Anthropic client. The OpenAI SDKs retry
  408, 409, 429 and every status >= 500 (Python ``_should_retry``; Node and
  the other Stainless SDKs alike) and raise their ``InternalServerError``
  for any 5xx, so an SDK client loses nothing with 529; the issue's rule
  is "the upstream's own status where it sent one"; and 503 is already the
  gateway's own answer for an upstream it cannot reach (or whose circuit is
  open), so turning 529 into 503 would make "overloaded" and "unreachable"
  look alike to clients and in the ledger. The error kind stays
  ``overloaded`` (OpenAI envelope code ``overloaded``).
* **Can't connect is 503** (``UpstreamUnreachable`` in ``errors.py``): no
  response, broken or not, was ever given; a connection that was accepted
  and then reset, closed or answered with garbage is a broken response (502).
* **The ledger's error kind** is the status's kind (``errors.kind_for_status``:
  502 ``api_error``, 503 ``unavailable``, 504 ``timeout``...), except that
  an Anthropic error envelope's ``type`` names its kind (the codec trusts
  it: Anthropic's 503 envelope says ``api_error``).
* **The circuit breaker** counts a client request that failed by a broken
  answer, a timeout, a refused connection or a 5xx/529 (the last attempt
  too, when a passthrough relays its error envelope), and a stream that
  broke off, ended unfinished or went silent after its first byte (it is
  not retried, but the upstream failed) -- **once per client request**,
  however often it was retried there (the issue: "one client request
  counts at most once"); 4xx and 429 are not counted (the upstream is
  alive), and a success resets the run.
* **429's retry hint**: the fakes send ``retry-after: 1`` and
  ``retry-after-ms: 50`` (OpenAI sends both; the gateway honours the finer
  one), so the retry waits 50 ms, not a second; the client must be told
  ``retry-after: 1``.
* **Stream requests meeting a 2xx that is not SSE** (an HTML page, an empty
  or cut-off JSON body) are the "2xx body not the dialect's" fault: nothing
  has reached the client, so they are a 502 and retried.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from tests.fakes.anthropic import anthropic_error, messages_events
from tests.fakes.openai_chat import chat_events, openai_error
from tests.fakes.openai_responses import responses_events
from tests.fakes.sse_script import Framing, Gap, Item, sse_reply, to_chunks
from tests.fakes.wire import Chunk, Reply, html_error
from tests.translation.rigs import (
    PATH_BY_ID,
    Path,
    Turn,
    UpstreamKind,
    anthropic_scenario,
    chat_scenario,
    responses_scenario,
    upstream_reply,
)

# The rig: how long upstream silence (and a stream's wait for its head) is
# tolerated, and how long a silent fake waits (long past it; the gateway has
# given up by then).
READ_TIMEOUT_S = 0.5
SILENCE_S = 5.0
MAX_RETRIES = 1

TURN = Turn(text=("Hel", "lo"))  # what a healthy upstream would say
TEXT = "Hello"
MARK = "upstream says no"  # in every scripted error message
ALL_UPSTREAMS: tuple[UpstreamKind, ...] = ("anthropic", "chat", "responses")
# The six paths. tests/translation's path d (a Responses client, a
# Chat-only compatible provider) is left out: its upstream side is path b's
# and its client side path c's.
PATHS: tuple[Path, ...] = tuple(
    PATH_BY_ID[name]
    for name in (
        "e_chat_passthrough",
        "a_chat_to_anthropic",
        "f_messages_passthrough",
        "b_messages_to_openai",
        "g_responses_passthrough",
        "c_responses_to_anthropic",
    )
)


# ------------------------------------------------------------------ answers


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What the client must get."""

    status: int  # the HTTP status (200: the stream had begun)
    kind: str | None  # the ledger row's error kind; None: a success
    retried: bool = False  # another attempt is made (before the first byte only)
    in_stream: bool = False  # the dialect's in-stream error, then a clean close
    retry_after: str | None = None  # the client's retry-after header
    breaker: bool = False  # the failed request counts (once) against the upstream's health
    text: str | None = None  # a stream's text as the client saw it

    @property
    def attempts(self) -> int:
        return 1 + MAX_RETRIES if self.retried else 1

    @property
    def breaker_failures(self) -> int:
        """The failures the call adds to the upstream's breaker run: one
        client request counts once, however often it was retried."""
        return 1 if self.breaker else 0


def broken() -> Answer:
    return Answer(status=502, kind="api_error", retried=True, breaker=True)


def timed_out() -> Answer:
    # Not retried: the request's one deadline (upstream_response_timeout for
    # a stream, upstream_read_timeout for a whole answer; both READ_TIMEOUT_S
    # here) is spent, and a timeout is never multiplied by the retry count.
    return Answer(status=504, kind="timeout", breaker=True)


def mid_stream(kind: str, text: str) -> Answer:
    return Answer(status=200, kind=kind, in_stream=True, breaker=True, text=text)


SUCCESS = Answer(status=200, kind=None, text=TEXT)
REFUSED = Answer(status=503, kind="unavailable", retried=True, breaker=True)

# The kinds a client's status stands for (errors.KIND_BY_STATUS, stated here
# as the expectation), and their Anthropic envelope types.
KIND_OF_STATUS = {
    400: "invalid_request",
    401: "authentication",
    404: "not_found",
    429: "rate_limit",
    500: "api_error",
    503: "unavailable",
    529: "overloaded",
}
ANTHROPIC_TYPE_OF_KIND = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "not_found": "not_found_error",
    "rate_limit": "rate_limit_error",
    "api_error": "api_error",
    "overloaded": "overloaded_error",
    "timeout": "timeout_error",
    "unavailable": "api_error",
}
# What each upstream's envelope says for a status.
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",  # Anthropic documents no 503 type; api_error is its catch-all
    529: "overloaded_error",
}
OPENAI_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
KIND_OF_ANTHROPIC_TYPE = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "not_found_error": "not_found",
    "rate_limit_error": "rate_limit",
    "api_error": "api_error",
    "overloaded_error": "overloaded",
}
RETRIED_STATUSES = frozenset({429, 500, 503, 529})
BREAKER_STATUSES = frozenset({500, 503, 529})
RETRY_HEADERS = (("retry-after", "1"), ("retry-after-ms", "50"))


def status_answer(status: int, upstream: UpstreamKind, *, envelope: bool) -> Answer:
    kind = KIND_OF_STATUS[status]
    if envelope and upstream == "anthropic":
        kind = KIND_OF_ANTHROPIC_TYPE[ANTHROPIC_TYPES[status]]
    return Answer(
        status=status,
        kind=kind,
        retried=status in RETRIED_STATUSES,
        retry_after="1" if status == 429 else None,
        breaker=status in BREAKER_STATUSES,
    )


# ------------------------------------------------------------------ replies


@dataclass(frozen=True, kw_only=True)
class Wreck(Reply):
    """Not an HTTP response: ``raw`` bytes (maybe none), then the connection
    ends, with a TCP reset when ``reset``."""

    raw: bytes = b""
    reset: bool = False
    close_abruptly: bool = True


def healthy(upstream: UpstreamKind, stream: bool) -> Reply:
    return upstream_reply(upstream, TURN, stream=stream)


def stream_items(upstream: UpstreamKind, *, finished: bool = True) -> list[Item]:
    """A healthy stream's SSE items (``finished=False``: Chat without its
    finish_reason chunk, usage and ``[DONE]``)."""
    if upstream == "anthropic":
        return messages_events(anthropic_scenario(TURN))
    if upstream == "chat":
        return chat_events(chat_scenario(TURN, abrupt=not finished))
    return responses_events(responses_scenario(TURN))


def stream_of(upstream: UpstreamKind, items: list[Item], *, abrupt: bool = False) -> Reply:
    return replace(sse_reply(items, abrupt=abrupt), headers=healthy(upstream, True).headers)


def text_delta_index(items: list[Item], piece: str) -> int:
    """Where the event carrying the text delta ``piece`` is."""
    needle = json.dumps(piece)
    for index, item in enumerate(items):
        if isinstance(item, tuple) and needle in json.dumps(item[1]):
            return index
    raise AssertionError(f"no delta {piece!r} in the script")


def json_halves(upstream: UpstreamKind) -> tuple[bytes, bytes]:
    body = healthy(upstream, False).body
    return body[: len(body) // 2], body[len(body) // 2 :]


def refused(upstream: UpstreamKind, stream: bool) -> Reply | None:
    return None


def reset(upstream: UpstreamKind, stream: bool) -> Reply:
    return Wreck(reset=True)


def eof_before_head(upstream: UpstreamKind, stream: bool) -> Reply:
    return Wreck()


def garbage_head(upstream: UpstreamKind, stream: bool) -> Reply:
    return Wreck(raw=b"SSH-2.0-OpenSSH_9.6 \x00\xff garbage\r\n\r\n")


def cut_body(upstream: UpstreamKind, stream: bool) -> Reply:
    if stream:
        items = stream_items(upstream)
        return stream_of(upstream, items[: text_delta_index(items, "lo")], abrupt=True)
    head, tail = json_halves(upstream)
    whole = healthy(upstream, False)
    return replace(
        whole, chunks=(Chunk(data=head),), declared_length=len(head + tail), close_abruptly=True
    )


def json_body(body: bytes, content_type: str) -> Reply:
    return Reply(
        status=200,
        headers=(("content-type", content_type),),
        chunks=(Chunk(data=body),) if body else (),
        chunked=False,
    )


def html_200(upstream: UpstreamKind, stream: bool) -> Reply:
    page = "<!DOCTYPE html>\n<html><body><h1>Sign in to continue</h1></body></html>\n"
    return html_error(200, page)


def empty_200(upstream: UpstreamKind, stream: bool) -> Reply:
    return json_body(b"", "application/json")


def truncated_json_200(upstream: UpstreamKind, stream: bool) -> Reply:
    return json_body(json_halves(upstream)[0], "application/json")


def no_terminal(upstream: UpstreamKind, stream: bool) -> Reply:
    """A clean end of the body without the stream's terminal event: Chat
    without finish_reason (and so without [DONE]), Anthropic without
    message_stop, Responses without response.completed."""
    if upstream == "chat":
        return stream_of(upstream, stream_items(upstream, finished=False))
    items = stream_items(upstream)
    return stream_of(upstream, items[:-1])


def no_done(upstream: UpstreamKind, stream: bool) -> Reply:
    """An OpenAI-compatible Chat stream that ends after its finish_reason
    (and usage) chunk without ``data: [DONE]``."""
    items = stream_items(upstream)
    assert items[-1] == (None, "[DONE]")
    return stream_of(upstream, items[:-1])


def no_head(upstream: UpstreamKind, stream: bool) -> Reply:
    return replace(healthy(upstream, stream), head_delay=SILENCE_S)


def silence(upstream: UpstreamKind, stream: bool) -> Reply:
    if stream:
        items = stream_items(upstream)
        gap = Framing(insert={text_delta_index(items, "lo"): [Gap(seconds=SILENCE_S)]})
        return replace(healthy(upstream, True), chunks=to_chunks(items, gap))
    head, tail = json_halves(upstream)
    return replace(
        healthy(upstream, False),
        chunks=(Chunk(data=head), Chunk(data=tail, delay=SILENCE_S)),
    )


def error_status(status: int, *, envelope: bool) -> Callable[[UpstreamKind, bool], Reply]:
    def build(upstream: UpstreamKind, stream: bool) -> Reply:
        extra = RETRY_HEADERS if status == 429 else ()
        if not envelope:
            page = html_error(status)
            return replace(page, headers=(*page.headers, *extra))
        if upstream == "anthropic":
            return anthropic_error(status, ANTHROPIC_TYPES[status], MARK, headers=extra)
        kind, code = OPENAI_TYPES[status]
        return openai_error(status, kind, MARK, code, headers=extra)

    return build


# ------------------------------------------------------------------- faults


@dataclass(frozen=True, kw_only=True)
class Fault:
    id: str
    what: str
    reply: Callable[[UpstreamKind, bool], Reply | None]
    whole: Answer | Callable[[UpstreamKind], Answer] | None  # None: no non-stream form
    streamed: Answer | Callable[[UpstreamKind], Answer] | None  # None: no stream form
    upstreams: tuple[UpstreamKind, ...] = ALL_UPSTREAMS
    envelope: bool = False  # the upstream's own error envelope (relayed as is by passthrough)

    def answer(self, upstream: UpstreamKind, stream: bool) -> Answer | None:
        chosen = self.streamed if stream else self.whole
        return chosen(upstream) if callable(chosen) else chosen


def _status_faults() -> Iterable[Fault]:
    for status in (400, 401, 404, 429, 500, 503, 529):
        upstreams: tuple[UpstreamKind, ...] = ("anthropic",) if status == 529 else ALL_UPSTREAMS
        for envelope in (True, False):

            def answer(
                upstream: UpstreamKind, status: int = status, env: bool = envelope
            ) -> Answer:
                return status_answer(status, upstream, envelope=env)

            body = "its own error envelope" if envelope else "an HTML page"
            yield Fault(
                id=f"http_{status}_{'envelope' if envelope else 'html'}",
                what=f"the upstream answers {status} with {body}",
                reply=error_status(status, envelope=envelope),
                whole=answer,
                streamed=answer,
                upstreams=upstreams,
                envelope=envelope,
            )


FAULTS: tuple[Fault, ...] = (
    Fault(
        id="refused",
        what="nothing listens on the upstream's port",
        reply=refused,
        whole=REFUSED,
        streamed=REFUSED,
    ),
    Fault(
        id="reset",
        what="the connection is reset (TCP RST) before any byte of the response",
        reply=reset,
        whole=broken(),
        streamed=broken(),
    ),
    Fault(
        id="eof_before_head",
        what="the connection is closed before any byte of the response",
        reply=eof_before_head,
        whole=broken(),
        streamed=broken(),
    ),
    Fault(
        id="garbage_head",
        what="the response starts with garbage instead of a status line",
        reply=garbage_head,
        whole=broken(),
        streamed=broken(),
    ),
    Fault(
        id="cut_body",
        what="the body breaks off: short of its Content-Length, or mid-stream",
        reply=cut_body,
        whole=broken(),
        streamed=mid_stream("api_error", "Hel"),
    ),
    Fault(
        id="html_200",
        what="a 2xx whose body is an HTML page",
        reply=html_200,
        whole=broken(),
        streamed=broken(),
    ),
    Fault(
        id="empty_200",
        what="a 2xx JSON response with an empty body",
        reply=empty_200,
        whole=broken(),
        streamed=broken(),
    ),
    Fault(
        id="truncated_json_200",
        what="a complete 2xx response whose JSON body is cut off",
        reply=truncated_json_200,
        whole=broken(),
        streamed=broken(),
    ),
    Fault(
        id="no_terminal",
        what="the stream ends cleanly without its terminal event",
        reply=no_terminal,
        whole=None,
        streamed=mid_stream("api_error", TEXT),
    ),
    Fault(
        id="no_done",
        what="an OpenAI Chat stream ends after its finish_reason without [DONE]",
        reply=no_done,
        whole=None,
        streamed=SUCCESS,
        upstreams=("chat",),
    ),
    Fault(
        id="no_head",
        what="no response head by the request's deadline",
        reply=no_head,
        whole=timed_out(),
        streamed=timed_out(),
    ),
    Fault(
        id="silence",
        what="silence between bytes past the read timeout",
        reply=silence,
        whole=timed_out(),
        streamed=mid_stream("timeout", "Hel"),
    ),
    *_status_faults(),
)
FAULT_BY_ID = {fault.id: fault for fault in FAULTS}


# -------------------------------------------------------------------- cases


@dataclass(frozen=True, kw_only=True)
class Case:
    fault: Fault
    path: Path
    stream: bool

    @property
    def id(self) -> str:
        return f"{self.fault.id}-{'stream' if self.stream else 'whole'}-{self.path.id}"

    @property
    def answer(self) -> Answer:
        answer = self.fault.answer(self.path.upstream, self.stream)
        assert answer is not None
        return answer

    @property
    def relayed(self) -> bool:
        """The upstream's error envelope reaches the client byte for byte."""
        return self.fault.envelope and self.path.passthrough

    def reply(self) -> Reply | None:
        return self.fault.reply(self.path.upstream, self.stream)


CASES: tuple[Case, ...] = tuple(
    Case(fault=fault, path=path, stream=stream)
    for fault in FAULTS
    for stream in (False, True)
    if fault.answer("chat", stream) is not None
    for path in PATHS
    if path.upstream in fault.upstreams
)
CASE_BY_ID = {case.id: case for case in CASES}


# -------------------------------------------------------------------- to do

# What is wrong today, and the cases it breaks (fnmatch patterns over case
# ids; a case is under one reason at most). Each is a strict xfail: a fixed
# case fails as XPASS until its pattern is removed from here.
XFAIL: dict[str, tuple[str, ...]] = {}


def xfail_reason(case_id: str) -> str | None:
    for reason, patterns in XFAIL.items():
        if any(fnmatchcase(case_id, pattern) for pattern in patterns):
            return reason
    return None
