"""The hostile-input corpus (``corpus.CASES``) against one live gateway.

Theory of operation
-------------------
One gateway for the module (``rig.py``: a ``GatewayThread`` routing
``gpt*`` to a fake OpenAI and ``claude*`` to a fake Anthropic, both
answering ordinary successes by default, and serving the built-in
``loopback`` model). It runs with a 1 MiB body limit, a 1 s head timeout and a 2 s idle timeout,
so that limits and timeouts are cheap to reach. Each case:

1. gets a serving gateway: one that a previous case crashed or wedged (that
   case failed, loudly) is replaced, so one crash does not hide the rest;
2. scripts the fake upstream to refuse the body, as the real API would,
   when the case is a passthrough the client expects a 400 for;
3. is sent: through ``httpx`` (a new connection per request), or as raw
   bytes over a socket (``wire.py``);
4. is checked: status, the error envelope of the client's own dialect and
   the field it names, ``content-type: application/json``, and the case's
   own flags (``Allow``, no body for HEAD, the connection closed, no
   second answer);
5. when it reached a model endpoint, has its ledger row found by
   ``x-request-id``, recording the status the client saw;
6. is followed by ``GET /health``, which must answer 200 within
   ``HEALTH_TIMEOUT``; a gateway that died or hangs fails the case.

Cases listed in ``corpus.XFAIL`` run under ``xfail(strict=True)``.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .case import RID, Case
from .corpus import CASES, XFAIL, counts, xfail_reason
from .rig import HEALTH_TIMEOUT, SETTINGS, Rig, health_problem, running_rig
from .wire import Answer, Exchange, exchange

MIN_CASES = 400


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with running_rig(tmp_path_factory) as rig:
        yield rig


# ---------------------------------------------------------------- sending


def _request_id() -> str:
    return f"hostile-{secrets.token_hex(8)}"


def _method(case: Case) -> str:
    if case.raw is None:
        return case.method
    return case.raw.lstrip(b"\r\n").split(b" ", 1)[0].decode("latin-1")


def send(rig: Rig, case: Case, request_id: str) -> Exchange:
    method = _method(case)
    if case.raw is not None:
        data = case.raw.replace(RID, request_id.encode())
        follow = case.closes or case.lone or method == "HEAD"
        return exchange(
            rig.port, data, method=method, wait=case.wait, half_close=case.half_close, follow=follow
        )
    headers = {
        "content-type": "application/json",
        "x-request-id": request_id,
    }
    if case.dialect == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
    try:
        response = rig.client.request(
            method, rig.url + case.path, content=case.body, headers=headers, timeout=case.wait
        )
    except httpx.HTTPError as exc:
        return Exchange(error=repr(exc))
    answer = Answer(
        status=response.status_code,
        headers=[(k.lower(), v) for k, v in response.headers.items()],
        body=response.content,
    )
    return Exchange(answers=[answer])


# ---------------------------------------------------------------- checks


def _norm(text: str) -> str:
    return re.sub(r"\[(\d+)\]", r".\1", text)


def envelope_problems(case: Case, payload: Any) -> list[str]:
    """The client's own error envelope, naming the field when it should."""
    error = payload.get("error") if isinstance(payload, dict) else None
    openai_shape = (
        isinstance(error, dict)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("type"), str)
        and "param" in error
        and "code" in error
    )
    anthropic_shape = (
        isinstance(payload, dict)
        and payload.get("type") == "error"
        and isinstance(error, dict)
        and isinstance(error.get("type"), str)
        and isinstance(error.get("message"), str)
    )
    wanted = {"openai": openai_shape, "anthropic": anthropic_shape}
    ok = openai_shape or anthropic_shape if case.dialect == "any" else wanted[case.dialect]
    if not ok:
        return [f"not the {case.dialect} error envelope: {json.dumps(payload)[:300]}"]
    if case.names and isinstance(error, dict):
        said = f"{error.get('message')} {error.get('param')}"
        if _norm(case.names) not in _norm(said):
            return [f"the error does not name {case.names!r}: {said[:300]!r}"]
    return []


def _is_error(payload: dict[str, Any]) -> bool:
    """An error envelope of either dialect (a Response object has
    ``"error": null``)."""
    return isinstance(payload.get("error"), dict) or payload.get("type") == "error"


def answer_problems(case: Case, ex: Exchange) -> list[str]:
    if not ex.answers:
        if case.may_drop:
            return []
        state = "closed" if ex.closed else "left open"
        return [f"no response (connection {state}; {ex.error or 'no socket error'})"]
    first = ex.answers[0]
    method = _method(case)
    problems: list[str] = []
    if first.status not in case.statuses:
        problems.append(
            f"status {first.status}, expected {sorted(case.statuses)}: {first.body[:300]!r}"
        )
    content_type = first.header("content-type") or ""
    if first.status not in (204, 304) and not content_type.startswith("application/json"):
        problems.append(f"content-type {content_type!r}, not application/json")
    if method == "HEAD":
        if ex.leftover or len(ex.answers) > 1:
            problems.append("a HEAD answer carried a body")
    elif first.status not in (204, 304) and content_type.startswith("application/json"):
        try:
            payload = json.loads(first.body)
        except ValueError:
            problems.append(f"the body is not JSON: {first.body[:200]!r}")
        else:
            if first.status >= 400:
                problems += envelope_problems(case, payload)
            elif not isinstance(payload, dict) or _is_error(payload):
                problems.append(f"a {first.status} that is not a result: {first.body[:200]!r}")
    if case.allow and (first.status == 405 or method == "OPTIONS"):
        allow = first.header("allow") or ""
        if case.allow not in [m.strip() for m in allow.split(",")]:
            problems.append(f"Allow is {allow!r}; it must list {case.allow}")
    if case.closes and not ex.closed:
        problems.append("the connection was left open after an ambiguously framed request")
    if case.lone and len(ex.answers) > 1:
        statuses = [a.status for a in ex.answers]
        problems.append(f"{len(ex.answers)} answers on one connection {statuses}: smuggled")
    return problems


def run_case(rig: Rig, case: Case) -> None:
    """Send ``case`` and check everything; one AssertionError lists all
    that is wrong."""
    rig.script(case)
    request_id = _request_id()
    ex = send(rig, case, request_id)
    problems = answer_problems(case, ex)
    if case.ledger and ex.answers:
        first = ex.answers[0]
        row_id = first.header("x-request-id") or request_id
        status = rig.row_status(row_id)
        if status is None:
            problems.append(f"no ledger row for {row_id}")
        elif status != first.status:
            problems.append(f"the ledger row records {status}; the client saw {first.status}")
    trouble = rig.health()
    if trouble is not None:
        rig.suspect = True
        problems.append(f"the gateway no longer serves after this case: {trouble}")
    if problems:
        raise AssertionError(f"{case.id}:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------- the corpus


def _param(case: Case) -> Any:
    reason = xfail_reason(case.id)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_hostile_input(rig: Rig, case: Case) -> None:
    rig.ready()
    run_case(rig, case)


# ---------------------------------------------------------------- the harness itself


def test_the_corpus_is_large_and_its_to_do_list_names_real_cases() -> None:
    assert len(CASES) >= MIN_CASES
    assert set(counts()) == {"http", "json", "types", "sizes"}
    known = {case.id for case in CASES}
    listed = [case_id for ids in XFAIL.values() for case_id in ids]
    assert sorted(set(listed) - known) == []
    assert len(listed) == len(set(listed)), "a case is listed under two reasons"


def test_a_dead_gateway_fails_the_case_loudly(tmp_path_factory: pytest.TempPathFactory) -> None:
    rig = Rig(tmp_path_factory, dict(SETTINGS))
    try:
        benign = next(c for c in CASES if c.id == "chat-surrogate-pair-is-fine-loopback")
        run_case(rig, benign)  # the harness passes a serving gateway
        rig.gateway.__exit__(None, None, None)  # now it is gone
        with pytest.raises(AssertionError, match="no longer serves"):
            run_case(rig, benign)
        assert rig.suspect
        rig.ready()  # and the next case gets a new one
        run_case(rig, benign)
    finally:
        rig.close()


def test_a_wedged_gateway_fails_the_health_check() -> None:
    """A server that accepts and never answers is caught within the timeout."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        accepted: list[socket.socket] = []
        taker = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
        taker.start()
        with httpx.Client() as client:
            started = time.monotonic()
            problem = health_problem(client, f"http://127.0.0.1:{port}")
        assert problem is not None and "timed out" in problem.lower()
        assert time.monotonic() - started < HEALTH_TIMEOUT + 2
        for sock in accepted:
            sock.close()
