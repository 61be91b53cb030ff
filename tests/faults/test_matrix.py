"""Every path x every upstream fault x stream and non-stream through one
gateway, against the answers of ``matrix.py`` (issue 12).

Theory of operation
-------------------
One module-scoped gateway (the quick rig's settings: a short upstream read
timeout, one retry after 10 ms, a breaker that never opens) talks to two
scripted upstreams on 127.0.0.1, an OpenAI one (Chat and Responses) and an
Anthropic one, and to two providers on a port where nothing listens
(``dead-gpt*`` and ``dead-claude*`` route there). The scripted upstreams are
:class:`FaultServer`: the ``tests/fakes`` server that also plays a
:class:`~tests.faults.matrix.Wreck` (a reset, a close or garbage instead of
a response) and closes every connection after its reply, so that no attempt
ever meets a stale pooled connection (the transport would resend on one,
and the upstream's count of attempts would vary with test order).

Each case queues its fault for more attempts than any answer allows, sends
the request raw (``post_raw``: the bytes as they came), and compares one set
of observed facts with the expected ones, so a failing case shows every
difference at once: the status, the body's shape (the client's envelope
and its type, the upstream's envelope relayed byte for byte, or the
stream's end), ``retry-after``, the attempts the upstream saw (for the dead
port: the attempts the gateway logged), the failures the upstream's breaker
counted, and the ledger row.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path as FsPath
from typing import Any

import pytest
import trio

from tests.fakes.wire import FakeServer, Reply
from tests.gateway_thread import GatewayThread, isolated_config
from tests.sse_util import events
from tests.translation.conftest import ANTHROPIC_KEY, OPENAI_KEY, Rig
from tests.translation.rigs import RawReply, post_raw, raw_outcome
from tests.translation.test_ledger_paths import row_for
from tokligence.routing.breaker import CircuitBreaker

from .matrix import (
    ANTHROPIC_TYPE_OF_KIND,
    CASES,
    MAX_RETRIES,
    READ_TIMEOUT_S,
    XFAIL,
    Answer,
    Case,
    Wreck,
    xfail_reason,
)

DEAD_PREFIX = "dead-"  # models routed to a port where nothing listens
ATTEMPTS_QUEUED = MAX_RETRIES + 2  # one more than any answer may use
RETRY_LOGGER = "tokligence.call.model_call"


class FaultServer(FakeServer):
    """A fake upstream that can also not answer at all, and never keeps a
    connection alive."""

    async def _send(self, stream: trio.SocketStream, reply: Reply) -> None:
        if isinstance(reply, Wreck):
            if reply.raw:
                await stream.send_all(reply.raw)
            if reply.reset:  # closing with a zero linger sends RST, not FIN
                linger = struct.pack("ii", 1, 0)
                stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            return
        await super()._send(
            stream, replace(reply, headers=(*reply.headers, ("connection", "close")))
        )


@dataclass
class FaultRig:
    rig: Rig

    def fake(self, case: Case) -> FakeServer:
        return case.path.fake(self.rig)

    def provider(self, case: Case) -> str:
        name = "anthropic" if case.path.upstream == "anthropic" else "openai"
        return f"dead{name}" if case.fault.id == "refused" else name

    def breaker(self, case: Case) -> CircuitBreaker:
        # The gateway thread builds its upstreams; the test reads their breakers
        # between requests, when the gateway is idle.
        upstream = self.rig.gateway._built.upstreams[self.provider(case)]
        breaker = upstream.breaker
        assert isinstance(breaker, CircuitBreaker)
        return breaker


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRig]:
    tmp: FsPath = tmp_path_factory.mktemp("faults")
    openai_fake, anthropic_fake, unused = FaultServer(), FaultServer(), FaultServer()
    # Bound but not listening: a connect is refused, and no one else gets the port.
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}"
        with (
            openai_fake.running_in_thread() as openai_url,
            anthropic_fake.running_in_thread() as anthropic_url,
        ):
            env = {
                "TOKLIGENCE_OPENAI_API_KEY": OPENAI_KEY,
                "TOKLIGENCE_OPENAI_BASE_URL": openai_url + "/v1",
                "TOKLIGENCE_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                "TOKLIGENCE_ANTHROPIC_BASE_URL": anthropic_url,
                "TOKLIGENCE_PROVIDER_DEADOPENAI_KIND": "openai",
                "TOKLIGENCE_PROVIDER_DEADOPENAI_RESPONSES": "true",
                "TOKLIGENCE_PROVIDER_DEADOPENAI_BASE_URL": dead_url + "/v1",
                "TOKLIGENCE_PROVIDER_DEADOPENAI_API_KEY": OPENAI_KEY,
                "TOKLIGENCE_PROVIDER_DEADANTHROPIC_KIND": "anthropic",
                "TOKLIGENCE_PROVIDER_DEADANTHROPIC_BASE_URL": dead_url,
                "TOKLIGENCE_PROVIDER_DEADANTHROPIC_API_KEY": ANTHROPIC_KEY,
                "TOKLIGENCE_ROUTES": (
                    f"{DEAD_PREFIX}gpt*=>deadopenai, {DEAD_PREFIX}claude*=>deadanthropic"
                ),
                "TOKLIGENCE_UPSTREAM_READ_TIMEOUT": str(READ_TIMEOUT_S),
                "TOKLIGENCE_UPSTREAM_RESPONSE_TIMEOUT": str(READ_TIMEOUT_S),
                "TOKLIGENCE_UPSTREAM_MAX_RETRIES": str(MAX_RETRIES),
                "TOKLIGENCE_UPSTREAM_RETRY_BACKOFF": "0.01",
                "TOKLIGENCE_BREAKER_THRESHOLD": "1000000",
                "TOKLIGENCE_LEDGER_ASYNC_FLUSH_MS": "5",
            }
            with GatewayThread(isolated_config(tmp, env=env)) as gateway:
                rig = Rig(
                    gateway=gateway, openai=openai_fake, anthropic=anthropic_fake, backup=unused
                )
                yield FaultRig(rig=rig)


# -------------------------------------------------------------- the request


def request_body(case: Case) -> dict[str, Any]:
    path = case.path
    model = DEAD_PREFIX + path.model if case.fault.id == "refused" else path.model
    body: dict[str, Any] = {"model": model}
    if path.client == "responses":
        body["input"] = "hi"
    else:
        body["messages"] = [{"role": "user", "content": "hi"}]
    if path.client == "messages":
        body["max_tokens"] = 64
    if case.stream:
        body["stream"] = True
    return body


class RetryLog(logging.Handler):
    """Counts the gateway's "attempt N failed" warnings for one provider."""

    def __init__(self, provider: str) -> None:
        super().__init__(logging.WARNING)
        self.provider = provider
        self.attempts = 0

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if "attempt" in str(record.msg) and self.provider in args:
            self.attempts += 1


@dataclass
class Seen:
    reply: RawReply
    attempts: int


def play(faults: FaultRig, case: Case) -> Seen:
    rig = faults.rig
    rig.reset()
    breaker = faults.breaker(case)
    breaker.success()  # a fresh run of failures for this case
    scripted = case.reply()
    if scripted is not None:
        faults.fake(case).enqueue(case.path.upstream_path, *[scripted] * ATTEMPTS_QUEUED)
    logger = logging.getLogger(RETRY_LOGGER)
    counter = RetryLog(faults.provider(case))
    level = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.WARNING)
    try:
        reply = post_raw(
            rig,
            case.path.client_path,
            request_body(case),
            headers={"anthropic-version": "2023-06-01"},
        )
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
    attempts = (
        counter.attempts
        if scripted is None
        else len(faults.fake(case).requests(case.path.upstream_path))
    )
    return Seen(reply=reply, attempts=attempts)


# ------------------------------------------------------------ what was seen


def shape(case: Case, reply: RawReply, upstream_body: bytes | None) -> str:
    """The answer's body in a few words."""
    content_type = reply.headers.get("content-type", "")
    client = case.path.client
    if "text/event-stream" in content_type:
        done, failed, text = raw_outcome(client, reply.body)
        seen = events(reply.body)
        errors = [
            (name, data)
            for name, data in seen
            if name in ("error", "response.failed")
            or (client == "chat" and isinstance(data, dict) and "error" in data)
        ]
        ending = "cut" if reply.error is not None else "clean"
        if not failed:
            return f"stream ok done={done} {ending} text={text!r}"
        last = seen[-1][0] if client != "chat" else "error"
        kind = ""
        if client == "messages" and errors and errors[-1][0] == "error":
            kind = " " + str(errors[-1][1]["error"]["type"])
        return (
            f"stream failed{kind} done={done} errors={len(errors)} last={last} {ending}"
            f" text={text!r}"
        )
    if upstream_body is not None and reply.body == upstream_body:
        return "relayed"
    try:
        body = json.loads(reply.body)
    except ValueError:
        return f"not json: {content_type} {reply.body[:60]!r}"
    if not content_type.startswith("application/json"):
        return f"json as {content_type!r}"
    if client == "messages":
        if isinstance(body, dict) and body.get("type") == "error" and "error" in body:
            return f"envelope {body['error'].get('type')}"
    elif (
        isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(body["error"].get("message"), str)
        and isinstance(body["error"].get("type"), str)
    ):
        return "envelope openai"
    return f"json {reply.body[:60]!r}"


def expected_shape(case: Case, answer: Answer) -> str:
    client = case.path.client
    if answer.kind is None:
        done = not case.path.passthrough  # a relay adds no terminator of its own
        return f"stream ok done={done} clean text={answer.text!r}"
    if answer.in_stream:
        kind = f" {ANTHROPIC_TYPE_OF_KIND[answer.kind]}" if client == "messages" else ""
        errors = 2 if client == "responses" else 1  # Responses: error, response.failed
        last = {"chat": "error", "messages": "error", "responses": "response.failed"}[client]
        return (
            f"stream failed{kind} done=False errors={errors} last={last} clean text={answer.text!r}"
        )
    if case.relayed:
        return "relayed"
    if client == "messages":
        return f"envelope {ANTHROPIC_TYPE_OF_KIND[answer.kind]}"
    return "envelope openai"


def facts(case: Case, seen: Seen, row: Any, breaker_failures: int) -> dict[str, Any]:
    scripted = case.reply()
    upstream_body = scripted.body if scripted is not None and case.relayed else None
    return {
        "status": seen.reply.status,
        "shape": shape(case, seen.reply, upstream_body),
        "retry-after": seen.reply.headers.get("retry-after"),
        "attempts": seen.attempts,
        "breaker failures": breaker_failures,
        "ledger": (row.status, row.error_kind, row.stream, row.mode),
    }


def expected_facts(case: Case) -> dict[str, Any]:
    answer = case.answer
    mode = "passthrough" if case.path.passthrough else "translation"
    return {
        "status": answer.status,
        "shape": expected_shape(case, answer),
        "retry-after": answer.retry_after,
        "attempts": answer.attempts,
        "breaker failures": answer.breaker_failures,
        "ledger": (answer.status, answer.kind, case.stream, mode),
    }


# -------------------------------------------------------------------- tests


def param(case: Case) -> Any:
    reason = xfail_reason(case.id)
    marks = [] if reason is None else [pytest.mark.xfail(strict=True, reason=reason)]
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [param(case) for case in CASES])
def test_fault(faults: FaultRig, case: Case) -> None:
    seen = play(faults, case)
    request_id = seen.reply.headers.get("x-request-id")
    assert request_id, "every answer carries the gateway's request id"
    # The row is written when the call is over: its breaker is up to date too.
    row = row_for(faults.rig, request_id)
    breaker_failures = faults.breaker(case).failures
    for secret in (OPENAI_KEY, ANTHROPIC_KEY):
        assert secret.encode() not in seen.reply.body
    assert facts(case, seen, row, breaker_failures) == expected_facts(case)


def test_the_to_do_list_names_only_real_cases_once() -> None:
    """Every xfail pattern matches a case (a stale entry would hide nothing
    but still read as work to do), and no case is under two reasons."""
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    for reason, patterns in XFAIL.items():
        for pattern in patterns:
            assert any(fnmatchcase(i, pattern) for i in ids), (reason, pattern)
    for case_id in ids:
        reasons = [
            reason
            for reason, patterns in XFAIL.items()
            if any(fnmatchcase(case_id, pattern) for pattern in patterns)
        ]
        assert len(reasons) <= 1, (case_id, reasons)
